"""Command-line entry points ``rbc-dataset`` and ``rbc-bench``.

Thin by design: each command parses options, builds a config, calls one library function and prints a
summary. Heavy libraries (torch, datasets) are imported inside commands so that ``--help`` is instant.
Exit codes: 0 ok, 1 data problem found, 2 usage error.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from rbc_dataset.errors import RBCError

dataset_app = typer.Typer(
    name="rbc-dataset",
    help="Curate red-blood-cell microscopy datasets (AneRBC and your own): synthesise, ingest, check, build.",
    no_args_is_help=True,
    add_completion=False,
)
bench_app = typer.Typer(
    name="rbc-bench",
    help="Train and score models on built shards (run, list, score, report); benchmarks of the toolkit itself.",
    no_args_is_help=True,
    add_completion=False,
)


annotate_app = typer.Typer(
    name="annotate",
    help="Make new ground truth: mask proposals, instances, morphometry, severity, COCO, agreement, review.",
    no_args_is_help=True,
    add_completion=False,
)
dataset_app.add_typer(annotate_app, name="annotate")


# Parameter names of the commands' output options: a full disk names the first one given.
OUTPUT_OPTIONS = ("out", "fix", "out_dir", "report")


def _fail_cleanly(command):
    """Turn the toolkit's own errors, a full disk and SIGINT/SIGTERM into one message and the documented exit code.

    Exit codes: 1 data problem or full disk, 2 usage error, 130 Ctrl-C, 143 SIGTERM.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from rbc_dataset.console import print_error, print_interrupted
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
            error = disk_full_error(exc, outputs)
            if error is None:
                raise
            print_error(error)
            raise typer.Exit(error.exit_code) from None

    return wrapper


