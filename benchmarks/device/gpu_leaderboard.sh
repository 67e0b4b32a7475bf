#!/usr/bin/env bash
# The GPU check as one device call, inside a time budget: the CUDA tests, synthetic AneRBC (N_IMAGES per class,
# 12 tiles each), the `gpu` preset leaderboard (300 px tiles as the paper, the augmentation, cosine schedule and early
# stopping of issue 15) in three complete runs -- (A) 3tier with the morphometric and shortcut baselines, (B) the
# CNNs of the CPU leaderboard, (C) the 3tier ablations of issue 16 (seed 0) -- then `rbc-bench report` over the runs
# that finished, loader-vs-memory training throughput and the Grad-CAM gallery (`rbc-bench explain`).
#
# Every step runs under `timeout` with what is left of BUDGET_S (seconds from the start), and a step is skipped when
# less than its MIN_*_S is left, so the results are always packed into $OUT/gpu_results.tar.gz (the runs without
# checkpoints, the report, the logs; the leaderboard and the timeline also as plain files) before the device call's own limit. A run that was cut off stays a
# `.partial` folder and is left out of the report; the timeline says which steps ran, were cut or were skipped.
#
# Prepared for a session that is lent a GPU machine (/work/.library/device/README.md). The device image lacks
# `datasets`, `pydantic` and `defusedxml`: carry their wheels. Once, here, in the repo root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 --platform any -d .whl datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 \
#     pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 defusedxml==0.7.1 \
#     fsspec==2026.9.0 xxhash==4.1.0
# then run with carry [".whl"] and timeout_s 590:  BUDGET_S=540 bash benchmarks/device/gpu_leaderboard.sh
# A CPU try first: PRESET=cpu-smoke N_IMAGES=4 EPOCHS=1 SPLITS=0.5,0.25,0.25 STEPS=3 GPU_TESTS=0 OUT=/tmp/o bash ...
set -uo pipefail
export PYTHONUNBUFFERED=1
START=$(date +%s)
BUDGET_S=${BUDGET_S:-540}
OUT=${OUT:-bench_out/gpu}
WORK=${WORK:-/tmp/rbc_gpu}
N_IMAGES=${N_IMAGES:-100}   # per class: 500 gives AneRBC-I's 1000 parents and 12,000 tiles
EPOCHS=${EPOCHS:-3}
SEEDS=${SEEDS:-0,1,2}
PRESET=${PRESET:-gpu}
mkdir -p "$OUT" "$WORK/logs"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

left() { echo $((BUDGET_S - ($(date +%s) - START))); }
stamp() { echo "$(date -u +%H:%M:%S) +$(($(date +%s) - START))s $*" | tee -a "$OUT/timeline.txt"; }
# step NAME MIN_S COMMAND...: run COMMAND under what is left of the budget (minus 25 s to pack), or skip it.
step() {
  local name=$1 min_s=$2; shift 2
  local budget=$(($(left) - 25))
  if [ "$budget" -lt "$min_s" ]; then stamp "SKIPPED $name (${budget}s left, needs ${min_s}s)"; return 1; fi
  stamp "start $name (${budget}s left)"
  timeout "$budget" bash -c '"$@"' "$name" "$@" > "$WORK/logs/$name.log" 2>&1  # bash -c: the steps are shell functions
  local rc=$?
  stamp "end $name rc=$rc$([ $rc = 124 ] && echo ' CUT OFF by the budget')"
  return $rc
}
rbc_dataset() { python3 -c 'import sys; from cli import dataset_app; sys.argv[0] = "rbc-dataset"; dataset_app()' "$@"; }
rbc_bench() { python3 -c 'import sys; from cli import bench_app; sys.argv[0] = "rbc-bench"; bench_app()' "$@"; }
run_models() {  # run_models NAME SEEDS MODELS
  rbc_bench run 3tier --data "$WORK/built" --preset "$PRESET" --epochs "$EPOCHS" --seeds "$2" --models "$3" \
    --patience 3 --out "$WORK/$1" -q
}
pack() {
  stamp "pack"
  local finished
  finished=$(ls -d "$WORK"/run_*/3tier/[0-9]* 2> /dev/null)
  [ -n "$finished" ] && timeout 60 bash -c '"$@"' report rbc_bench report $finished --out "$WORK/report" --overwrite > "$WORK/logs/report.log" 2>&1
  cp "$WORK/report/leaderboard.md" "$OUT/" 2> /dev/null
  tar czf "$OUT/gpu_results.tar.gz" -C "$WORK" --exclude='checkpoints' --exclude='synthetic' --exclude='built' . 2> /dev/null
}
export -f rbc_dataset rbc_bench run_models
export WORK PRESET EPOCHS
trap pack EXIT

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$WORK/gpu.csv" 2>&1
python3 -c 'import torch, datasets, pydantic; print(torch.__version__, torch.cuda.is_available(), datasets.__version__)' \
  > "$WORK/versions.txt" 2>&1
[ "${GPU_TESTS:-1}" != 0 ] && step gpu_tests 30 python3 -m pytest -q -m gpu -p no:cacheprovider tests/benchmarks/suite/test_gpu_paths.py
step synth 30 rbc_dataset synth --out "$WORK/synthetic" --n-images "$N_IMAGES" --workers 16 --overwrite -q || exit 1
step build 30 rbc_dataset build "$WORK/synthetic" --out "$WORK/built" --data-configs model --formats hdf5 --folds 0 \
  --split-ratios "${SPLITS:-0.7,0.15,0.15}" --workers 16 --overwrite -q || exit 1
step run_A_3tier_baselines 90 run_models run_A "$SEEDS" 3tier,morphometric,shortcut-background,shortcut-cbc
step run_B_cnns 90 run_models run_B "$SEEDS" resnet18,mobilenet_v2,efficientnet_b0,densenet121,shufflenet_v2
[ "${ABLATIONS:-1}" != 0 ] && step run_C_ablations 90 run_models run_C 0 3tier-outputs,3tier-rgb,3tier-end-to-end
step train_speed 60 rbc_bench train-speed --data "$WORK/built" --preset "$PRESET" --steps "${STEPS:-30}" --repeats 2 \
  --json "$WORK/train_speed_gpu.json"
run_a=$(ls -d "$WORK"/run_A/3tier/[0-9]*/ 2> /dev/null | head -1)
[ -n "$run_a" ] && step explain 45 rbc_bench explain "$run_a" --device auto --out "$WORK/explain" -q
stamp "done"
