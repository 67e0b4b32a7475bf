"""``rbc-bench run``, ``list``, ``score`` and ``report``: thin commands over ``benchmarks.suite`` and ``evaluation``.

Exit codes: 0 ok, 1 data problem (or a re-score that does not reproduce), 2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from benchmarks.suite.suites import SUITES
from benchmarks.training.presets import DATA_MODES, DEVICES, PRESETS
from rbc_dataset.cli_options import (
    DataConfig,
    LoaderWorkersOption,
    QuietOption,
    ShardFormat,
    existing_path,
    expand_path,
)

SuiteName = Literal[tuple(SUITES)]
PresetName = Literal[tuple(PRESETS)]
Device = Literal[DEVICES]
DataMode = Literal[DATA_MODES]


def _default_preset() -> str:
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu-smoke"


def _print(text: str) -> None:
    from rich.console import Console

    Console().print(text, highlight=False, soft_wrap=True, markup=False)  # "[skipped]" and names stay text


def register(app: typer.Typer) -> None:
    """Add the model-benchmark commands to ``rbc-bench``: run, list, score, report, train-speed."""
    _register_run(app)
    _register_results(app)
    register_speed(app)


def _register_run(app: typer.Typer) -> None:
    from cli import _csv_list, _fail_cleanly

    @app.command("run")
    @_fail_cleanly
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
        batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size per process.")] = None,
        device: Annotated[Device | None, typer.Option("--device", help="Where to train.")] = None,
        num_workers: LoaderWorkersOption = None,
        data_mode: Annotated[DataMode | None, typer.Option("--data-mode", help="How batches are fed.")] = None,
        weights_dir: Annotated[
            Path | None,
            typer.Option(
                "--weights-dir", callback=existing_path, help="Local ImageNet weights <model>.pth (no download)."
            ),
        ] = None,
        compile_model: Annotated[bool | None, typer.Option("--compile/--no-compile", help="torch.compile.")] = None,
        fmt: Annotated[ShardFormat, typer.Option("--format", help="Shards to read.")] = "hdf5",
        data_config: Annotated[DataConfig, typer.Option("--data-config", help="Dataset config to read.")] = "model",
        cv: Annotated[bool, typer.Option("--cv", help="k-fold CV over train+validation (all folds).")] = False,
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
        from benchmarks.suite.request import RunRequest, check_names, check_request
        from benchmarks.training.data import check_built_dir
        from benchmarks.training.presets import Preset, resolve_preset
        from rbc_dataset.config_file import checked_values, load_config_file

        # Every name and value is checked before torch loads (seconds) or anything trains.
        model_list = _csv_list(models, option="--models") or ()
        check_names(suite, preset, model_list, fmt, data_config)
        values = {
            "seeds": _csv_list(seeds, int, option="--seeds"),
            "epochs": epochs,
            "input_size": input_size,
            "batch_size": batch_size,
            "device": device,
            "num_workers": num_workers,
            "data_mode": data_mode,
            "weights_dir": None if weights_dir is None else str(weights_dir),
            "compile": compile_model,
        }
        from_file = load_config_file(config)
        checked_values(Preset, from_file, values, config, exclude=("name",))
        if preset is None:  # the default preset asks torch for CUDA: a mistyped --data answers before that
            check_built_dir(data)
        resolved = resolve_preset(preset or _default_preset(), from_file, values, config)  # checks value ranges
        check_built_dir(data)  # command-line values first, then the data they apply to
        request = RunRequest(suite, data, resolved, out_dir, model_list, fmt, data_config, cv, resume, not quiet)
        check_request(request)
        from benchmarks.suite.runner import run_suite
        from rbc_dataset.progress import library_bars

        with library_bars(not quiet):
            result = run_suite(request)
        _print_result(result)


def _register_results(app: typer.Typer) -> None:
    from cli import _fail_cleanly

    @app.command("list")
    @_fail_cleanly
    def list_command(
        pattern: Annotated[str, typer.Argument(help="fnmatch pattern of model names, e.g. 'res*'.")] = "*",
    ) -> None:
        """Registered models, suites and presets."""
        from benchmarks.suite.listing import print_listing

        print_listing(pattern)

    @app.command("score")
    @_fail_cleanly
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

    @app.command("report")
    @_fail_cleanly
    def report(
        run_dirs: Annotated[list[Path], typer.Argument(callback=existing_path, help="One or more run folders.")],
        out: Annotated[
            Path,
            typer.Option("--out", callback=expand_path, help="Report folder (leaderboard.md/.csv, PNG plots)."),
        ] = Path("runs/report"),
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing report folder.")] = False,
    ) -> None:
        """Leaderboard (Markdown + CSV) and plots (confusion matrices, ROC curves, per-tier accuracy) of runs."""
        from benchmarks.evaluation.report import write_report

        written = write_report(list(run_dirs), out, overwrite=overwrite)
        _print(f"wrote {out}: {', '.join(sorted(written['files']))}")
        for sentence in written["shortcuts"]:
            _print(f"confounded: {sentence}")
        from benchmarks.evaluation.terminal import print_warnings

        print_warnings(written["warnings"])


def register_speed(app: typer.Typer) -> None:
    """Add ``train-speed`` (loader-fed against in-memory training throughput) to ``rbc-bench``."""
    from cli import _csv_list, _fail_cleanly

    @app.command("train-speed")
    @_fail_cleanly
    def train_speed(
        data: Annotated[
            Path, typer.Option("--data", callback=existing_path, help="A folder written by `rbc-dataset build`.")
        ],
        models: Annotated[
            str, typer.Option("--models", help="Torch models, comma-separated.")
        ] = "3tier,resnet18,mobilenet_v2",
        preset: Annotated[PresetName | None, typer.Option("--preset", help="Settings (default: by device).")] = None,
        steps: Annotated[int, typer.Option("--steps", help="Timed training steps per model and source.")] = 20,
        repeats: Annotated[int, typer.Option("--repeats", help="Passes per source; the fastest counts.")] = 1,
        torch_threads: Annotated[int, typer.Option("--torch-threads", help="Training threads (0: torch's).")] = 0,
        num_workers: LoaderWorkersOption = None,
        batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size.")] = None,
        json_out: Annotated[Path, typer.Option("--json", callback=expand_path, help="Results file.")] = Path(
            "bench_out/train_speed.json"
        ),
    ) -> None:
        """Training images/s per model fed by the shard loader and by in-memory tensors (target: >= 90 %)."""
        from benchmarks.toolkit.train_speed import run_train_speed
        from benchmarks.training.presets import resolve_preset

        values = {"num_workers": num_workers, "batch_size": batch_size}
        resolved = resolve_preset(preset or _default_preset(), {}, values)
        run_train_speed(data, _csv_list(models), resolved, steps, json_out, repeats, torch_threads=torch_threads)


def _print_result(result) -> None:
    from benchmarks.suite.listing import print_run_leaderboard

    if not result.is_main:  # under torchrun every process returns here; one leaderboard is enough
        return
    print_run_leaderboard(result.path)
    for model, reason in result.skipped.items():
        _print(f"[skipped] {model}: {reason}")
    _print(f"run folder: {result.path}")
