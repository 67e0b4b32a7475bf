"""``rbc-bench``: the model benchmark's commands (run, list, score, report) and the toolkit benchmarks' panel.

Thin: each command checks its names and values before torch loads, then calls ``benchmarks.suite`` or
``benchmarks.evaluation``. The toolkit benchmarks (``benchmarks.toolkit.commands``) are listed in their own
help panel. Exit codes: 0 ok, 1 data problem (or a re-score that does not reproduce), 2 usage error.
``cli.py`` exposes ``app`` as the ``rbc-bench`` entry point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from benchmarks.suite.suites import SUITES
from benchmarks.toolkit import commands as toolkit_commands
from benchmarks.training.presets import DATA_MODES, DEVICES, PRESETS
from rbc_dataset.cli_options import (
    APP_SETTINGS,
    DataConfig,
    LoaderWorkersOption,
    QuietOption,
    ShardFormat,
    csv_list,
    existing_path,
    expand_path,
    fail_cleanly,
    print_text,
    version_option,
)

SuiteName = Literal[tuple(SUITES)]
PresetName = Literal[tuple(PRESETS)]
Device = Literal[DEVICES]
DataMode = Literal[DATA_MODES]
MODEL_PANEL = "Model benchmark"

HELP = "Train and score models on built shards (run, list, score, report); benchmarks of the toolkit itself."
app = typer.Typer(name="rbc-bench", help=HELP, no_args_is_help=True, add_completion=True, context_settings=APP_SETTINGS)


@app.callback()
def _options(version: Annotated[bool, version_option("rbc-bench")] = False) -> None:
    """Train and score models on built shards (run, list, score, report); benchmarks of the toolkit itself."""


@app.command("run", rich_help_panel=MODEL_PANEL)
@fail_cleanly
def run(
    suite: Annotated[SuiteName, typer.Argument(help="Suite to run (see `rbc-bench list`).")],
    data: Annotated[
        Path, typer.Option("--data", callback=expand_path, help="A folder written by `rbc-dataset build`.")
    ],
    preset: Annotated[
        PresetName | None, typer.Option("--preset", help="Settings (default: gpu when CUDA is visible).")
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", callback=expand_path, help="Run folders go to OUT/<suite>/.")
    ] = Path("runs"),
    models: Annotated[str | None, typer.Option("--models", help="Models, comma-separated.")] = None,
    seeds: Annotated[str | None, typer.Option("--seeds", help="Comma-separated seeds.")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Epochs of CNNs and of the fusion stage.")] = None,
    input_size: Annotated[int | None, typer.Option("--input-size", help="Side of the square model input.")] = None,
    crop_size: Annotated[
        int | None, typer.Option("--crop-size", help="Train on random crops of this side at native size (0: off).")
    ] = None,
    colour_jitter: Annotated[
        float | None, typer.Option("--colour-jitter", help="Colour augmentation strength (0: off).")
    ] = None,
    patience: Annotated[
        int | None, typer.Option("--patience", help="Early stopping after N epochs without improvement (0: off).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size per process.")] = None,
    device: Annotated[Device | None, typer.Option("--device", help="Where to train.")] = None,
    torch_threads: Annotated[
        int | None, typer.Option("--torch-threads", help="Training threads (0: cores left after loader workers).")
    ] = None,
    num_workers: LoaderWorkersOption = None,
    data_mode: Annotated[DataMode | None, typer.Option("--data-mode", help="How batches are fed.")] = None,
    weights_dir: Annotated[
        Path | None,
        typer.Option("--weights-dir", callback=existing_path, help="Local ImageNet weights <model>.pth (no download)."),
    ] = None,
    compile_model: Annotated[bool | None, typer.Option("--compile/--no-compile", help="torch.compile.")] = None,
    fmt: Annotated[ShardFormat, typer.Option("--format", help="Shards to read.")] = "hdf5",
    data_config: Annotated[DataConfig, typer.Option("--data-config", help="Dataset config to read.")] = "model",
    cv: Annotated[bool, typer.Option("--cv", help="k-fold CV over train+validation (all folds).")] = False,
    protocol: Annotated[
        str,
        typer.Option("--protocol", help="parents (honest), or leaky-tiles: a marked demonstration of a leaky split."),
    ] = "parents",
    test_data: Annotated[
        Path | None,
        typer.Option("--test-data", callback=existing_path, help="External test: another build's test split."),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", callback=existing_path, help="Unfinished run folder (.*.partial)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", callback=existing_path, help="YAML of preset keys (CLI wins).")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Train and score a suite on a build's splits; writes a run folder and prints the leaderboard."""
    from benchmarks.api import run_benchmark

    values = {
        "seeds": csv_list(seeds, cast=int, option="--seeds"),
        "epochs": epochs,
        "input_size": input_size,
        "crop_size": crop_size,
        "colour_jitter": colour_jitter,
        "patience": patience,
        "batch_size": batch_size,
        "device": device,
        "torch_threads": torch_threads,
        "num_workers": num_workers,
        "data_mode": data_mode,
        "weights_dir": None if weights_dir is None else str(weights_dir),
        "compile": compile_model,
    }
    result = run_benchmark(
        suite,
        data,
        preset=preset,
        models=csv_list(models, option="--models") or (),
        out_dir=out_dir,
        data_format=fmt,
        data_config=data_config,
        cv=cv,
        protocol=protocol,
        resume=resume,
        test_data=test_data,
        config_file=config,
        progress=not quiet,
        **values,
    )
    _print_result(result)


