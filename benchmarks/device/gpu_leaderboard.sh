#!/usr/bin/env bash
# The GPU check as one device call: full-scale synthetic AneRBC-II (1000 parents, 12,000 tiles), the `gpu` preset
# leaderboard (3tier + every CNN of the CPU leaderboard + baselines, 3 seeds, 300 px tiles as the paper, with the
# augmentation, cosine schedule and early stopping of issue 15), loader-vs-memory training throughput, and the
# Grad-CAM gallery with its two sanity numbers (rbc-bench explain), into $OUT. The 3tier ablations of issue 16
# (3tier-outputs, 3tier-rgb, 3tier-end-to-end; seed 0) follow the leaderboard unless ABLATIONS=0.
#
# Prepared for a session that is lent a GPU machine (/work/.library/device/README.md); the device image lacks
# `datasets` (the build writes a Hugging Face card), so carry its wheels. Once, here, in the repo root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .whl datasets==5.2.0 dill==0.4.0 multiprocess==0.70.18
# then run with carry [".whl"] and a 600 s timeout:  bash benchmarks/device/gpu_leaderboard.sh
# EPOCHS and N_IMAGES shrink the run if a first try shows it does not fit (say what was cut in the notes).
set -euo pipefail
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
OUT=${OUT:-bench_out/gpu}
WORK=${WORK:-/tmp/rbc_gpu}
N_IMAGES=${N_IMAGES:-500}   # per class: 1000 AneRBC-I parents, 12,000 tiles
EPOCHS=${EPOCHS:-3}
PRESET=${PRESET:-gpu}       # PRESET=cpu-smoke N_IMAGES=4 EPOCHS=1 FOLDS=0 SPLITS=0.5,0.25,0.25 STEPS=3: a CPU try on a CPU first
mkdir -p "$OUT" "$WORK"
rbc_dataset() { python3 -c 'import sys; from cli import dataset_app; sys.argv[0] = "rbc-dataset"; dataset_app()' "$@"; }
rbc_bench() { python3 -c 'import sys; from cli import bench_app; sys.argv[0] = "rbc-bench"; bench_app()' "$@"; }
stamp() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$OUT/timeline.txt"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" || true
stamp "synth $N_IMAGES per class"
rbc_dataset synth --out "$WORK/synthetic" --n-images "$N_IMAGES" --workers 16 --overwrite -q
stamp "build model config (300x300), HDF5 gzip"
rbc_dataset build "$WORK/synthetic" --out "$WORK/built" --data-configs model --formats hdf5 --folds "${FOLDS:-5}" --split-ratios "${SPLITS:-0.8,0.1,0.1}" \
  --workers 16 --overwrite -q
stamp "train-speed"
rbc_bench train-speed --data "$WORK/built" --preset "$PRESET" --steps "${STEPS:-30}" --repeats 2 --json "$OUT/train_speed_gpu.json"
stamp "run 3tier, $PRESET preset, $EPOCHS epochs"
rbc_bench run 3tier --data "$WORK/built" --preset "$PRESET" --epochs "$EPOCHS" --seeds 0,1,2 \
  --models 3tier,resnet18,mobilenet_v2,efficientnet_b0,densenet121,shufflenet_v2,morphometric,shortcut-background,shortcut-cbc \
  --patience 3 --out "$WORK/runs" -q
if [ "${ABLATIONS:-1}" != 0 ]; then
  stamp "run 3tier ablations, seed 0"
  rbc_bench run 3tier --data "$WORK/built" --preset "$PRESET" --epochs "$EPOCHS" --seeds 0 \
    --models 3tier-outputs,3tier-rgb,3tier-end-to-end --patience 3 --out "$WORK/ablations" -q
fi
stamp "report"
rbc_bench report $(ls -d "$WORK"/runs/3tier/* "$WORK"/ablations/3tier/* 2> /dev/null) --out "$WORK/report" --overwrite
run=$(ls -d "$WORK"/runs/3tier/*/ | head -1)
cp "$WORK/report/leaderboard.md" "$WORK/report/leaderboard.csv" "$run/summary.json" "$run/log.txt" "$run/env.json" "$OUT/"
stamp "explain"
rbc_bench explain "$run" --device auto --out "$WORK/explain" -q
cp "$WORK/explain/explain.json" "$OUT/"
stamp "done"
