"""The command line's shared vocabulary: one meaning per option word, paths, choices, ``--version``, errors.

Every command of ``rbc-dataset`` and ``rbc-bench`` takes its common options from here, and every path
parameter goes through one of two callbacks, so ``~`` is expanded everywhere and a missing input is a usage
error (exit 2) before any heavy library loads. ``VOCABULARY`` is the table of option words and what each
means; ``docs/CLI.md`` shows it and ``tests/test_cli_vocabulary.py`` checks every command against it.
``fail_cleanly`` wraps every command: the toolkit's errors become one paragraph and the documented exit code.

Light on purpose: imported by every commands module for ``--help``, so only typer and small constant modules.
"""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

import typer

from rbc_dataset.errors import RBCError, UsageError
from rbc_dataset.layout import TILE_ORDERS
from rbc_dataset.shards.config import CONFIG_NAMES, FORMATS, HDF5_CODECS, SPLIT_NAMES
from rbc_dataset.synth.config import MASK_STYLES, SHORTCUTS

# Choices shown by --help and checked by typer (exit 2). The library checks the same names again for values
# that come from --config files. The two literal tuples mirror modules too heavy to import for --help
# (rbc_dataset.ingestion, rbc_dataset.auditing); tests/test_cli_vocabulary.py checks that they agree.
MaskStyle = Literal[MASK_STYLES]
TileOrder = Literal[TILE_ORDERS]
BuildTileOrder = Literal[("auto", *TILE_ORDERS)]
Layout = Literal["auto", "anerbc", "folder", "csv"]
HbSource = Literal["who2011_women", "who2011_men"]
HDF5Codec = Literal[HDF5_CODECS]
DataConfig = Literal[CONFIG_NAMES]
ShardFormat = Literal[FORMATS]
SplitName = Literal[SPLIT_NAMES]
# typer takes no list of Literal: repeatable choices are str Enums (pass ``.value`` on to the library).
Shortcut = Enum("Shortcut", {name: name for name in SHORTCUTS}, type=str)
SourcePart = Enum("SourcePart", {name: name for name in ("AneRBC-I", "AneRBC-II")}, type=str)

# Old spellings still accepted (with a note on stderr) until a later release; the Makefile, README and tests
# use the new ones. Applied by click's token normaliser, so it works for every command at once.
RENAMED_OPTIONS = {"out-dir": "out", "num-workers": "loader-workers", "configs": "data-configs"}

