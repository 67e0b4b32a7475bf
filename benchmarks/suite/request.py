"""What ``rbc-bench run`` was asked to do, checked before torch loads or anything trains.

Names (suite, preset, models, format, dataset config) are checked against light tables, so a typo answers in
well under a second. A resumed run must be the same experiment as the one it continues: the request is compared
with the run folder's ``config.yaml`` (data fingerprint, data config, format, models, protocol and every preset
value that changes results) and any difference is refused, key by key, with the options that match.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.catalog import MODEL_TASKS
from benchmarks.suite.leaky import LEAKY, WARNING, check_protocol
from benchmarks.suite.suites import get_suite
from benchmarks.training.presets import Preset, get_preset
from rbc_dataset.errors import DataError, UsageError, check_choice
from rbc_dataset.extras import require
from rbc_dataset.shards.config import CONFIG_NAMES, FORMATS

PROTOCOLS = {False: "train / validation / test", True: "k-fold CV over train+validation, test once per case"}
# Preset values that only change speed, never a result: a resumed run may differ in them.
SPEED_ONLY = ("num_workers", "workers", "pin_memory")
# config.yaml key -> the option that sets it (the rest are `key: value` lines of --config FILE).
OPTIONS = {
    "suite": "SUITE",
    "dataset_json_sha256": "--data",
    "data_config": "--data-config",
    "format": "--format",
    "models": "--models",
    "protocol": "--cv / --protocol",
    "preset.name": "--preset",
    "preset.seeds": "--seeds",
    "preset.epochs": "--epochs",
    "preset.input_size": "--input-size",
    "preset.crop_size": "--crop-size",
    "preset.colour_jitter": "--colour-jitter",
    "preset.patience": "--patience",
    "preset.torch_threads": "--torch-threads",
    "preset.batch_size": "--batch-size",
    "preset.device": "--device",
    "preset.data_mode": "--data-mode",
    "preset.weights_dir": "--weights-dir",
    "preset.compile": "--compile/--no-compile",
    "test_data": "--test-data",
    "test_data_json_sha256": "--test-data",
}


@dataclass(frozen=True)
class RunRequest:
    """Everything ``rbc-bench run`` was asked to do."""

    suite: str  # suite name (benchmarks.suite.suites)
    data: Path  # a `rbc-dataset build` output folder
    preset: Preset  # resolved preset (CLI > file > preset)
    out_dir: Path = Path("runs")  # run folders go to out_dir/<suite>/
    models: tuple[str, ...] = ()  # models to run (empty: the suite's line-up for the preset)
    fmt: str = "hdf5"  # shards to read: hdf5 or parquet
    config: str = "model"  # dataset config to read
    cv: bool = False  # k-fold cross-validation over train+validation (the build's folds), all folds
    resume: Path | None = None  # an unfinished run folder to continue
    show_progress: bool = True
    test_data: Path | None = None  # an external test: score on this build's test split instead of ``data``'s
    protocol: str = "parents"  # parents (honest, by parent image) or leaky-tiles (the leaky demonstration, by name)


def check_names(suite: str, preset: str | None, *, models: tuple[str, ...], fmt: str, data_config: str) -> None:
    """Refuse an unknown suite, preset, model, format or dataset config, or a model of another task (no torch).

    Raises:
        UsageError: naming the value and listing the valid choices.
    """
    task = get_suite(suite).task
    if preset is not None:
        get_preset(preset)
    check_choice("format", fmt, choices=FORMATS)
    check_choice("dataset config", data_config, choices=CONFIG_NAMES)
    unknown = [name for name in models if name not in MODEL_TASKS]
    if unknown:
        raise UsageError(
            f"unknown model {unknown[0]!r}; valid models: {', '.join(sorted(MODEL_TASKS))} (see `rbc-bench list`)"
        )
    wrong = [f"{name} ({MODEL_TASKS[name]})" for name in models if MODEL_TASKS[name] != task]
    if wrong:
        raise UsageError(f"suite {suite!r} runs {task} models; {', '.join(wrong)} are not (see `rbc-bench list`)")


def model_names(request: RunRequest) -> list[str]:
    """The models the request runs: the given ones, else the suite's line-up for the preset."""
    return list(request.models or get_suite(request.suite).models_for(request.preset.name))


def run_config(request: RunRequest) -> dict:
    """The ``config.yaml`` of a run of ``request``: the data's fingerprint, what runs and every preset value."""
    from benchmarks.training.data import check_built_dir
    from rbc_dataset.dataset_card import read_card
    from rbc_dataset.fileio import sha256_file

    card = read_card(check_built_dir(request.data))
    splits = card.configs[request.config].splits if request.config in card.configs else {}
    return {
        "suite": request.suite,
        "data": str(Path(request.data).resolve()),
        "data_config": request.config,
        "format": request.fmt,
        "dataset_json_sha256": sha256_file(Path(request.data) / "dataset.json"),
        "split_content_sha256": {split: entry.content_sha256 for split, entry in splits.items()},
        "models": model_names(request),
        "protocol": LEAKY if request.protocol == LEAKY else PROTOCOLS[request.cv],
        **({"protocol_warning": WARNING} if request.protocol == LEAKY else {}),
        "preset": request.preset.to_dict(),
        **_external_test(request),
    }


