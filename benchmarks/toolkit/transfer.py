"""Train on synthetic, test on real: does the synthetic default teach anything about real smears?

Run::

    rbc-bench transfer [--data BUILD_OR_DATASET] [--n-images 20 --seed 0] --real ../shared/realdata/AneRBC-I \
        --json bench_out/transfer.json

The training data is a build (``rbc-dataset build``), a dataset folder (built here with the Python API), or,
without ``--data``, a synthetic set this command generates with the current generator (``--n-images``,
``--seed``), so one command measures a generator before and after a change. Builds made here keep the
``model`` config only, split 0.6 / 0.2 / 0.2 by parent image.

The real AneRBC-I image/mask pairs are built the same way as the training data (``rbc_dataset.api.build`` with
the training build's tile grid and model size: a 4 x 3 grid of 306 x 320 tiles resized to 300 by default),
every image in one split. They are only scored: each model is fitted on the synthetic train split, chosen on
the synthetic validation split, scored on the synthetic test split, and only then looks at the real images,
once (``benchmarks.suite.protocol.TestSplitGuard``). A real image found in the training build is refused.

Models: ``morphometric`` (the feature baseline of the 3tier suite) and a torchvision CNN trained from scratch
with the training loop (``resnet18`` by default; ``--input-size``, ``--epochs``). Scores are per image (see
``transfer_models.AGGREGATION``): balanced accuracy and ROC AUC with 95 % bootstrap intervals over images.

A real folder that is absent, or holds image/mask pairs of one class only, is a skip: the JSON says why and
nothing is built or trained.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from rich.markup import escape

from benchmarks.toolkit.realism import find_pairs
from benchmarks.toolkit.realism_stats import CLASS_NAMES, pair_class
from rbc_dataset.errors import DataError, UsageError, check_seed

DEFAULT_MODELS = ("morphometric", "resnet18")
TRAIN_SPLIT_RATIOS = (0.6, 0.2, 0.2)  # builds made here: 8 test images at --n-images 20, as many as the real set
CAVEAT = (
    "{n} real images ({healthy} healthy + {anaemic} anaemic): every interval is wide, one image moves balanced "
    "accuracy by 1/{per_class}; read the real scores as a coarse check, not a ranking"
)


@dataclass(frozen=True)
class TransferSettings:
    """Everything that decides a transfer run (recorded in its JSON)."""

    models: tuple[str, ...] = DEFAULT_MODELS
    n_images: int = 20  # per class, when the command synthesizes its training data
    seed: int = 0  # synthesis, build split, training and bootstrap
    input_size: int = 128  # CNN input side (the 300 px tiles are resized to it)
    epochs: int = 6  # CNN epochs; the epoch with the best validation balanced accuracy is kept
    batch_size: int = 16
    device: str = "cpu"  # CNN device: cpu, cuda or auto
    workers: int = 2  # processes for synthesis, builds and morphometric features
    n_resamples: int = 1000  # bootstrap resamples of images

    def __post_init__(self):
        from benchmarks.training.presets import DEVICES
        from rbc_dataset.errors import check_choice

        check_seed("--seed", self.seed)
        check_choice("device", self.device, choices=DEVICES)
        for option, value, low in (
            ("--n-images", self.n_images, 2),
            ("--input-size", self.input_size, 32),
            ("--epochs", self.epochs, 1),
            ("--batch-size", self.batch_size, 1),
            ("--workers", self.workers, 1),
            ("--resamples", self.n_resamples, 10),
        ):
            if value < low:
                raise UsageError(f"{option} must be at least {low}, got {value}")
        if not self.models:
            raise UsageError(f"--models needs at least one model, e.g. {','.join(DEFAULT_MODELS)}")


# ------------------------------------------------------------------------------------------------ the real side


def real_classes(real: Path) -> Counter:
    """AneRBC-I image/mask pairs under ``real`` per class (``anaemic``, ``healthy``), from the file names."""
    return Counter(CLASS_NAMES[pair_class(image)] for image, _ in find_pairs(real))


def skip_reason(real: Path) -> str | None:
    """Why the real side cannot be scored (absent, or fewer than two classes), or None when it can.

    Raises:
        UsageError: ``real`` is a file, not a folder.
    """
    if not real.exists():
        return f"{real}: no such folder (the real AneRBC-I pairs are absent; point --real at them)"
    if not real.is_dir():
        raise UsageError(f"--real {real} is a file; expected a folder of AneRBC-I image/mask pairs")
    counts = real_classes(real)
    if counts["anaemic"] == 0 or counts["healthy"] == 0:
        return (
            f"{real}: {counts['healthy']} healthy and {counts['anaemic']} anaemic AneRBC-I image/mask pairs "
            "(Original_images/NNN_h.png with Binary_segmented/NNN_h.png); both classes are needed to score"
        )
    return None


# --------------------------------------------------------------------------------------------- builds made here


@contextmanager
def work_folder(work_dir: Path | None):
    """``work_dir`` (kept for inspection), or a temporary folder removed afterwards."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
        return
    with tempfile.TemporaryDirectory(prefix="rbc-bench-transfer-") as folder:
        yield Path(folder)