# Option word -> (kind, meaning). kind is what the parameter's annotation gives: path, int, float, text, flag,
# choice (a fixed set, listed by --help), with " (repeatable)" for options given several times.
VOCABULARY: dict[str, tuple[str, str]] = {
    "--out": ("path", "what the command writes: a new folder (or the file named), never inside the input"),
    "--overwrite": ("flag", "replace an existing --out (otherwise an existing output is an error)"),
    "--workers": ("int", "worker processes of the command's own pool (tools: default all cores)"),
    "--loader-workers": ("int", "PyTorch DataLoader worker processes (reading shards while training)"),
    "--quiet": ("flag", "no progress bars (also -q); summaries and errors are still printed"),
    "--config": ("path", "a YAML file of the command's options; options given on the command line win"),
    "--data-config": ("choice", "one dataset config of a build: full, tiles or model (docs/SHARDS.md)"),
    "--data-configs": ("text", "dataset configs to build, comma-separated (full, tiles, model)"),
    "--format": ("choice", "shard format to read: hdf5 or parquet"),
    "--formats": ("text", "shard formats to write, comma-separated (hdf5, parquet)"),
    "--data": ("path", "the dataset a benchmark reads (a build, or a source dataset for ingest/build timings)"),
    "--work-dir": ("path", "scratch folder of a benchmark"),
    "--json": ("path", "results file of a benchmark (JSON)"),
    "--report": ("path", "also write the findings to this JSON file"),
    "--fix": ("path", "folder for canonical masks (cell = 255) with provenance"),
    "--n-images": ("int", "AneRBC-I images per class"),
    "--seed": ("int", "random seed; the same seed gives the same result"),
    "--seeds": ("text", "training seeds, comma-separated"),
    "--mask-style": ("choice", "synthetic masks: binary (clean 0/255) or anerbc (as released)"),
    "--defects": ("float", "share of synthetic pairs given a known defect"),
    "--shortcut": ("choice (repeatable)", "confound planted in synthetic data"),
    "--tile-order": ("choice", "AneRBC-II tile numbering: row-major or column-major (auto: as detected)"),
    "--cbc-reuse": ("float", "share of synthetic CBC reports copied from another image"),
    "--cell-overlap": ("float", "extra depth synthetic cells may overlap, share of r1 + r2 (thick smears)"),
    "--rounded-edge": ("float", "outer share of a synthetic cell's radius over which it thins to nothing"),
    "--defocus": ("float", "largest defocus halo strength a synthetic image may draw (0: in focus)"),
    "--no-tiles": ("flag", "skip AneRBC-II"),
    "--layout": ("choice", "how the input folder is organised"),
    "--metadata": ("path", "CSV naming images, classes and masks"),
    "--class-map": ("text", "labels of other class names: NAME=VALUE,... or a .yaml/.csv file"),
    "--allow-outside-root": ("flag", "let --metadata name files outside ROOT"),
    "--remove-specks": ("int", "with --fix: drop cell specks under N pixels"),
    "--fill-holes": ("int", "with --fix: fill holes under N pixels"),
    "--splits": ("path", "CSV/Parquet with sample_id, split columns"),
    "--hamming-radius": ("int", "near-duplicate hash distance in bits"),
    "--hb-source": ("choice", "haemoglobin band table (WHO 2011)"),
    "--tile-cols": ("int", "tiles across"),
    "--tile-rows": ("int", "tiles down"),
    "--tile-width": ("int", "tile width in pixels"),
    "--tile-height": ("int", "tile height in pixels"),
    "--split-ratios": ("text", "train,validation,test shares of parent images"),
    "--folds": ("int", "cross-validation folds (0 = none)"),
    "--model-size": ("int", "side of the model config's square images"),
    "--hdf5-codec": ("choice", "HDF5 compression"),
    "--allow-invalid": ("flag", "build despite validation errors (recorded in the card)"),
    "--no-audit": ("flag", "skip the audit"),
    "--quick": ("flag", "checksums and counts only"),
    "--batch-size": ("int", "samples per batch"),
    "--keep": ("flag", "keep the generated data"),
    "--manifest": ("path", "a manifest .parquet written by ingest"),
    "--source": ("choice (repeatable)", "AneRBC part: AneRBC-I and/or AneRBC-II"),
    "--fast-codec": ("flag", "also build HDF5 with blosc-lz4"),
    "--fast-codec-dir": ("path", "a second build written with --hdf5-codec blosc-lz4"),
    "--split": ("choice", "one split: train, validation or test"),
    "--max-items": ("int", "at most this many samples"),
    "--max-images": ("int", "at most this many images"),
    "--repeats": ("int", "passes per method; the fastest counts"),
    "--realdata": ("path", "folder of real data (AneRBC-I, Chula, BCCD); skipped parts when absent"),
    "--n-synthetic": ("int", "synthetic images"),
    "--fit-only": ("flag", "re-fit the severity cut on its fitting set, print it and stop"),
    "--cells": ("flag", "per-cell appearance: radial profiles, pallor, size and shape per class (--no-cells: not)"),
    "--c2st": ("flag", "classifier two-sample test: can a classifier tell real from synthetic? (--no-c2st: not)"),
    "--cnn": ("flag", "also run the test with a small CNN (--no-cnn: features only)"),
    "--crops-per-image": ("int", "random crops taken from each image"),
    "--sheet": ("path", "a JPEG of side-by-side real and synthetic crops, outside both input folders"),
    "--real": ("path", "real AneRBC-I folder"),
    "--synthetic": ("path", "synthetic dataset folder"),
    "--masks": ("path", "folder of cell masks <stem>.png"),
    "--model": ("path", "a cell-model folder of `annotate fit` or `annotate pretrain`"),
    "--cell-model": ("path (repeatable)", "a cell-model folder to score; repeat it to compare models"),
    "--init": ("path", "a cell-model folder a fit continues from"),
    "--scratch": ("flag", "fit a new network instead of continuing from a model"),
    "--steps-per-epoch": ("int", "training batches per epoch"),
    "--validation-images": ("int", "annotated images held back to choose the epoch"),
    "--rehearsal": ("float", "share of each training batch cropped from synthetic smears"),
    "--zoom": ("float", "training crops resized by up to 1 + zoom either way (0: native size)"),
    "--max-minutes": ("float", "stop training after the epoch that passes this wall time"),
    "--curve-folds": ("int", "held-out images a learning curve is measured on"),
    "--recipes": ("text", "fit recipes, comma-separated (benchmarks/toolkit/annotate_fit_recipes.py)"),
    "--arms": (
        "text",
        "pretraining recipes OVERLAP/HUE or OVERLAP/HUE/ZOOM (cell overlap, hue turn, crop zoom), comma-separated",
    ),
    "--synth-seeds": ("text", "seeds of synthetic smears, comma-separated"),
    "--curve-recipes": ("text", "fit recipes that also get learning-curve folds"),
    "--budget-s": ("float", "seconds after which a benchmark starts no new job (finished ones are kept)"),
    "--max-epochs": ("int", "cap on every recipe's training epochs (0: none)"),
    "--skip-folds": ("flag", "no leave-one-out folds: only the fit on all pairs and what uses it"),
    "--instances": ("path", "folder of 16-bit instance label maps <stem>.png"),
    "--um-per-px": ("float", "pixel size in micrometres"),
    "--cell-types": ("path", "folder of <stem>.csv cell types"),
    "--category": ("text", "COCO category of untyped cells"),
    "--points": ("path", "folder of Chula point label files"),
    "--voc": ("path", "folder of Pascal VOC XML boxes"),
    "--images": ("path", "folder of the images annotations were drawn on"),
    "--iou-threshold": ("float", "IoU at which two instances match"),
    "--a": ("path", "annotation A: masks or instance maps <stem>.png"),
    "--b": ("path", "annotation B, compared with A"),
    "--max-size": ("int", "longest side of written images in pixels (0: full size)"),
    "--examples": ("int", "tiles shown per class and model, correct and wrong ones each"),
    "--preset": ("choice", "named settings of rbc-bench (cpu-smoke, cpu-native, cpu-image, gpu)"),
    "--models": ("text", "model names, comma-separated (rbc-bench list)"),
    "--epochs": ("int", "training epochs"),
    "--input-size": ("int", "side the shards are resized to (0: stored size)"),
    "--crop-size": ("int", "side of the random native-resolution training crops (0: whole inputs)"),
    "--colour-jitter": ("float", "strength of the colour augmentation (0: off)"),
    "--patience": ("int", "early stopping: epochs without a better validation score (0: off)"),
    "--device": ("choice", "where models train: auto, cpu or cuda"),
    "--data-mode": ("choice", "memory (decode once) or loader (read shards per batch)"),
    "--weights-dir": ("path", "folder of local ImageNet weights <model>.pth"),
    "--compile": ("flag", "torch.compile the models (--no-compile: not)"),
    "--cv": ("flag", "k-fold cross-validation over train+validation"),
    "--test-data": ("path", "an external test: another build's test split (same classes, no shared parents)"),
    "--protocol": ("text", "parents (honest split by parent image, default) or leaky-tiles (leaky demonstration)"),
    "--resume": ("path", "an unfinished run folder to continue"),
    "--resamples": ("int", "bootstrap resamples"),
    "--steps": ("int", "timed training steps"),
    "--torch-threads": ("int", "training threads (0: the cores left after the loader workers)"),
    "--version": ("flag", "print the version and exit"),
    "--install-completion": ("flag", "install shell completion for the current shell"),
    "--show-completion": ("flag", "print the shell completion script"),
}


