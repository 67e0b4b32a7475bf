"""``rbc-bench run SUITE --data DIR``: every case of a suite into one run folder, then scored from its predictions.

Order: check the request (suite, models, data, masks) before anything trains; create the run folder; train and
select each case on train/validation; let each case look at the test split once through the guard; score the
prediction files; write metrics, summary and the final folder name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmarks.catalog import get_model
from benchmarks.models.registry import ModelSpec
from benchmarks.suite.classification import (
    SuiteOutcome,
    check_external_test,
    run_classification,
    run_segmentation_suite,
)
from benchmarks.suite.leaky import LEAKY, MARKER, WARNING, leak_counts, protocol_entries
from benchmarks.suite.request import RunRequest, check_request, run_config
from benchmarks.suite.run_folder import SUMMARY_SCHEMA_VERSION, RunFolder, run_environment
from benchmarks.suite.split_data import LeakyData, leaky_partition
from benchmarks.suite.suites import Suite, get_suite
from benchmarks.training.data import SplitView, open_split
from benchmarks.training.distributed import (
    Distributed,
    barrier,
    broadcast_object,
    init_distributed,
    shutdown,
    thread_plan,
    torch_threads,
)
from benchmarks.training.presets import Preset
from rbc_dataset.errors import DataError, UsageError


@dataclass
class RunResult:
    """Where the run went and what it measured."""

    path: Path
    metrics: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)
    is_main: bool = True  # False in the other DDP processes: only the main one reports (prints the leaderboard)


def resolve_models(suite: Suite, preset: Preset, *, models: tuple[str, ...]) -> list[ModelSpec]:
    """Specs of the requested models (unknown names list the valid ones; a model of another task is refused)."""
    specs = [get_model(name) for name in (models or suite.models_for(preset.name))]
    wrong = [f"{spec.name} ({spec.task})" for spec in specs if spec.task != suite.task]
    if wrong:
        raise UsageError(
            f"suite {suite.name!r} runs {suite.task} models; {', '.join(wrong)} are not (see `rbc-bench list`)"
        )
    return specs


def check_masks(specs: list[ModelSpec], view: SplitView) -> None:
    """A model that needs the canonical masks cannot run on a build without them: say so before training."""
    needing = [spec.name for spec in specs if spec.needs_mask]
    if needing and not view.has_masks:
        raise DataError(
            view.built_dir,
            f"a build with canonical masks (needed by {', '.join(needing)})",
            "shards without masks",
            "build from a dataset with masks, or leave these models out with --models",
        )


def _open_views(request: RunRequest) -> tuple[SplitView, SplitView]:
    train = open_split(request.data, split="train", config=request.config, fmt=request.fmt)
    val = open_split(request.data, split="validation", config=request.config, fmt=request.fmt)
    test_shard = (
        request.data / "hdf5" / request.config / "test.h5"
        if request.fmt == "hdf5"
        else next(iter((request.data / "data" / request.config).glob("test-*.parquet")), None)
    )
    if test_shard is None or not test_shard.is_file():
        raise DataError(request.data, "a test split in the build", "none", "build with a test share (--split-ratios)")
    return train, val


def run_suite(request: RunRequest) -> RunResult:
    """Run every case of the suite and score it (see the module docstring for the order)."""
    check_request(request)  # names, data, and a resumed run's saved config, before anything loads
    suite = get_suite(request.suite)
    specs = resolve_models(suite, request.preset, models=request.models)
    train_view, val_view = _open_views(request)
    check_masks(specs, train_view)
    leaky = _leaky_data(request, specs, train_view, val_view)  # None under the honest protocol
    if request.test_data is not None:  # its table only (no pixels), before a run folder exists or anything trains
        external = open_split(request.test_data, split="test", config=request.config, fmt=request.fmt)
        check_external_test(external, [train_view, val_view])
    dist = init_distributed(request.preset.device)
    threads = thread_plan(request.preset, dist.world_size)
    try:
        with torch_threads(threads["torch_threads"]):
            return _run(request, suite, specs=specs, views=(train_view, val_view), dist=dist, leaky=leaky)
    finally:
        shutdown(dist)


def _leaky_data(request: RunRequest, specs: list[ModelSpec], train_view: SplitView, val_view: SplitView):
    """The leaky demonstration's tile-level splits (``--protocol leaky-tiles`` only); tables and indices, no pixels.

    3-TierDCFNet is refused: its severity rule is fitted and applied per split of the build, which a pool of
    all three splits does not have.
    """
    if request.protocol != LEAKY:
        return None
    tiered = [spec.name for spec in specs if spec.family == "tiered"]
    if tiered:
        raise UsageError(
            f"--protocol {LEAKY} runs feature baselines and CNNs; {', '.join(tiered)} are not supported "
            "(leave them out with --models)"
        )
    test_view = open_split(request.data, split="test", config=request.config, fmt=request.fmt)
    return leaky_partition([train_view, val_view, test_view], request.preset)


def _make_folder(request: RunRequest, dist: Distributed) -> RunFolder:
    if dist.is_main:
        marker = MARKER if request.protocol == LEAKY else ""
        run = (
            RunFolder.resume(request.resume)
            if request.resume
            else RunFolder.create(request.out_dir, request.suite, marker=marker)
        )
        paths = (str(run.path), str(run.final))
    else:
        paths = None
    partial, final = broadcast_object(paths, dist)
    return run if dist.is_main else RunFolder(Path(partial), Path(final))


def _write_config(run: RunFolder, request: RunRequest, dist: Distributed, leaky: LeakyData | None) -> None:
    """config.yaml (never rewritten on resume: ``check_request`` has checked that the request matches it)."""
    if request.resume is None:
        split = None if leaky is None else leaky.split
        run.write_yaml("config.yaml", run_config(request) | protocol_entries(request.protocol, split))
    run.write_json(
        "env.json",
        run_environment(str(dist.device), dist.world_size, threads=thread_plan(request.preset, dist.world_size)),
    )


def _run(request, suite, *, specs, views: tuple[SplitView, SplitView], dist: Distributed, leaky) -> RunResult:
    train_view, val_view = views
    run = _make_folder(request, dist)
    logger = _logger(run, dist)
    if dist.is_main:
        _write_config(run, request, dist, leaky)
        logger(f"rbc-bench run {suite.name}: {len(specs)} models, preset {request.preset.name}, device {dist.device}")
        if leaky is not None:
            logger(f"WARNING: {WARNING}")
    if suite.task == "segmentation":
        outcome = run_segmentation_suite(request, specs, train_view=train_view, val_view=val_view, run=run, log=logger)
    else:
        outcome = run_classification(
            request, specs, train_view=train_view, val_view=val_view, run=run, dist=dist, log=logger, leaky=leaky
        )
    barrier(dist)
    if not dist.is_main:
        return RunResult(run.final, pd.DataFrame(), outcome.skipped, is_main=False)
    metrics = _score(run, outcome, request.preset)
    _write_summary(run, request, metrics, outcome, leak=_leak(request, views, leaky))
    logger(f"finished: {len(metrics)} metric rows")
    if leaky is not None:
        logger(f"WARNING: {WARNING}")
    path = run.finish()
    return RunResult(path, metrics, outcome.skipped)


def _logger(run: RunFolder, dist: Distributed):
    from rich.console import Console

    console = Console(stderr=True)

    def log(message: str) -> None:
        if dist.is_main:
            run.log(message)
            console.print(message, markup=False, highlight=False)

    return log


def _score(run: RunFolder, outcome: SuiteOutcome, preset: Preset) -> pd.DataFrame:
    """metrics.csv: classification rows re-scored from the prediction files; segmentation rows as measured."""
    from benchmarks.evaluation.scoring import score_run

    if outcome.segmentation_rows:
        metrics = pd.DataFrame(outcome.segmentation_rows)
    else:
        metrics = score_run(run.path, n_resamples=preset.bootstrap_resamples)
    run.write_csv("metrics.csv", metrics)
    return metrics


def _mean_over_seeds(metrics: pd.DataFrame) -> list[dict]:
    from benchmarks.evaluation.bootstrap import seed_summary

    if metrics.empty or "seed" not in metrics:
        return []
    from benchmarks.evaluation.caveats import labels_mark

    keys = [k for k in ("model", "fold", "split", "task", "head") if k in metrics]
    numeric = [
        c for c in metrics.columns if c not in keys and c != "seed" and pd.api.types.is_numeric_dtype(metrics[c])
    ]
    records = seed_summary(metrics, keys, metrics=numeric).to_dict(orient="records")
    for record in records:
        if "n_rule_labels_mean" in record:  # classification rows: say whose labels they were scored on
            record["labels"] = labels_mark(record["n_rule_labels_mean"], record.get("n_mean"))
    return records


def _leak(request: RunRequest, views: tuple[SplitView, SplitView], leaky: LeakyData | None) -> dict:
    """Test parents (and tiles) with tiles in training or validation: 0 under the honest protocol, by construction."""
    if leaky is not None:
        tables = {"train": leaky.train.table, "validation": leaky.validation.table, "test": leaky.test.table}
    else:  # the test split's table only (parent ids, no pixels), after every case has looked once
        test = open_split(request.test_data or request.data, split="test", config=request.config, fmt=request.fmt)
        tables = {"train": views[0].table, "validation": views[1].table, "test": test.table}
    return leak_counts({name: table["parent_id"] for name, table in tables.items()})


def _write_summary(
    run: RunFolder, request: RunRequest, metrics: pd.DataFrame, outcome: SuiteOutcome, *, leak: dict
) -> None:
    from benchmarks.evaluation.caveats import describe_test_samples, rule_label_warnings, sample_warnings

    warnings = sample_warnings(metrics) + rule_label_warnings(metrics)
    for sentence in warnings:
        run.log(f"warning: {sentence}")  # the terminal shows them under the leaderboard
    summary = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "suite": request.suite,
        "preset": request.preset.name,
        "data": str(Path(request.data).resolve()),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "protocol": {
            "name": request.protocol,
            **({"warning": WARNING} if request.protocol == LEAKY else {}),
            "selection": "validation split only (epochs, hyper-parameters)",
            "test": _test_description(request),
            "leak": leak,
            "test_accesses": outcome.test_accesses,
            "confidence_intervals": "95 % percentile bootstrap over group_id, "
            f"{request.preset.bootstrap_resamples} resamples",
        },
        "severity_labels": outcome.severity_labels,
        "test_split": describe_test_samples(metrics),
        "warnings": warnings,
        "skipped": outcome.skipped,
        "cases": outcome.records,
        "metrics": metrics.to_dict(orient="records"),
        "mean_over_seeds": _mean_over_seeds(metrics),
    }
    run.write_json("summary.json", summary)


def _test_description(request: RunRequest) -> str:
    if request.protocol == LEAKY:
        return "LEAKY: tiles drawn at random from the build's train, validation and test splits (leaky-tiles)"
    if request.test_data is not None:
        return f"external: the test split of {Path(request.test_data).resolve()}"
    return "the training build's own test split"