def _generator_revision() -> dict:
    """The last commit of the synthetic generator and whether it has uncommitted changes (None outside git)."""
    synth = Path(__file__).resolve().parents[2] / "rbc_dataset" / "synth"
    commands = {
        "commit": ["git", "log", "-1", "--format=%h", "--", "."],
        "dirty": ["git", "status", "--porcelain", "."],
    }
    found = {}
    for key, command in commands.items():
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=10, cwd=synth, check=True)
        except (OSError, subprocess.SubprocessError):
            return {"commit": None, "uncommitted_changes": None}
        found[key] = out.stdout.strip()
    return {"commit": found["commit"] or None, "uncommitted_changes": bool(found["dirty"])}


def training_build(train: Path | None, *, work: Path, settings: TransferSettings) -> tuple[Path, dict]:
    """The build to train on: ``train`` itself when it is a build, else one made here (synthesized first when
    ``train`` is None). Returns the build and a record of where its data came from."""
    import rbc_dataset as rd

    if train is not None and (train / "dataset.json").is_file():
        return train, {"kind": "build", "path": str(train)}
    if train is None:
        source = rd.synthesize(
            work / "synthetic", n_images=settings.n_images, seed=settings.seed, workers=settings.workers
        )
        record = {"kind": "synthesized here", "n_images_per_class": settings.n_images, "seed": settings.seed}
        record["generator"] = _generator_revision()
    else:
        source = train / "AneRBC_dataset" if (train / "AneRBC_dataset").is_dir() else train
        record = {"kind": "dataset folder, built here", "path": str(train)}
    options = {"configs": ("model",), "formats": ("hdf5",), "split_ratios": TRAIN_SPLIT_RATIOS, "folds": 0}
    build = rd.build(source, out=work / "train_build", seed=settings.seed, workers=settings.workers, **options)
    return build.path, {**record, "build_options": {**options, "seed": settings.seed}}


def real_build(real: Path, *, like: Path, work: Path, workers: int) -> Path:
    """The real pairs built with the training build's tile grid and model size, every image in one split."""
    import rbc_dataset as rd
    from rbc_dataset.dataset_card import read_card

    card = read_card(like)
    if "model" not in card.configs:
        raise DataError(like, "a build with the model config", f"configs {', '.join(card.configs)}", _BUILD_FIX)
    grid = {key: card.config[key] for key in ("tile_cols", "tile_rows", "tile_width", "tile_height", "model_size")}
    build = rd.build(
        real,
        out=work / "real_build",
        configs=("model",),
        formats=("hdf5",),
        split_ratios=(1.0, 0.0, 0.0),
        folds=0,
        audit=False,
        tile_order=card.tile_grid.order,
        workers=workers,
        **grid,
    )
    return build.path


_BUILD_FIX = (
    "pass a dataset folder instead (this command builds it), or `rbc-dataset build DATA --out DIR --configs model`"
)


def refuse_overlap(train_build: Path, real: Path, *, real_built: Path) -> None:
    """A DataError when an image of the real set is also in the training build (compared by SHA-256)."""
    train_hashes = set(pd.read_parquet(train_build / "manifest.parquet", columns=["image_sha256"])["image_sha256"])
    real_rows = pd.read_parquet(real_built / "manifest.parquet", columns=["image_path", "image_sha256"])
    shared = real_rows[real_rows["image_sha256"].isin(train_hashes)]
    if len(shared):
        raise DataError(
            train_build,
            f"training data without the real images of {real}",
            f"{len(shared)} of them, e.g. {shared['image_path'].iloc[0]}",
            "train on a synthetic set: the real images are only scored",
        )


# ------------------------------------------------------------------------------------------------------ models


def model_choices() -> list[str]:
    """Models this command can train: the feature baselines and the torchvision CNNs of the registry."""
    from benchmarks.catalog import list_models

    return [spec.name for family in ("features", "cnn") for spec in list_models(family=family)]


