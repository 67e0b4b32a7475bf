"""External test of a finished run: its trained torch models scored on another build's test split.

Paired builds (``rbc-dataset synth --shortcut colour`` and the same synth without it, built with the same split
seed) share their parents and splits, and differ only in the planted shortcut. A model trained on the shortcut
build and tested on the clean one loses what it took from the shortcut: **shortcut reliance** = internal test
balanced accuracy - external test balanced accuracy.

The run folder is only read. The external folder gets the run's files in their formats (predictions/,
metrics.csv, config.yaml, env.json, summary.json), so ``rbc-bench score`` and ``rbc-bench report`` read it as a
run; it is written under a hidden partial name and renamed when complete.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd

from benchmarks.explain.run_reader import CHECKPOINT, RUN_FIX, RunInfo, TorchCase, read_run
from benchmarks.suite.run_folder import PARTIAL_SUFFIX, SUMMARY_SCHEMA_VERSION, RunFolder, case_name
from rbc_dataset.errors import DataError, UsageError

TORCH_FAMILIES = ("tiered", "cnn")
SKIP_FEATURES = "a feature baseline: runs do not save fitted scikit-learn models, so there is nothing to re-apply"
MODULE2_NOTE = (
    "module2 and cascade rows only where the test build gives the severity; the severity rule is not re-applied"
)


def external_test(
    run_dir: str | Path,
    *,
    test_data: str | Path,
    out: str | Path | None = None,
    data_config: str | None = None,
    fmt: str | None = None,
    models: tuple[str, ...] | None = None,
    device: str = "cpu",
    show_progress: bool = True,
) -> Path:
    """Score a finished run's torch models on the test split of ``test_data``; returns the written folder.

    Args:
        run_dir: a finished ``rbc-bench run`` folder (or its suite folder: the newest finished run).
        test_data: the build whose test split is scored (same classes; no parent in the run's train/validation).
        out: the folder to write; default ``<suite folder>/external/<run name>_on_<build folder name>``.
        data_config: dataset config of ``test_data`` to read (default: the run's).
        fmt: shard format of ``test_data`` to read (default: the run's).
        models: torch models of the run to score (default: all it trained).
        device: ``cpu``, ``cuda`` or ``auto``.
        show_progress: progress bars while tiles decode and models predict.

    Raises:
        DataError: not a finished run; a test build that shares parents with the run's training or validation
            split, or has other class names; a run without checkpoints; the run's training build moved or changed.
        UsageError: the output folder exists or lies inside an input; a model the run did not train.
    """
    from benchmarks.training.data import check_built_dir

    run = read_run(run_dir)
    build = check_built_dir(test_data)
    final = Path(out) if out is not None else run.path.parent / "external" / f"{run.path.name}_on_{build.name}"
    _check_output(final, inputs=[run.path, build, Path(run.config["data"])])
    cases, skipped = _cases(run, models=models or ())
    config, fmt = data_config or run.config.get("data_config", "model"), fmt or run.config.get("format", "hdf5")
    test_view = _checked_test_view(run, build, config=config, fmt=fmt)
    folder = _new_folder(final)
    folder.log(f"external test of {run.path} on the test split of {build.resolve()}")
    _predict_cases(run, cases, test_view=test_view, folder=folder, device=device, show_progress=show_progress)
    metrics = _score(folder, run)
    folder.write_yaml("config.yaml", _config(run, build, config=config, fmt=fmt))
    folder.write_json("env.json", _environment(device))
    summary = _summary(run, build, metrics=metrics, folder=folder, cases=cases, skipped=skipped)
    folder.write_json("summary.json", summary)
    folder.log("finished")
    return folder.finish()


def _check_output(final: Path, *, inputs: list[Path]) -> None:
    from rbc_dataset.fileio import check_output_outside

    check_output_outside(final, inputs)  # never inside the run or a build: inputs are never modified
    if final.exists():
        raise UsageError(f"output folder {final} already exists; pass another --out (results are never overwritten)")


def _new_folder(final: Path) -> RunFolder:
    """A RunFolder at ``.<name>.partial`` beside ``final``; a stale partial of a stopped attempt is replaced."""
    partial = final.parent / f".{final.name}{PARTIAL_SUFFIX}"
    if partial.exists():
        shutil.rmtree(partial)  # our own unfinished output: never a result, and no resume for a prediction pass
    partial.parent.mkdir(parents=True, exist_ok=True)
    return RunFolder(partial, final)


def _cases(run: RunInfo, *, models: tuple[str, ...]) -> tuple[list[TorchCase], dict[str, str]]:
    """Every checkpoint of the chosen torch models; feature baselines are skipped (no fitted model is saved)."""
    from benchmarks.catalog import get_model

    trained = list(run.config.get("models", []))
    unknown = [name for name in models if name not in trained]
    if unknown:
        raise UsageError(f"the run trained no model {', '.join(unknown)}; valid choices: {', '.join(trained)}")
    chosen = list(models or trained)
    torch_models = [name for name in chosen if get_model(name).family in TORCH_FAMILIES]
    skipped = {name: SKIP_FEATURES for name in chosen if name not in torch_models}
    if not torch_models:
        raise DataError(
            run.path / "config.yaml",
            "a run with at least one torch model (3tier or a CNN): only their weights are saved",
            f"models {', '.join(chosen) or 'none'}",
            "run `rbc-bench run 3tier --models 3tier,resnet18 ...` and test that run",
        )
    return [case for name in torch_models for case in _checkpoints(run, name)], skipped


def _checkpoints(run: RunInfo, model: str) -> list[TorchCase]:
    folder = run.path / "checkpoints"
    found = []
    for path in sorted(folder.glob("*.pt")) if folder.is_dir() else []:
        match = CHECKPOINT.match(path.name)
        if match and match["model"] == model:
            fold = int(match["fold"]) if match["fold"] else -1
            seed, suffix = int(match["seed"]), f"_fold{fold}" if fold >= 0 else ""
            predictions = run.path / "predictions" / model / f"seed{seed}{suffix}_test.csv"  # the run's own
            found.append(TorchCase(model, seed, fold=fold, checkpoint=path, predictions=predictions))
    if not found:
        raise DataError(
            folder,
            f"checkpoints/{model}_seed<S>.pt: the trained weights of {model}",
            "no such folder" if not folder.is_dir() else "no checkpoint of this model",
            "use the complete run folder (copies without checkpoints/ cannot be tested), or run the benchmark again",
        )
    return found


def _checked_test_view(run: RunInfo, build: Path, *, config: str, fmt: str):
    """The test split of ``build``, refused if it shares a parent with what the run trained or selected on.

    A leaky-split run (``--protocol leaky-tiles``) trained on tiles of every split of its build, so all of them count.
    """
    from benchmarks.suite.classification import check_external_test
    from benchmarks.suite.leaky import LEAKY
    from benchmarks.training.data import open_split

    training = _training_build(run)
    splits = ("train", "validation", "test") if run.config.get("protocol") == LEAKY else ("train", "validation")
    run_config, run_fmt = run.config.get("data_config", "model"), run.config.get("format", "hdf5")
    seen = [open_split(training, split=split, config=run_config, fmt=run_fmt) for split in splits]
    test_view = open_split(build, split="test", config=config, fmt=fmt)
    check_external_test(test_view, seen)
    return test_view


def _training_build(run: RunInfo) -> Path:
    """The build the run trained on, as it was then: the parent check needs its splits."""
    from rbc_dataset.fileio import sha256_file

    training = Path(run.config["data"])
    recorded = run.config.get("dataset_json_sha256")
    if not (training / "dataset.json").is_file():
        raise DataError(
            run.path / "config.yaml",
            f"the run's training build at {training} (its splits decide which test parents are unseen)",
            "no build there (moved or deleted)",
            "put the training build back where the run read it",
        )
    digest = sha256_file(training / "dataset.json")
    if recorded and digest != recorded:
        raise DataError(
            training / "dataset.json",
            f"the build the run trained on (dataset.json sha256 {recorded[:12]}...)",
            f"another build (sha256 {digest[:12]}...): rebuilt or changed since the run",
            "restore the training build the run read, or run the benchmark again",
        )
    return training


def _predict_cases(run: RunInfo, cases, *, test_view, folder: RunFolder, device: str, show_progress: bool) -> None:
    """Each case's checkpoint predicts the test split once; predictions in the run's long format."""
    from benchmarks.explain.models import load_models
    from benchmarks.suite.cases import prediction_frame
    from benchmarks.suite.split_data import SplitData, anaemic_label
    from benchmarks.training.distributed import pick_device
    from benchmarks.training.loop import TrainContext, predict

    test = SplitData([test_view], run.preset)
    anaemic = anaemic_label(test_view.class_names)
    torch_device = pick_device(device)
    for case in cases:
        explained = load_models(case, run=run, device=torch_device, random_seed=0)
        needs_mask = explained.spec.needs_mask
        ctx = TrainContext(torch_device, run.preset, seed=case.seed, with_mask=needs_mask, show_progress=show_progress)
        probs = predict(explained.trained, test.source(needs_mask, show_progress=show_progress), ctx=ctx)
        relative = folder.predictions_path(case.model, case.seed, fold=case.fold, split="test").relative_to(folder.path)
        folder.write_csv(str(relative), prediction_frame(test, probs, anaemic=anaemic))
        folder.log(f"{case_name(case.model, case.seed, fold=case.fold)}: {len(test)} test tiles predicted")


def _score(folder: RunFolder, run: RunInfo) -> pd.DataFrame:
    """metrics.csv as the runner writes it (score_run with the run's resamples): `rbc-bench score` reproduces it."""
    from benchmarks.evaluation.scoring import score_run

    metrics = score_run(folder.path, n_resamples=run.preset.bootstrap_resamples)
    folder.write_csv("metrics.csv", metrics)
    return metrics


def _config(run: RunInfo, build: Path, *, config: str, fmt: str) -> dict:
    """The run's config with the external test's entries (``rbc-bench report`` names both builds from them)."""
    from rbc_dataset.fileio import sha256_file

    return {
        **run.config,
        "external_test_of": str(run.path.resolve()),
        "test_data": str(build.resolve()),
        "test_data_config": config,
        "test_format": fmt,
        "test_data_json_sha256": sha256_file(build / "dataset.json"),
        "test": f"external: the test split of {build.resolve()}, not of the training build",
    }


def _environment(device: str) -> dict:
    from benchmarks.suite.run_folder import run_environment
    from benchmarks.training.distributed import pick_device

    return run_environment(str(pick_device(device)), 1) | {"command": "rbc-bench external-test"}


def _summary(run: RunInfo, build: Path, *, metrics: pd.DataFrame, folder: RunFolder, cases, skipped) -> dict:
    from benchmarks.evaluation.scoring import read_metrics
    from rbc_dataset.fileio import sha256_file

    internal = read_metrics(run.path)  # the run's own test scores, as it recorded them
    source_cases = {case.get("case"): case for case in _source_summary(run).get("cases") or []}
    models = sorted({case.model for case in cases})
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "external_test": True,
        "source_run": str(run.path.resolve()),
        "training_build": str(Path(run.config["data"]).resolve()),
        "internal_test_build": str(run.test_build.resolve()),
        "test_build": str(build.resolve()),
        "test_build_dataset_json_sha256": sha256_file(build / "dataset.json"),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "shortcut_reliance": "internal - external test balanced accuracy (module1, global head, mean over seeds); "
        "the interval is the external one, of the seed-averaged predictions (group bootstrap)",
        "models": {
            name: _reliance(name, internal=internal, external=metrics, folder=folder, run=run) for name in models
        },
        "note": MODULE2_NOTE,
        "skipped": skipped,
        "cases": [
            {"case": name, "weights": (source_cases.get(name) or {}).get("weights", "-")}
            for name in (case_name(case.model, case.seed, fold=case.fold) for case in cases)
        ],
        "metrics": metrics.to_dict(orient="records"),
    }


def _source_summary(run: RunInfo) -> dict:
    import json

    try:
        return json.loads((run.path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        found = f"unreadable ({error})"
        raise DataError(run.path / "summary.json", "the run's summary JSON", found, RUN_FIX) from error


def _global_test_mean(metrics: pd.DataFrame, model: str) -> float:
    rows = metrics[
        (metrics["model"] == model)
        & (metrics["split"] == "test")
        & (metrics["task"] == "module1")
        & (metrics["head"] == "global")
    ]
    return float(rows["balanced_accuracy"].mean()) if len(rows) else float("nan")


def _reliance(model: str, *, internal: pd.DataFrame, external: pd.DataFrame, folder: RunFolder, run: RunInfo) -> dict:
    inside, outside = _global_test_mean(internal, model), _global_test_mean(external, model)
    low, high = _seed_averaged_interval(folder, model, n_resamples=run.preset.bootstrap_resamples)
    return {
        "internal_balanced_accuracy": inside,
        "external_balanced_accuracy": outside,
        "external_ci": [low, high],
        "shortcut_reliance": inside - outside,
        "seeds": sorted(int(seed) for seed in external.loc[external["model"] == model, "seed"].unique()),
    }


def _seed_averaged_interval(folder: RunFolder, model: str, *, n_resamples: int) -> tuple[float, float]:
    """95 % group-bootstrap interval of the balanced accuracy of the model's seed-averaged test predictions."""
    from benchmarks.evaluation.bootstrap import group_bootstrap_ci

    files = sorted((folder.path / "predictions" / model).glob("*_test.csv"))
    table = pd.concat([pd.read_csv(path) for path in files], ignore_index=True)
    table = table[(table["task"] == "module1") & (table["head"] == "global")]
    mean = table.groupby("sample_id").agg(label=("label", "first"), prob=("prob", "mean"), group=("group_id", "first"))
    prob = mean["prob"].to_numpy()
    (low, high) = group_bootstrap_ci(
        mean["label"].to_numpy(),
        prob,
        pred=(prob >= 0.5).astype(int),
        groups=mean["group"].to_numpy(),
        metrics=("balanced_accuracy",),
        n_resamples=n_resamples,
    )["balanced_accuracy"]
    return float(low), float(high)