def _exists(path: str | os.PathLike) -> bool:
    return os.path.lexists(path)  # a link is reported by the library (where it points), not called missing


def expand_path(value):
    """Callback of every path parameter: ``~`` and ``~user`` expanded (the shell leaves them inside quotes)."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return type(value)(expand_path(v) for v in value)
    return type(value)(os.path.expanduser(value))


def existing_path(value):
    """Callback of every input path: ``~`` expanded, and a path with nothing there is a usage error (exit 2).

    Runs while the command line is parsed, so the answer comes before any command loads torch or datasets.
    """
    value = expand_path(value)
    for path in value if isinstance(value, list | tuple) else [value]:
        if path is not None and not _exists(path):
            where = "" if Path(path).is_absolute() else f" (relative to {Path.cwd()})"
            raise typer.BadParameter(
                f"no such file or folder: {path}{where}; expected an existing input. Fix: check the path "
                "(quote a path that has spaces)"
            )
    return value


def renamed_option(token: str) -> str:
    """click's token normaliser: an old option spelling becomes the new one, with a note on stderr."""
    new = RENAMED_OPTIONS.get(token)
    if new is None:
        return token
    print(f"note: --{token} is now --{new}; the old name will be removed in a later release", file=sys.stderr)
    return new


APP_SETTINGS = {"token_normalize_func": renamed_option}


