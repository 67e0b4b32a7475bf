"""A finished ``rbc-bench run`` folder as ``rbc-bench explain`` reads it: settings, trained torch models, test split.

Nothing here writes. Every refusal names the file, what a finished run holds, what was found and what to do.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from benchmarks.training.presets import Preset
from rbc_dataset.errors import DataError, UsageError

RUN_FILES = ("config.yaml", "summary.json")
TORCH_FAMILIES = ("tiered", "cnn")
RUN_FIX = "pass a run folder runs/<suite>/<timestamp>_<sha> that `rbc-bench run` finished"
CHECKPOINT = re.compile(r"^(?P<model>.+)_seed(?P<seed>\d+)(?:_fold(?P<fold>\d+))?\.pt$")


@dataclass(frozen=True)
class RunInfo:
    """What a finished run says about itself (config.yaml)."""

    path: Path
    config: dict
    preset: Preset

    @property
    def test_build(self) -> Path:
        """The build whose test split the run scored (an external test build when the run had one)."""
        return Path(self.config.get("test_data") or self.config["data"])

    @property
    def test_build_sha256(self) -> str | None:
        return self.config.get("test_data_json_sha256") or self.config.get("dataset_json_sha256")


@dataclass(frozen=True)
class TorchCase:
    """One trained torch model of the run: its weights and its test predictions."""

    model: str
    seed: int
    fold: int  # -1 without cross-validation
    checkpoint: Path
    predictions: Path


def latest_finished_run(folder: Path) -> Path | None:
    """The newest finished run in a suite folder ``runs/<suite>/`` (names start with the UTC time), or None."""
    runs = [
        path
        for path in folder.iterdir()
        if path.is_dir() and not path.name.startswith(".") and all((path / name).is_file() for name in RUN_FILES)
    ]
    return max(runs, key=lambda path: path.name) if runs else None


def read_run(run_dir: str | Path) -> RunInfo:
    """The finished run at ``run_dir``, or the newest one in a suite folder ``runs/<suite>/``.

    Raises:
        DataError: naming the path, for anything that is neither.
    """
    run = Path(run_dir)
    if run.is_dir() and not (run / "config.yaml").is_file():
        run = latest_finished_run(run) or run  # a suite folder: its newest finished run
    expected = "a finished run folder of `rbc-bench run` (config.yaml, summary.json, predictions/, checkpoints/)"
    if not run.is_dir():
        raise DataError(run, expected, "a file" if run.exists() else "no such folder", RUN_FIX)
    if run.name.startswith(".") and run.name.endswith(".partial"):
        fix = f"finish it first: rbc-bench run ... --resume {run}"
        raise DataError(run, expected, "an unfinished run (a hidden .partial folder)", fix)
    missing = [name for name in RUN_FILES if not (run / name).is_file()]
    if missing:
        held = ", ".join(sorted(p.name for p in run.iterdir())[:8]) or "nothing"
        raise DataError(run, expected, f"a folder without {', '.join(missing)} (holds: {held})", RUN_FIX)
    try:
        config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise DataError(run / "config.yaml", "the YAML a run writes", f"unreadable YAML ({error})", RUN_FIX) from error
    if not isinstance(config, dict) or not isinstance(config.get("preset"), dict) or "data" not in config:
        raise DataError(run / "config.yaml", "a run's config with data and preset", "other content", RUN_FIX)
    return RunInfo(run, config, preset=_preset(config["preset"], run / "config.yaml"))


def _preset(values: dict, path: Path) -> Preset:
    """The run's preset: its saved values over the defaults (keys of other versions are ignored)."""
    known = {field.name for field in dataclasses.fields(Preset)}
    kept = {key: tuple(value) if key == "seeds" else value for key, value in values.items() if key in known}
    try:
        return Preset(**{"name": "run", **kept})
    except (UsageError, TypeError) as error:
        raise DataError(path, "the preset of a run", f"values this version refuses ({error})", RUN_FIX) from error


def torch_cases(run: RunInfo, *, models: tuple[str, ...] = (), seed: int | None = None) -> list[TorchCase]:
    """One trained torch model per model name: the given seed (else the lowest), without a fold if there is one.

    Raises:
        UsageError: a requested model the run did not train, or a seed it did not use.
        DataError: the run trained no torch model, or has no checkpoint or test predictions for one.
    """
    from benchmarks.catalog import get_model

    trained = [name for name in run.config.get("models", []) if get_model(name).family in TORCH_FAMILIES]
    if not trained:
        raise DataError(
            run.path / "config.yaml",
            "a run with at least one torch model (3tier or a CNN): Grad-CAM explains convolutional networks",
            f"models {', '.join(run.config.get('models', [])) or 'none'}",
            "run `rbc-bench run 3tier --models 3tier,resnet18 ...` and explain that run",
        )
    for name in models:
        if name not in trained:
            raise UsageError(f"the run trained no torch model {name!r}; valid choices: {', '.join(trained)}")
    return [_case(run, name, seed=seed) for name in models or trained]


def _case(run: RunInfo, model: str, *, seed: int | None) -> TorchCase:
    folder = run.path / "checkpoints"
    found = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.pt")):
            match = CHECKPOINT.match(path.name)
            if match and match["model"] == model:
                found.append((int(match["seed"]), int(match["fold"]) if match["fold"] else -1, path))
    if not found:
        raise DataError(
            folder,
            f"checkpoints/{model}_seed<S>.pt: the trained weights of {model}",
            "no such folder" if not folder.is_dir() else "no checkpoint of this model",
            "explain needs the weights the run saved; use the complete run folder (copies without checkpoints/ "
            "cannot be explained), or run the benchmark again",
        )
    seeds = sorted({s for s, _f, _p in found})
    if seed is not None and seed not in seeds:
        raise UsageError(f"{model} was trained with seeds {', '.join(map(str, seeds))}, not {seed}")
    chosen = min((f, p) for s, f, p in found if s == (seeds[0] if seed is None else seed))
    fold, checkpoint = chosen
    chosen_seed = seeds[0] if seed is None else seed
    suffix = f"_fold{fold}" if fold >= 0 else ""
    predictions = run.path / "predictions" / model / f"seed{chosen_seed}{suffix}_test.csv"
    if not predictions.is_file():
        raise DataError(predictions, f"the test predictions of {model} seed {chosen_seed}", "no such file", RUN_FIX)
    return TorchCase(model, chosen_seed, fold=fold, checkpoint=checkpoint, predictions=predictions)


def decisions(case: TorchCase) -> pd.DataFrame:
    """The model's Module-I decisions on the test split (``global`` head): sample_id, parent_id, label, prob, pred."""
    try:
        table = pd.read_csv(case.predictions)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(case.predictions, "a predictions CSV of rbc-bench", f"unreadable ({error})", RUN_FIX) from error
    needed = {"task", "head", "sample_id", "parent_id", "label", "prob", "pred"}
    if not needed <= set(table.columns):
        found = f"columns {', '.join(table.columns)}"
        raise DataError(case.predictions, f"columns {', '.join(sorted(needed))}", found, RUN_FIX)
    rows = table[(table["task"] == "module1") & (table["head"] == "global")]
    if rows.empty:
        raise DataError(case.predictions, "Module-I rows of the global head", "none", RUN_FIX)
    return rows[["sample_id", "parent_id", "label", "prob", "pred"]].reset_index(drop=True)