def _external_test(request: RunRequest) -> dict:
    """config.yaml entries of an external test (none without one)."""
    if request.test_data is None:
        return {}
    from benchmarks.training.data import check_built_dir
    from rbc_dataset.fileio import sha256_file

    test_data = check_built_dir(request.test_data)
    return {
        "test_data": str(test_data.resolve()),
        "test_data_json_sha256": sha256_file(test_data / "dataset.json"),
        "test": f"external: the test split of {test_data.resolve()}, not of the training build",
    }


def check_request(request: RunRequest) -> dict:
    """Check a request before anything trains; returns the run's config (the saved one when resuming).

    Raises:
        UsageError: an unknown name, a resumed run asked to continue with other data or settings, or no torch
            (the ``bench`` extra).
        DataError: no build at ``request.data``, no such dataset config in it, or an unreadable resumed run.
    """
    check_names(request.suite, request.preset.name, models=request.models, fmt=request.fmt, data_config=request.config)
    check_leaky_request(request)
    config = run_config(request)
    from rbc_dataset.dataset_card import read_card

    for build in (request.data, request.test_data):
        if build is None:
            continue
        available = sorted(read_card(build).configs)
        if request.config not in available:
            raise DataError(
                build,
                f"dataset config {request.config!r} in the build",
                f"only {', '.join(available) or 'none'}",
                f"pass --data-config {available[0]}" if available else "rebuild with `rbc-dataset build`",
            )
    require("torch", "torchvision", extra="bench", for_what="rbc-bench run")  # names and data first: they are quick
    if request.resume is None:
        return config
    saved = saved_config(request.resume)
    differences, fixes = compare_configs(saved, config)
    if differences:
        raise UsageError(
            f"--resume {request.resume}: this request is not the experiment the run started (its config.yaml); "
            f"{'; '.join(differences)}. Fix: resume with {', '.join(fixes)}; or start a new run without --resume"
        )
    return saved


def check_leaky_request(request: RunRequest) -> None:
    """The protocol by its whole name; the leaky one only where it means something (see ``benchmarks.suite.leaky``).

    Raises:
        UsageError: an unknown protocol, or leaky-tiles with an option it cannot honour.
    """
    check_protocol(request.protocol)
    if request.protocol != LEAKY:
        return
    task = get_suite(request.suite).task
    conflicts = [
        (request.cv, "--cv (k-fold CV keeps the build's parent folds; the leaky protocol draws its own split)"),
        (request.test_data is not None, "--test-data (an external test shares no parent with training)"),
        (task != "classification", f"suite {request.suite!r} (the leaky demonstration is for classification)"),
        (request.preset.data_mode == "loader", "--data-mode loader (the split indexes decoded tensors: use memory)"),
    ]
    refused = [option for present, option in conflicts if present]
    if refused:
        raise UsageError(f"--protocol {LEAKY} cannot be combined with {'; '.join(refused)}")


def saved_config(partial: Path) -> dict:
    """The ``config.yaml`` of an unfinished run folder."""
    from rbc_dataset.config_file import load_config_file

    path = Path(partial) / "config.yaml"
    if not path.is_file():
        raise DataError(
            path,
            "the config.yaml of the run being resumed",
            "no such file (the run stopped before it was written)",
            "start a new run without --resume",
        )
    return load_config_file(path)


def compare_configs(saved: dict, requested: dict) -> tuple[list[str], list[str]]:
    """What differs, one line per setting (key, saved value, requested value), and the options that restore it."""
    pairs = [(key, saved.get(key), requested.get(key)) for key in OPTIONS if not key.startswith("preset.")]
    saved_preset, requested_preset = saved.get("preset") or {}, requested.get("preset") or {}
    keys = [k for k in dict.fromkeys([*saved_preset, *requested_preset]) if k not in SPEED_ONLY]
    pairs += [(f"preset.{k}", saved_preset.get(k), requested_preset.get(k)) for k in keys]
    lines, fixes = [], []
    for key, old, new in pairs:
        if _plain(old) == _plain(new):
            continue
        fixes.append(_restoring_option(key, old, saved))
        if key == "dataset_json_sha256":
            key = "data"
            old, new = f"{saved.get('data')} (dataset.json sha256 {old})", f"{requested.get('data')} (sha256 {new})"
        lines.append(f"{key} was {_shown(old)}, requested {_shown(new)}")
    return lines, fixes


def _restoring_option(key: str, saved_value, saved: dict) -> str:
    """The option (or config-file line) that asks for ``saved_value`` again."""
    if key == "dataset_json_sha256":
        return f"--data {saved.get('data')} (the build the run started on, unchanged)"
    if key == "protocol":
        if saved_value == LEAKY:
            return f"--protocol {LEAKY}"
        return "--cv" if saved_value == PROTOCOLS[True] else f"no --cv and no --protocol {LEAKY}"
    if key == "preset.compile":
        return "--compile" if saved_value else "--no-compile"
    if key in OPTIONS:
        return f"{OPTIONS[key]} {_shown(saved_value)}"
    return f"`{key.removeprefix('preset.')}: {_shown(saved_value)}` in --config FILE"


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _shown(value) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return "not recorded" if value is None else str(value)