def version_option(program: str):
    """A ``--version`` option for the app callback of ``program``: prints ``program VERSION`` and exits 0."""

    def show(value: bool) -> None:
        if value:
            from rbc_dataset import __version__

            typer.echo(f"{program} {__version__}")
            raise typer.Exit()

    return typer.Option("--version", callback=show, is_eager=True, help="Print the version and exit.")


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", callback=existing_path, help="YAML file of options (options given here win)."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
WorkersOption = Annotated[int | None, typer.Option("--workers", help="Processes to use (default: all cores).")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
LoaderWorkersOption = Annotated[
    int | None, typer.Option("--loader-workers", help="PyTorch DataLoader worker processes.")
]

# Parameter names of the commands' output options: a full disk names the first one given.
OUTPUT_OPTIONS = ("out", "fix", "out_dir", "report")


def fail_cleanly(command):
    """Turn the toolkit's own errors, a full disk and SIGINT/SIGTERM into one message and the documented exit code.

    Exit codes: 1 data problem or full disk, 2 usage error or a missing extra (torch ...), 130 Ctrl-C, 143 SIGTERM.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from rbc_dataset.console import print_error, print_interrupted
        from rbc_dataset.extras import missing_extra
        from rbc_dataset.faults import disk_full_error, signals_as_interrupt

        try:
            with signals_as_interrupt():
                return command(*args, **kwargs)
        except RBCError as exc:
            print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (faults.Interrupted)
            print_interrupted(exc)
            raise typer.Exit(getattr(exc, "exit_code", 130)) from None
        except Exception as exc:
            outputs = [kwargs[k] for k in OUTPUT_OPTIONS if isinstance(kwargs.get(k), Path)]
            error = missing_extra(exc) or disk_full_error(exc, outputs=outputs)  # a missing extra: which one to install
            if error is None:
                raise
            print_error(error)
            raise typer.Exit(error.exit_code) from None

    return wrapper


def csv_list(value: str | None, *, cast=str, option: str = "the option") -> tuple | None:
    """A comma-separated option value as a tuple of ``cast`` values (None when the option was not given).

    Raises:
        UsageError: a value ``cast`` refuses, naming ``option`` and what it expects.
    """
    try:
        return None if value is None else tuple(cast(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        kind = {int: "whole numbers", float: "numbers"}.get(cast, "values")
        raise UsageError(f"{option} expects comma-separated {kind}, got {value!r}") from None


def print_text(text: str) -> None:
    """Print a line as plain text: no markup (``[skipped]`` and names stay as written), no highlighting."""
    from rich.console import Console

    Console().print(text, highlight=False, soft_wrap=True, markup=False)