def check_models(models: tuple[str, ...], *, device: str = "cpu") -> None:
    """A UsageError listing the valid models for a name this command cannot train, or for a CNN asked to train on
    a GPU that is not there (said now, not after the feature baseline has run)."""
    from benchmarks.catalog import get_model
    from rbc_dataset.errors import check_choice

    choices = model_choices()
    for name in models:
        check_choice("model", name, choices=choices)
    if device == "cuda" and any(get_model(name).family == "cnn" for name in models):
        from benchmarks.training.distributed import pick_device

        pick_device(device)


def _labelled(view):
    """The split with its anaemic class found by name (a DataError naming the build when it has none)."""
    from benchmarks.suite.split_data import anaemic_label
    from benchmarks.toolkit.transfer_models import LabelledSplit

    index = anaemic_label(view.class_names)
    if index is None:
        found = f"classes {', '.join(map(str, view.class_names))}"
        raise DataError(view.built_dir, "a healthy and an anaemic class", found, "build from healthy/anaemic data")
    return LabelledSplit(view, index)


def run_models(settings: TransferSettings, *, train_build: Path, real_built: Path, show_progress: bool) -> dict:
    """Fit, select and score every model; the real split is handed out by a guard, once per model."""
    from benchmarks.catalog import get_model
    from benchmarks.suite.protocol import TestSplitGuard
    from benchmarks.toolkit import transfer_models as tm
    from benchmarks.training.data import open_split

    train, validation, test = (_labelled(open_split(train_build, split=s)) for s in ("train", "validation", "test"))
    guard = TestSplitGuard(lambda: _labelled(open_split(real_built, split="train")))
    run = tm.ModelRun(
        train,
        validation,
        test,
        real=guard,
        seed=settings.seed,
        workers=settings.workers,
        n_resamples=settings.n_resamples,
        show_progress=show_progress,
    )
    preset = tm.cnn_preset(
        input_size=settings.input_size,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        device=settings.device,
        seed=settings.seed,
    )
    results = []
    for name in settings.models:
        if get_model(name).family == "cnn":
            results.append(tm.run_cnn_model(name, run, preset=preset))
        else:
            tm.require_masks(name, [train, validation, test])
            _require_real_masks(name, real_built)
            results.append(tm.run_feature_model(name, run))
    return {"models": results, "real_accesses": guard.accesses}


def _require_real_masks(name: str, real_built: Path) -> None:
    from rbc_dataset.dataset_card import read_card

    if not read_card(real_built).has_masks:
        fix = f"give the real images their Binary_segmented masks, or leave {name} out with --models"
        raise DataError(real_built, f"real images with masks ({name} measures the cells on them)", "no masks", fix)


# ------------------------------------------------------------------------------------------------------ output


def _command(real: Path, *, train: Path | None, settings: TransferSettings, json_out: Path) -> str:
    words = ["rbc-bench", "transfer", "--real", str(real)]
    words += ["--data", str(train)] if train is not None else ["--n-images", str(settings.n_images)]
    words += ["--seed", str(settings.seed), "--models", ",".join(settings.models)]
    words += ["--input-size", str(settings.input_size), "--epochs", str(settings.epochs)]
    words += ["--device", settings.device, "--json", str(json_out)]
    return shlex.join(words)


def _interval(scores: dict, name: str) -> str:
    value, (low, high) = scores[name], scores[f"{name}_ci"]
    if value is None:
        return "n/a"
    bounds = "n/a" if low is None else f"{low:.2f}–{high:.2f}"
    return escape(f"{value:.2f} [{bounds}]")  # rich would read "[n/a]" as markup


def _table(models: list[dict], *, title: str):
    """One row per model and data set: images per class, balanced accuracy and AUC with their intervals."""
    from rich.table import Table

    table = Table(title=title)
    for name, justify in (("model", "left"), ("scored on", "left"), ("healthy + anaemic images", "right")):
        table.add_column(name, justify=justify)
    for name in ("balanced accuracy [95 % CI]", "ROC AUC [95 % CI]", "time, device"):
        table.add_column(name, justify="right")
    for entry in models:
        for key, label in (("synthetic_test", "synthetic test"), ("real", "real AneRBC-I")):
            scores, counts = entry[key], entry[key]["n_images_per_class"]
            timing = f"{entry['seconds']['total']:.0f} s, {entry['device']}" if key == "real" else ""
            table.add_row(
                entry["model"],
                label,
                f"{counts['healthy']} + {counts['anaemic']}",
                _interval(scores, "balanced_accuracy"),
                _interval(scores, "roc_auc"),
                timing,
            )
    return table


