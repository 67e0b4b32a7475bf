# Two commands a fresh machine needs (only Python 3.10+ installed):
#   make demo   set up .venv, generate a small synthetic AneRBC set, check it, build shards and load them back,
#               then train and score 3-TierDCFNet against the baselines (rbc-bench run 3tier --preset cpu-smoke)
#   make test   set up .venv, run the test suite (CPU only, offline)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo
DEMO_IMAGES := $(DEMO)/synthetic/AneRBC_dataset/AneRBC-I/Anemic_individuals/Original_images
DEMO_TRUTH := $(DEMO)/synthetic/synthetic_truth/AneRBC-I/Anemic_individuals/instances
DEMO_HEALTHY := $(DEMO)/synthetic/AneRBC_dataset/AneRBC-I/Healthy_individuals/Original_images
REALDATA := ../shared/realdata/AneRBC-I

.PHONY: install demo test lint docs bench clean browser-check pretrained

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rbc-dataset synth --out $(DEMO)/synthetic --n-images 10 --seed 0 --overwrite
	$(BIN)/rbc-dataset ingest $(DEMO)/synthetic --out $(DEMO)/manifest.parquet
	$(BIN)/rbc-dataset validate-masks $(DEMO)/manifest.parquet --out $(DEMO)/reports --fix $(DEMO)/canonical_masks --overwrite
	$(BIN)/rbc-dataset audit $(DEMO)/manifest.parquet --out $(DEMO)/reports
	$(BIN)/rbc-dataset build $(DEMO)/manifest.parquet --out $(DEMO)/dataset --split-ratios 0.6,0.2,0.2 --overwrite
	$(BIN)/rbc-dataset verify $(DEMO)/dataset
	$(BIN)/rbc-dataset show $(DEMO)/dataset --data-config model
	$(BIN)/rbc-dataset annotate propose $(DEMO_IMAGES) --out $(DEMO)/annotate/masks --overwrite
	$(BIN)/rbc-dataset annotate instances $(DEMO_IMAGES) --out $(DEMO)/annotate/instances --overwrite
	$(BIN)/rbc-dataset annotate review $(DEMO_IMAGES) --a $(DEMO_TRUTH) --b $(DEMO)/annotate/instances --out $(DEMO)/annotate/review --overwrite
	$(BIN)/rbc-dataset annotate fit $(DEMO_IMAGES) $(DEMO_TRUTH) --out $(DEMO)/annotate/model --epochs 4 --overwrite
	$(BIN)/rbc-dataset annotate propose $(DEMO_HEALTHY) --model $(DEMO)/annotate/model --out $(DEMO)/annotate/fitted --overwrite
	$(BIN)/rbc-dataset annotate review $(DEMO_HEALTHY) --a $(DEMO)/annotate/fitted --out $(DEMO)/annotate/review_fitted --overwrite
	@if [ -d $(REALDATA) ]; then \
		$(BIN)/rbc-bench realism --real $(REALDATA) --synthetic $(DEMO)/synthetic --no-cnn --json $(DEMO)/realism.json; \
	fi
	$(BIN)/rbc-bench run 3tier --data $(DEMO)/dataset --preset cpu-smoke --out $(DEMO)/runs
	$(BIN)/rbc-bench explain $(DEMO)/runs/3tier

test: $(STAMP)
	$(BIN)/python -m pytest

# After `make demo`: open its HTML reports in headless Chromium (every image must load) and refresh docs/img
browser-check: $(STAMP)
	$(BIN)/python -m tests.helpers.browser $(DEMO)/reports/validate-masks.html $(DEMO)/reports/audit.html --screenshots docs/img
	$(BIN)/python -m tests.helpers.browser $(DEMO)/annotate/review/index.html --screenshots docs/img --height 800

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The cell model `annotate fit` starts from: synthetic smears with full instance truth, then pretraining (CPU).
# --cell-overlap is annotation/learned/pretrain.py's PRETRAIN_CELL_OVERLAP (rehearsal draws its smears alike).
PRETRAIN_SYNTH := .pretrain/synthetic
pretrained: $(STAMP)
	$(BIN)/rbc-dataset synth --out $(PRETRAIN_SYNTH) --n-images 20 --seed 1 --no-tiles --cell-overlap 0.35 --overwrite -q
	$(BIN)/rbc-dataset annotate pretrain $(PRETRAIN_SYNTH) --out annotation/learned/pretrained --overwrite

docs: $(STAMP)
	$(BIN)/python -m rbc_dataset.cli_reference --apps cli:APPS --write docs/CLI.md

bench: $(STAMP)
	$(BIN)/rbc-bench synth-speed --n-images 500 --workers 2 --work-dir bench_out/full --json bench_out/synth_speed.json --keep
	$(BIN)/rbc-bench ingest-speed --data bench_out/full --workers 2 --json bench_out/ingest_speed.json
	$(BIN)/rbc-bench realism --real $(REALDATA) --synthetic bench_out/full --json bench_out/realism.json --max-images 40
	$(BIN)/rbc-dataset ingest bench_out/full --out bench_out/full_manifest.parquet
	$(BIN)/rbc-bench validate-speed --manifest bench_out/full_manifest.parquet --json bench_out/validate_speed.json
	$(BIN)/rbc-bench validate-quality --n-images 25 --defects 0.2 --mask-style anerbc --json bench_out/validate_quality_anerbc.json
	$(BIN)/rbc-bench validate-quality --n-images 25 --defects 0.2 --mask-style binary --seed 1 --json bench_out/validate_quality_binary.json
	$(BIN)/rbc-bench build-speed --data bench_out/full --work-dir bench_out/builds --fast-codec --json bench_out/build_speed.json
	$(BIN)/rbc-bench loader-speed --data bench_out/builds/build_gzip --fast-codec-dir bench_out/builds/build_lz4 --repeats 2 --json bench_out/loader_speed_tiles.json
	$(BIN)/rbc-bench annotate-segment --json bench_out/annotate_segment.json
	$(BIN)/rbc-bench annotate-morph --json bench_out/annotate_morph.json
	$(BIN)/rbc-bench annotate-fit --json bench_out/annotate_fit.json
	$(BIN)/rbc-dataset build bench_out/full_manifest.parquet --out bench_out/builds/model_lz4 --data-configs model --formats hdf5 --hdf5-codec blosc-lz4 --overwrite
	$(BIN)/rbc-bench train-speed --data bench_out/builds/model_lz4 --steps 25 --repeats 3 --loader-workers 1 --torch-threads 1 --json bench_out/train_speed.json

clean:
	rm -rf $(VENV) $(DEMO) bench_out runs .pretrain .pytest_cache .ruff_cache *.egg-info