@app.command("list", rich_help_panel=MODEL_PANEL)
@fail_cleanly
def list_command(
    pattern: Annotated[str, typer.Argument(help="fnmatch pattern of model names, e.g. 'res*'.")] = "*",
) -> None:
    """Registered models, suites and presets."""
    from benchmarks.suite.listing import print_listing

    print_listing(pattern)


@app.command("score", rich_help_panel=MODEL_PANEL)
@fail_cleanly
def score(
    run_dir: Annotated[
        Path, typer.Argument(callback=existing_path, help="A run folder (runs/<suite>/<timestamp>_<sha>).")
    ],
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples.")] = 0,
) -> None:
    """Re-score a run from its prediction files and compare with its metrics.csv (exit 1 if they differ)."""
    from benchmarks.suite.listing import rescore

    if not rescore(run_dir, resamples or None):
        raise typer.Exit(1)


@app.command("report", rich_help_panel=MODEL_PANEL)
@fail_cleanly
def report(
    run_dirs: Annotated[list[Path], typer.Argument(callback=existing_path, help="One or more run folders.")],
    out: Annotated[
        Path,
        typer.Option("--out", callback=expand_path, help="Report folder (leaderboard.md/.csv, PNG plots)."),
    ] = Path("runs/report"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing report folder.")] = False,
) -> None:
    """Leaderboard, calibration (reliability, ECE, Brier), recall per severity, per-parent errors, learning curves."""
    from benchmarks.evaluation.report import write_report

    written = write_report(list(run_dirs), out, overwrite=overwrite)
    print_text(f"wrote {out}: {', '.join(sorted(written['files']))}")
    for sentence in written["shortcuts"]:  # confounded (interval above chance) first, then possible ones
        print_text(f"shortcut check: {sentence}")
    from benchmarks.evaluation.terminal import print_warnings

    print_warnings(written["warnings"])


@app.command("explain", rich_help_panel=MODEL_PANEL)
@fail_cleanly
def explain(
    run_dir: Annotated[
        Path, typer.Argument(callback=existing_path, help="A finished run folder (runs/<suite>/<timestamp>_<sha>).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", callback=expand_path, help="Gallery folder (default: RUN/explain).")
    ] = None,
    models: Annotated[str | None, typer.Option("--models", help="Torch models of the run (default: all).")] = None,
    examples: Annotated[int, typer.Option("--examples", help="Correct and wrong tiles per class and model.")] = 2,
    max_items: Annotated[int, typer.Option("--max-items", help="Test tiles of the sanity checks.")] = 24,
    data: Annotated[
        Path | None, typer.Option("--data", callback=existing_path, help="The run's build, if it has moved.")
    ] = None,
    device: Annotated[Device, typer.Option("--device", help="Where the models run.")] = "cpu",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier gallery.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Grad-CAM gallery of a run's torch models on test tiles, with the randomisation and abnormal-cell checks."""
    from benchmarks.explain import explain_run

    result = explain_run(
        run_dir,
        out=out,
        models=tuple(csv_list(models, option="--models") or ()),
        examples=examples,
        max_items=max_items,
        data=data,
        device=device,
        overwrite=overwrite,
        show_progress=not quiet,
        log=print_text,
    )
    print_text(f"wrote {result.out / 'index.html'} and explain.json in {result.seconds:.1f} s")


@app.command("external-test", rich_help_panel=MODEL_PANEL)
@fail_cleanly
def external_test_command(
    run_dir: Annotated[
        Path, typer.Argument(callback=existing_path, help="A finished run folder (runs/<suite>/<timestamp>_<sha>).")
    ],
    test_data: Annotated[
        Path, typer.Option("--test-data", callback=existing_path, help="The build whose test split is scored.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", callback=expand_path, help="Output folder (default: SUITE/external/RUN_on_BUILD)."),
    ] = None,
    models: Annotated[str | None, typer.Option("--models", help="Torch models of the run (default: all).")] = None,
    data_config: Annotated[
        DataConfig | None, typer.Option("--data-config", help="Dataset config of the test build (default: the run's).")
    ] = None,
    fmt: Annotated[ShardFormat | None, typer.Option("--format", help="Shards to read (default: the run's).")] = None,
    device: Annotated[Device, typer.Option("--device", help="Where the models run.")] = "cpu",
    quiet: QuietOption = False,
) -> None:
    """Score a finished run's torch models on another build's test split; prints the shortcut reliance."""
    import json

    from benchmarks.suite.external import external_test

    written = external_test(
        run_dir,
        test_data=test_data,
        out=out,
        data_config=data_config,
        fmt=fmt,
        models=tuple(csv_list(models, option="--models") or ()),
        device=device,
        show_progress=not quiet,
    )
    summary = json.loads((written / "summary.json").read_text(encoding="utf-8"))
    for model, entry in summary["models"].items():
        low, high = entry["external_ci"]
        print_text(
            f"{model}: balanced accuracy internal {entry['internal_balanced_accuracy']:.3f}, external "
            f"{entry['external_balanced_accuracy']:.3f} [{low:.3f}, {high:.3f}]; "
            f"shortcut reliance {entry['shortcut_reliance']:+.3f}"
        )
    for model, reason in summary["skipped"].items():
        print_text(f"[skipped] {model}: {reason}")
    print_text(f"external test folder: {written}")


def _print_result(result) -> None:
    from benchmarks.suite.listing import print_run_leaderboard

    if not result.is_main:  # under torchrun every process returns here; one leaderboard is enough
        return
    print_run_leaderboard(result.path)
    for model, reason in result.skipped.items():
        print_text(f"[skipped] {model}: {reason}")
    print_text(f"run folder: {result.path}")


toolkit_commands.register(app)  # after the model benchmark: its panel comes second in --help