ConfigOption = Annotated[Path | None, typer.Option("--config", help="YAML file of options (CLI options win).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
WorkersOption = Annotated[int | None, typer.Option("--workers", help="Processes to use (default: all cores).")]


@dataset_app.command()
@_fail_cleanly
def synth(
    out: Annotated[Path, typer.Option("--out", help="Output folder (gets AneRBC_dataset/ and synthetic_truth/).")],
    n_images: Annotated[int | None, typer.Option("--n-images", help="AneRBC-I images per class (default 4).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed; same seed, same bytes (default 0).")] = None,
    mask_style: Annotated[
        str | None, typer.Option("--mask-style", help="binary (clean 0/255) or anerbc (as released, default).")
    ] = None,
    defects: Annotated[
        float | None, typer.Option("--defects", help="Share of pairs given a known defect (default 0).")
    ] = None,
    shortcut: Annotated[
        list[str] | None, typer.Option("--shortcut", help="Plant a confound: colour and/or mask (repeatable).")
    ] = None,
    tile_order: Annotated[
        str | None, typer.Option("--tile-order", help="AneRBC-II tile order: row-major or column-major.")
    ] = None,
    cbc_reuse: Annotated[
        float | None, typer.Option("--cbc-reuse", help="Share of CBC reports copied from another image.")
    ] = None,
    no_tiles: Annotated[bool, typer.Option("--no-tiles", help="Skip AneRBC-II.")] = False,
    workers: WorkersOption = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder.")] = False,
    config: ConfigOption = None,
    quiet: QuietOption = False,
) -> None:
    """Write a synthetic dataset in the exact AneRBC layout, with full ground truth in a sidecar folder."""
    from rbc_dataset.config_file import resolve_config
    from rbc_dataset.console import print_synth_summary
    from rbc_dataset.synth.config import SynthConfig
    from rbc_dataset.synth.generate import synthesize

    cli_values = {
        "n_images": n_images,
        "seed": seed,
        "mask_style": mask_style,
        "defect_rate": defects,
        "shortcuts": tuple(shortcut) if shortcut else None,
        "tile_order": tile_order,
        "cbc_reuse": cbc_reuse,
        "with_tiles": False if no_tiles else None,
        "workers": workers,
    }
    summary = synthesize(resolve_config(SynthConfig, config, cli_values), out, overwrite, show_progress=not quiet)
    print_synth_summary(summary)


@dataset_app.command()
@_fail_cleanly
def ingest(
    root: Annotated[Path, typer.Argument(help="Folder holding the dataset anywhere below it.")],
    out: Annotated[
        Path, typer.Option("--out", help="Manifest to write (Parquet); a .report.json goes beside it.")
    ] = Path("manifest.parquet"),
    layout: Annotated[str, typer.Option("--layout", help="auto, anerbc, folder or csv.")] = "auto",
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata",
            help="CSV with image, class[, mask, group, split, sample_id] columns; relative paths are read from the "
            "CSV's folder and every file must lie inside ROOT.",
        ),
    ] = None,
    tile_order: Annotated[
        str | None, typer.Option("--tile-order", help="Override the detected AneRBC-II tile order.")
    ] = None,
    class_map: Annotated[
        str | None,
        typer.Option(
            "--class-map",
            help="Labels of other class names: NAME=VALUE,... or a .yaml/.csv file; VALUE is healthy, anaemic, 0, 1 "
            "or unlabelled (e.g. normal_rbc=healthy,ida=anaemic). Unknown class names are errors.",
        ),
    ] = None,
    allow_outside_root: Annotated[
        bool,
        typer.Option("--allow-outside-root", help="Let --metadata name files outside ROOT (they are only read)."),
    ] = False,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """Index every image, mask, report and checksum under ROOT into one manifest table."""
    from rbc_dataset.console import print_ingest_summary
    from rbc_dataset.ingest import ingest as run_ingest

    result = run_ingest(
        root,
        out,
        layout,
        metadata,
        tile_order,
        workers or 0,
        show_progress=not quiet,
        class_map=class_map,
        allow_outside_root=allow_outside_root,
    )
    print_ingest_summary(result)
    if any(issue.severity == "error" for issue in result.issues):
        raise typer.Exit(1)


@dataset_app.command("validate-masks")
@_fail_cleanly
def validate_masks_command(
    source: Annotated[Path, typer.Argument(help="Dataset folder (ingested on the fly) or a manifest .parquet.")],
    report: Annotated[Path | None, typer.Option("--report", help="JSON report path (.md/.html beside it).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Folder for the report (default: cwd).")] = None,
    fix: Annotated[Path | None, typer.Option("--fix", help="Write canonical 0/255 masks + provenance here.")] = None,
    remove_specks: Annotated[
        int | None, typer.Option("--remove-specks", help="With --fix: drop cell specks under N px.")
    ] = None,
    fill_holes: Annotated[int | None, typer.Option("--fill-holes", help="With --fix: fill holes under N px.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --fix folder.")] = False,
    workers: WorkersOption = None,
    config: ConfigOption = None,
    quiet: QuietOption = False,
) -> None:
    """Check every image/mask pair and report every finding (exit 1 when there are errors)."""
    from rbc_dataset.config_file import resolve_config
    from rbc_dataset.console import print_validation_summary
    from rbc_dataset.errors import UsageError
    from rbc_dataset.validate import ValidateConfig, validate_masks

    if fix is None and (remove_specks or fill_holes):
        raise UsageError("--remove-specks and --fill-holes only apply with --fix OUT")
    settings = resolve_config(ValidateConfig, config, {"workers": workers})
    result = validate_masks(
        source, report, out_dir, fix, remove_specks, fill_holes, settings, overwrite, show_progress=not quiet
    )
    print_validation_summary(result)
    if result.counts["error"]:
        raise typer.Exit(1)


@dataset_app.command()
@_fail_cleanly
def audit(
    source: Annotated[Path, typer.Argument(help="Dataset folder (ingested on the fly) or a manifest .parquet.")],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for audit.json and audit.md.")] = Path("."),
    splits: Annotated[Path | None, typer.Option("--splits", help="CSV/Parquet with sample_id, split columns.")] = None,
    hamming_radius: Annotated[
        int | None, typer.Option("--hamming-radius", help="Near-duplicate hash distance.")
    ] = None,
    hb_source: Annotated[
        str | None, typer.Option("--hb-source", help="Hb band table: who2011_women or who2011_men.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the bootstrap intervals.")] = None,
    workers: WorkersOption = None,
    config: ConfigOption = None,
    quiet: QuietOption = False,
) -> None:
    """Find duplicates, shortcuts, CBC report problems and split leakage (exit 1 when there are errors)."""
    from rbc_dataset.audit import AuditConfig
    from rbc_dataset.audit import audit as run_audit
    from rbc_dataset.config_file import resolve_config
    from rbc_dataset.console import print_audit_summary

    cli_values = {"hamming_radius": hamming_radius, "hb_source": hb_source, "seed": seed, "workers": workers}
    result = run_audit(source, out_dir, splits, resolve_config(AuditConfig, config, cli_values), not quiet)
    print_audit_summary(result)
    if result.has_errors:
        raise typer.Exit(1)


def _csv_list(value: str | None, cast=str, option: str = "the option") -> tuple | None:
    from rbc_dataset.errors import UsageError

    try:
        return None if value is None else tuple(cast(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        kind = {int: "whole numbers", float: "numbers"}.get(cast, "values")
        raise UsageError(f"{option} expects comma-separated {kind}, got {value!r}") from None


@dataset_app.command()
@_fail_cleanly
def tile(
    source: Annotated[Path, typer.Argument(help="Dataset folder (ingested on the fly) or a manifest .parquet.")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the AneRBC-II-style tiles.")],
    order: Annotated[
        str | None, typer.Option("--tile-order", help="row-major or column-major (default: as detected, else row).")
    ] = None,
    cols: Annotated[int, typer.Option("--tile-cols", help="Tiles across.")] = 4,
    rows: Annotated[int, typer.Option("--tile-rows", help="Tiles down.")] = 3,
    width: Annotated[int, typer.Option("--tile-width", help="Tile width in pixels.")] = 306,
    height: Annotated[int, typer.Option("--tile-height", help="Tile height in pixels.")] = 320,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder.")] = False,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """Cut full images into grid tiles with parent ids; compare with the input's own tiles (exit 1 if they differ)."""
    from rbc_dataset.build.tiling import TileGrid, tile_dataset
    from rbc_dataset.console import print_tile_summary

    grid = None if order is None else TileGrid(cols, rows, width, height, order)
    if grid is None and (cols, rows, width, height) != (4, 3, 306, 320):
        raise typer.BadParameter("give --tile-order with a custom grid")
    result = tile_dataset(source, out, grid, overwrite, workers or 0, not quiet)
    print_tile_summary(result)
    if result.comparison is not None and result.comparison.mismatched:
        raise typer.Exit(1)


@dataset_app.command()
@_fail_cleanly
def build(
    source: Annotated[Path, typer.Argument(help="Dataset folder (AneRBC or folder layout) or a manifest .parquet.")],
    out: Annotated[Path, typer.Option("--out", help="New dataset folder (docs/SHARDS.md).")],
    configs: Annotated[
        str | None, typer.Option("--configs", help="full,tiles,model (default: all that apply).")
    ] = None,
    formats: Annotated[str | None, typer.Option("--formats", help="hdf5,parquet (default both).")] = None,
    split_ratios: Annotated[
        str | None, typer.Option("--split-ratios", help="train,validation,test shares (default 0.8,0.1,0.1).")
    ] = None,
    folds: Annotated[int | None, typer.Option("--folds", help="Cross-validation folds (0 = none; default 5).")] = None,
    splits: Annotated[
        Path | None, typer.Option("--splits", help="Import fixed splits: CSV/Parquet with sample_id, split.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the split assignment.")] = None,
    tile_order: Annotated[str | None, typer.Option("--tile-order", help="auto, row-major or column-major.")] = None,
    model_size: Annotated[int | None, typer.Option("--model-size", help="Side of the model config (300).")] = None,
    hdf5_codec: Annotated[
        str | None, typer.Option("--hdf5-codec", help="gzip (portable), blosc-lz4 (fast, needs hdf5plugin), none.")
    ] = None,
    allow_invalid: Annotated[
        bool | None, typer.Option("--allow-invalid", help="Build despite validation errors (recorded in the card).")
    ] = None,
    no_audit: Annotated[bool, typer.Option("--no-audit", help="Skip the audit (faster; fewer split groups).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing build.")] = False,
    workers: WorkersOption = None,
    config: ConfigOption = None,
    quiet: QuietOption = False,
) -> None:
    """Validate, split without leaks, write HDF5 + Hugging Face shards and a dataset card (exit 1: data errors)."""
    from rbc_dataset.build.config import BuildConfig
    from rbc_dataset.build.run import build as run_build
    from rbc_dataset.config_file import resolve_config
    from rbc_dataset.console import print_build_summary

    cli_values = {
        "configs": _csv_list(configs),
        "formats": _csv_list(formats),
        "split_ratios": _csv_list(split_ratios, float, "--split-ratios"),
        "folds": folds,
        "seed": seed,
        "tile_order": tile_order,
        "model_size": model_size,
        "hdf5_codec": hdf5_codec,
        "allow_invalid": allow_invalid,
        "audit": False if no_audit else None,
        "workers": workers,
    }
    result = run_build(source, out, resolve_config(BuildConfig, config, cli_values), splits, overwrite, not quiet)
    print_build_summary(result)


@dataset_app.command()
@_fail_cleanly
def verify(
    folder: Annotated[Path, typer.Argument(help="A folder written by rbc-dataset build.")],
    quick: Annotated[bool, typer.Option("--quick", help="Checksums and counts only; no pixel hashes.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Also write the findings as JSON here.")] = None,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """Recompute checksums, counts and pixel hashes of a build; open it with h5py and datasets (exit 1: differences)."""
    from rbc_dataset.build.verify import verify as run_verify
    from rbc_dataset.console import print_verify_summary

    result = run_verify(folder, deep=not quick, workers=workers or 0, show_progress=not quiet)
    if report is not None:
        from rbc_dataset.build.verify import write_verify_report

        write_verify_report(result, report)
    print_verify_summary(result)
    if not result.ok:
        raise typer.Exit(1)


@dataset_app.command()
@_fail_cleanly
def show(
    folder: Annotated[Path, typer.Argument(help="A folder written by rbc-dataset build.")],
    config: Annotated[
        str | None, typer.Option("--config", help="Config to load (default: the card's default).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Batch of the PyTorch loader.")] = 8,
    workers: Annotated[int, typer.Option("--workers", help="DataLoader worker processes.")] = 2,
) -> None:
    """Load a build back through datasets.load_dataset and the PyTorch HDF5 dataset; print what came out."""
    from rbc_dataset.console import print_load_back
    from rbc_dataset.loaders.check import load_back

    print_load_back(load_back(folder, config, batch_size, workers))


@bench_app.command("synth-speed")
@_fail_cleanly
def bench_synth_speed(
    n_images: Annotated[int, typer.Option("--n-images", help="AneRBC-I images per class (500 = full scale).")] = 20,
    workers: Annotated[int, typer.Option("--workers", help="Processes.")] = 2,
    work_dir: Annotated[Path, typer.Option("--work-dir", help="Scratch folder for the generated data.")] = Path(
        "bench_out/synth"
    ),
    json_out: Annotated[Path, typer.Option("--json", help="Results file.")] = Path("bench_out/synth_speed.json"),
    keep: Annotated[bool, typer.Option("--keep", help="Keep the generated data (e.g. for ingest-speed).")] = False,
) -> None:
    """Time `synth` (images/s, peak memory) and write a JSON result."""
    from benchmarks.speed import run_synth_speed

    run_synth_speed(n_images, workers, work_dir, json_out, keep)


@bench_app.command("ingest-speed")
@_fail_cleanly
def bench_ingest_speed(
    data: Annotated[Path, typer.Option("--data", help="A synthetic dataset written by `rbc-dataset synth`.")],
    workers: Annotated[int, typer.Option("--workers", help="Processes.")] = 2,
    json_out: Annotated[Path, typer.Option("--json", help="Results file.")] = Path("bench_out/ingest_speed.json"),
) -> None:
    """Time `ingest` (files/s, hashing included, peak memory) and write a JSON result."""
    from benchmarks.speed import run_ingest_speed

    run_ingest_speed(data, workers, json_out)


@bench_app.command("validate-quality")
@_fail_cleanly
def bench_validate_quality(
    n_images: Annotated[int, typer.Option("--n-images", help="AneRBC-I images per class (tiles follow).")] = 25,
    defects: Annotated[float, typer.Option("--defects", help="Share of pairs with a planted defect.")] = 0.2,
    mask_style: Annotated[str, typer.Option("--mask-style", help="binary or anerbc.")] = "anerbc",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic set.")] = 0,
    json_out: Annotated[Path, typer.Option("--json", help="Results file.")] = Path("bench_out/validate_quality.json"),
) -> None:
    """Recall per planted defect type and false-positive rate of validate-masks on synthetic data."""
    from benchmarks.validate_bench import run_validate_quality

    run_validate_quality(n_images, defects, mask_style, seed, json_out)


@bench_app.command("validate-speed")
@_fail_cleanly
def bench_validate_speed(
    manifest: Annotated[Path, typer.Option("--manifest", help="Manifest of a (full-scale synthetic) dataset.")],
    source: Annotated[list[str] | None, typer.Option("--source", help="AneRBC-I and/or AneRBC-II.")] = None,
    json_out: Annotated[Path, typer.Option("--json", help="Results file.")] = Path("bench_out/validate_speed.json"),
) -> None:
    """validate-masks wall time against decoding the same files, with 1 and 2 processes."""
    from benchmarks.validate_bench import run_validate_speed

    run_validate_speed(manifest, source or ["AneRBC-II", "AneRBC-I"], [1, 2], json_out)


@bench_app.command("build-speed")
@_fail_cleanly
def bench_build_speed(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder or manifest to build (full-scale synthetic).")],
    work_dir: Annotated[Path, typer.Option("--work-dir", help="Where the builds go.")] = Path("bench_out/builds"),
    workers: Annotated[int, typer.Option("--workers", help="Processes.")] = 2,
    fast_codec: Annotated[bool, typer.Option("--fast-codec", help="Also build HDF5 with blosc-lz4.")] = False,
    json_out: Annotated[Path, typer.Option("--json", help="Results file.")] = Path("bench_out/build_speed.json"),
) -> None:
    """Build wall time per stage, peak memory and bytes per config and format."""
    from benchmarks.build_bench import run_build_speed

    run_build_speed(data, work_dir, workers, fast_codec, json_out)


@bench_app.command("loader-speed")
@_fail_cleanly
def bench_loader_speed(
    data: Annotated[Path, typer.Option("--data", help="A folder written by rbc-dataset build.")],
    config: Annotated[str, typer.Option("--config", help="Config to read.")] = "tiles",
    split: Annotated[str, typer.Option("--split", help="Split to read.")] = "train",
    max_items: Annotated[int, typer.Option("--max-items", help="Samples per pass.")] = 2000,
    fast_codec_dir: Annotated[
        Path | None, typer.Option("--fast-codec-dir", help="A second build with --hdf5-codec blosc-lz4.")
    ] = None,
    work_dir: Annotated[Path, typer.Option("--work-dir", help="Scratch folder (PNG export).")] = Path(
        "bench_out/loader_work"
    ),
    repeats: Annotated[int, typer.Option("--repeats", help="Passes per method; the fastest counts.")] = 1,
    json_out: Annotated[Path, typer.Option("--json", help="Results file.")] = Path("bench_out/loader_speed.json"),
) -> None:
    """Images/s into tensors per core: PNG folder, Hugging Face Parquet, HDF5 gzip, HDF5 blosc-lz4."""
    from benchmarks.loader_bench import run_loader_bench

    run_loader_bench(
        data,
        json_out=json_out,
        config=config,
        split=split,
        max_items=max_items,
        fast_codec_dir=fast_codec_dir,
        work_dir=work_dir,
        repeats=repeats,
    )


@bench_app.command("annotate-segment")
@_fail_cleanly
def bench_annotate_segment(
    realdata: Annotated[Path, typer.Option("--realdata", help="Folder with AneRBC-I, Chula, BCCD.")] = Path(
        "../shared/realdata"
    ),
    n_synthetic: Annotated[int, typer.Option("--n-synthetic", help="Synthetic images for instance AP.")] = 10,
    workers: Annotated[int, typer.Option("--workers", help="Processes.")] = 2,
    json_out: Annotated[Path, typer.Option("--json", help="Results file.")] = Path("bench_out/annotate_segment.json"),
) -> None:
    """Proposal Dice, instance AP, Chula point recall, BCCD box recall, each next to its baseline; throughput."""
    from benchmarks.annotation_segment_bench import run_segment_bench

    run_segment_bench(realdata, json_out, n_synthetic, workers)


@bench_app.command("annotate-morph")
@_fail_cleanly
def bench_annotate_morph(
    n_images: Annotated[int, typer.Option("--n-images", help="Synthetic images per class for cell types.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Evaluation seed (fitting uses another).")] = 100,
    workers: Annotated[int, typer.Option("--workers", help="Processes.")] = 2,
    json_out: Annotated[Path, typer.Option("--json", help="Results file.")] = Path("bench_out/annotate_morph.json"),
) -> None:
    """Cell-type macro-F1 with the confusion matrix, and severity accuracy, on synthetic truth."""
    from benchmarks.annotation_morph_bench import run_morph_bench

    run_morph_bench(json_out, n_images=n_images, seed=seed, workers=workers)


@bench_app.command("realism")
@_fail_cleanly
def bench_realism(
    real: Annotated[Path, typer.Option("--real", help="Real AneRBC-I folder.")] = Path("../shared/realdata/AneRBC-I"),
    synthetic: Annotated[Path, typer.Option("--synthetic", help="Synthetic dataset folder.")] = Path("demo/synthetic"),
    json_out: Annotated[Path, typer.Option("--json", help="Results file.")] = Path("bench_out/realism.json"),
    max_images: Annotated[int, typer.Option("--max-images", help="At most this many images per side.")] = 20,
) -> None:
    """Compare image statistics of synthetic and real AneRBC-I side by side."""
    from benchmarks.synth_realism import main

    main(["--real", str(real), "--synthetic", str(synthetic), "--json", str(json_out), "--max-images", str(max_images)])


if __name__ == "__main__":
    dataset_app()


def _register_annotation_commands() -> None:
    """The annotate commands live beside their library code (annotation/cli_*.py); registered once, explicitly."""
    from annotation.cli_coco import register as register_coco
    from annotation.cli_morph import register as register_morph
    from annotation.cli_segment import register as register_segment

    for register in (register_segment, register_morph, register_coco):
        register(annotate_app)


_register_annotation_commands()


def _register_model_benchmark_commands() -> None:
    """rbc-bench run / list / score / report live beside the suites (benchmarks/suite/cli_run.py)."""
    from benchmarks.suite.cli_run import register

    register(bench_app)


_register_model_benchmark_commands()