def write_result(result: dict, *, json_out: Path, table=None) -> None:
    """Print ``table`` (or the skip reason) and write ``result`` with the environment to ``json_out``."""
    import sys

    from rich.console import Console

    from benchmarks.environment import environment
    from rbc_dataset.fileio import write_json

    console = Console() if sys.stdout.isatty() else Console(width=140)  # piped output would wrap every row
    if table is not None:
        console.print(table)
    for key in ("caveat", "reason"):
        if key in result:
            console.print(f"{'skipped' if key == 'reason' else 'caveat'}: {result[key]}")
    json_out.parent.mkdir(parents=True, exist_ok=True)
    write_json(json_out, {**result, "environment": environment()}, sort_keys=True)
    console.print(f"wrote {json_out}")


def _caveat(counts: Counter) -> str:
    n = counts["healthy"] + counts["anaemic"]
    per_class = min(counts["healthy"], counts["anaemic"])
    return CAVEAT.format(n=n, healthy=counts["healthy"], anaemic=counts["anaemic"], per_class=2 * per_class)


def _check_paths(real: Path, *, train: Path | None, json_out: Path, work_dir: Path | None) -> None:
    from rbc_dataset.fileio import check_output_outside

    if train is not None and not train.is_dir():
        found = "a file" if train.exists() else "no such folder"
        raise UsageError(
            f"--data {train}: {found}; expected a build (dataset.json) or a dataset folder. "
            "Fix: point --data at one, or leave it out to synthesize the training data (--n-images, --seed)"
        )
    inputs = [real] + ([train] if train is not None else [])
    for output in [json_out] + ([work_dir] if work_dir is not None else []):
        check_output_outside(output, inputs)


def run_transfer(
    real: Path,
    *,
    json_out: Path,
    train: Path | None = None,
    settings: TransferSettings | None = None,
    work_dir: Path | None = None,
    show_progress: bool = True,
) -> dict:
    """Train each model on synthetic data, select on synthetic validation, score synthetic test and the real images.

    Args:
        real: folder of real AneRBC-I image/mask pairs (searched recursively); only ever scored.
        json_out: the results file.
        train: a build, or a dataset folder to build; None synthesizes one (``settings.n_images``, ``seed``).
        settings: models and training settings (defaults: ``TransferSettings()``).
        work_dir: keep the synthetic data and builds made here (default: a temporary folder, removed).
        show_progress: draw progress bars.

    Returns:
        The result written to ``json_out``: ``status`` ``done`` with per-model scores, or ``skipped`` with the
        reason when the real folder is absent or holds one class.

    Raises:
        UsageError: bad settings, unknown model, a missing ``train`` folder, an output inside an input.
        DataError: unusable training or real data (the message names the folder), or a real image in training.
    """
    start = time.perf_counter()
    real, train = Path(real), None if train is None else Path(train)
    settings = settings or TransferSettings()
    check_models(settings.models, device=settings.device)
    _check_paths(real, train=train, json_out=json_out, work_dir=work_dir)
    head = {
        "command": _command(real, train=train, settings=settings, json_out=json_out),
        "real_dir": str(real.resolve()),
        "settings": {**asdict(settings), "models": list(settings.models)},
    }
    reason = skip_reason(real)
    if reason is not None:
        result = {"status": "skipped", "reason": reason, **head}
        write_result(result, json_out=json_out)
        return result
    pairs_per_class = real_classes(real)  # once: it searches the whole real folder
    with work_folder(work_dir) as work:
        train_built, train_record = training_build(train, work=work, settings=settings)
        real_built = real_build(real, like=train_built, work=work, workers=settings.workers)
        refuse_overlap(train_built, real, real_built=real_built)
        scored = run_models(settings, train_build=train_built, real_built=real_built, show_progress=show_progress)
        train_record["counts"] = _counts(train_built)
        real_record = {"pairs_per_class": dict(pairs_per_class), "counts": _counts(real_built)}
    caveat, seconds = _caveat(pairs_per_class), time.perf_counter() - start
    result = {
        "status": "done",
        **head,
        "train": train_record,
        "real": real_record,
        "caveat": caveat,
        "wall_seconds": round(seconds, 1),
        **scored,
    }
    title = f"Train on synthetic, test on real (per image; wall time {seconds:.0f} s)"
    write_result(result, json_out=json_out, table=_table(scored["models"], title=title))
    return result


def _counts(build: Path) -> dict:
    """Model-config samples per split and class, as the build's card records them."""
    from rbc_dataset.dataset_card import read_card

    splits = read_card(build).configs["model"].splits
    return {split: dict(entry.classes) for split, entry in splits.items()}
