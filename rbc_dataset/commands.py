"""``rbc-dataset`` and its curation commands: synth, ingest, validate-masks, audit, tile, build, verify, show.

Thin by design: each command parses options, builds a config, calls one library function and prints a
summary. Heavy libraries (torch, datasets) are imported inside commands so that ``--help`` is instant.
Exit codes: 0 ok, 1 data problem found, 2 usage error. ``cli.py`` adds the ``annotate`` group
(``annotation.commands``) and exposes ``app`` as the ``rbc-dataset`` entry point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rbc_dataset.cli_options import (
    APP_SETTINGS,
    BuildTileOrder,
    ConfigOption,
    DataConfig,
    HbSource,
    HDF5Codec,
    Layout,
    LoaderWorkersOption,
    MaskStyle,
    OverwriteOption,
    QuietOption,
    Shortcut,
    TileOrder,
    WorkersOption,
    csv_list,
    existing_path,
    expand_path,
    fail_cleanly,
    version_option,
)

HELP = "Curate red-blood-cell microscopy datasets (AneRBC and your own): synthesise, ingest, check, build."
app = typer.Typer(
    name="rbc-dataset", help=HELP, no_args_is_help=True, add_completion=True, context_settings=APP_SETTINGS
)


@app.callback()
def _options(version: Annotated[bool, version_option("rbc-dataset")] = False) -> None:
    """Curate red-blood-cell microscopy datasets (AneRBC and your own): synthesise, ingest, check, build."""


SourceArgument = Annotated[
    Path,
    typer.Argument(callback=existing_path, help="Dataset folder (ingested on the fly) or a manifest .parquet."),
]
BuildArgument = Annotated[Path, typer.Argument(callback=existing_path, help="A folder written by rbc-dataset build.")]


@app.command()
@fail_cleanly
def synth(
    out: Annotated[
        Path,
        typer.Option("--out", callback=expand_path, help="Output folder (gets AneRBC_dataset/ and synthetic_truth/)."),
    ],
    n_images: Annotated[int | None, typer.Option("--n-images", help="AneRBC-I images per class (default 4).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed; same seed, same bytes (default 0).")] = None,
    mask_style: Annotated[
        MaskStyle | None, typer.Option("--mask-style", help="binary (clean 0/255) or anerbc (as released, default).")
    ] = None,
    defects: Annotated[
        float | None, typer.Option("--defects", help="Share of pairs given a known defect (default 0).")
    ] = None,
    shortcut: Annotated[
        list[Shortcut] | None, typer.Option("--shortcut", help="Plant a confound: colour and/or mask (repeatable).")
    ] = None,
    tile_order: Annotated[
        TileOrder | None, typer.Option("--tile-order", help="AneRBC-II tile order (default row-major).")
    ] = None,
    cbc_reuse: Annotated[
        float | None, typer.Option("--cbc-reuse", help="Share of CBC reports copied from another image.")
    ] = None,
    cell_overlap: Annotated[
        float | None,
        typer.Option("--cell-overlap", help="Let cells lie deeper on each other, a share of r1 + r2 (default 0)."),
    ] = None,
    rounded_edge: Annotated[
        float | None,
        typer.Option("--rounded-edge", help="Outer share of each cell's radius over which it thins (default 0)."),
    ] = None,
    defocus: Annotated[
        float | None,
        typer.Option("--defocus", help="Largest defocus halo an image may draw, 0 to 1.5 (default 0: in focus)."),
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
        "shortcuts": tuple(s.value for s in shortcut) if shortcut else None,
        "tile_order": tile_order,
        "cbc_reuse": cbc_reuse,
        "cell_overlap": cell_overlap,
        "rounded_edge": rounded_edge,
        "defocus": defocus,
        "with_tiles": False if no_tiles else None,
        "workers": workers,
    }
    summary = synthesize(
        resolve_config(SynthConfig, config, cli_values=cli_values), out, overwrite=overwrite, show_progress=not quiet
    )
    print_synth_summary(summary)


@app.command()
@fail_cleanly
def calibrate(
    real: Annotated[
        Path, typer.Argument(callback=existing_path, help="Folder of a lab's real smear images (masks used if any).")
    ],
    out: Annotated[
        Path, typer.Option("--out", callback=expand_path, help="Synth config YAML to write (for synth --config).")
    ],
    max_images: Annotated[int, typer.Option("--max-images", help="Measure at most this many images.")] = 20,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Measure the look of a lab's real smears and write a synth config that draws smears like them."""
    from rbc_dataset.api import calibrate as run_calibrate
    from rbc_dataset.cli_options import print_text

    config = run_calibrate(real, out=out, overwrite=overwrite, max_images=max_images, progress=not quiet)
    print_text(f"wrote {out}: {len(config.lab)} settings measured on {real}; use `rbc-dataset synth --config {out}`")


@app.command()
@fail_cleanly
def ingest(
    root: Annotated[Path, typer.Argument(callback=existing_path, help="Folder holding the dataset anywhere below it.")],
    out: Annotated[
        Path,
        typer.Option("--out", callback=expand_path, help="Manifest to write (Parquet); a .report.json goes beside it."),
    ] = Path("manifest.parquet"),
    layout: Annotated[Layout, typer.Option("--layout", help="How ROOT is organised (auto: detect).")] = "auto",
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata",
            callback=existing_path,
            help="CSV with image, class[, mask, group, split, sample_id] columns; relative paths are read from the "
            "CSV's folder and every file must lie inside ROOT.",
        ),
    ] = None,
    tile_order: Annotated[
        TileOrder | None, typer.Option("--tile-order", help="Override the detected AneRBC-II tile order.")
    ] = None,
    class_map: Annotated[
        str | None,
        typer.Option(
            "--class-map",
            callback=expand_path,
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
    from rbc_dataset.ingestion import ingest as run_ingest

    result = run_ingest(
        root,
        out=out,
        layout=layout,
        metadata=metadata,
        tile_order=tile_order,
        workers=workers or 0,
        show_progress=not quiet,
        class_map=class_map,
        allow_outside_root=allow_outside_root,
    )
    print_ingest_summary(result)
    if any(issue.severity == "error" for issue in result.issues):
        raise typer.Exit(1)


@app.command("validate-masks")
@fail_cleanly
def validate_masks_command(
    source: SourceArgument,
    report: Annotated[
        Path | None, typer.Option("--report", callback=expand_path, help="JSON report path (.md/.html beside it).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", callback=expand_path, help="Folder for the reports (default: cwd).")
    ] = None,
    fix: Annotated[
        Path | None, typer.Option("--fix", callback=expand_path, help="Write canonical 0/255 masks + provenance here.")
    ] = None,
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
    settings = resolve_config(ValidateConfig, config, cli_values={"workers": workers})
    result = validate_masks(
        source,
        report=report,
        out_dir=out,
        fix_out=fix,
        remove_specks_px=remove_specks,
        fill_holes_px=fill_holes,
        config=settings,
        overwrite=overwrite,
        show_progress=not quiet,
    )
    print_validation_summary(result)
    if result.counts["error"]:
        raise typer.Exit(1)


@app.command()
@fail_cleanly
def audit(
    source: SourceArgument,
    out: Annotated[
        Path, typer.Option("--out", callback=expand_path, help="Folder for audit.json, audit.md and audit.html.")
    ] = Path("."),
    splits: Annotated[
        Path | None,
        typer.Option("--splits", callback=existing_path, help="CSV/Parquet with sample_id, split columns."),
    ] = None,
    hamming_radius: Annotated[
        int | None, typer.Option("--hamming-radius", help="Near-duplicate hash distance.")
    ] = None,
    hb_source: Annotated[
        HbSource | None, typer.Option("--hb-source", help="Hb band table (default who2011_women).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the bootstrap intervals.")] = None,
    workers: WorkersOption = None,
    config: ConfigOption = None,
    quiet: QuietOption = False,
) -> None:
    """Find duplicates, shortcuts, CBC report problems and split leakage (exit 1 when there are errors)."""
    from rbc_dataset.auditing import AuditConfig
    from rbc_dataset.auditing import audit as run_audit
    from rbc_dataset.config_file import resolve_config
    from rbc_dataset.console import print_audit_summary

    cli_values = {"hamming_radius": hamming_radius, "hb_source": hb_source, "seed": seed, "workers": workers}
    result = run_audit(
        source,
        out_dir=out,
        splits=splits,
        config=resolve_config(AuditConfig, config, cli_values=cli_values),
        show_progress=not quiet,
    )
    print_audit_summary(result)
    if result.has_errors:
        raise typer.Exit(1)


@app.command()
@fail_cleanly
def tile(
    source: SourceArgument,
    out: Annotated[Path, typer.Option("--out", callback=expand_path, help="New folder for the AneRBC-II-style tiles.")],
    order: Annotated[
        TileOrder | None, typer.Option("--tile-order", help="Tile numbering (default: as detected, else row-major).")
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
    from rbc_dataset.console import print_tile_summary
    from rbc_dataset.shards.tiling import TileGrid, tile_dataset

    grid = None if order is None else TileGrid(cols, rows, width=width, height=height, order=order)
    if grid is None and (cols, rows, width, height) != (4, 3, 306, 320):
        raise typer.BadParameter("give --tile-order with a custom grid")
    result = tile_dataset(source, out, grid=grid, overwrite=overwrite, workers=workers or 0, show_progress=not quiet)
    print_tile_summary(result)
    if result.comparison is not None and result.comparison.mismatched:
        raise typer.Exit(1)


@app.command()
@fail_cleanly
def build(
    source: Annotated[
        Path,
        typer.Argument(callback=existing_path, help="Dataset folder (AneRBC or folder layout) or a manifest .parquet."),
    ],
    out: Annotated[Path, typer.Option("--out", callback=expand_path, help="New dataset folder (docs/SHARDS.md).")],
    configs: Annotated[
        str | None,
        typer.Option("--data-configs", help="Comma-separated: full, tiles, model (default: all that apply)."),
    ] = None,
    formats: Annotated[
        str | None, typer.Option("--formats", help="Comma-separated: hdf5, parquet (default both).")
    ] = None,
    split_ratios: Annotated[
        str | None, typer.Option("--split-ratios", help="train,validation,test shares (default 0.8,0.1,0.1).")
    ] = None,
    folds: Annotated[int | None, typer.Option("--folds", help="Cross-validation folds (0 = none; default 5).")] = None,
    splits: Annotated[
        Path | None,
        typer.Option(
            "--splits", callback=existing_path, help="Import fixed splits: CSV/Parquet with sample_id, split."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the split assignment.")] = None,
    tile_order: Annotated[
        BuildTileOrder | None, typer.Option("--tile-order", help="Tile numbering (default auto: as detected).")
    ] = None,
    model_size: Annotated[int | None, typer.Option("--model-size", help="Side of the model config (300).")] = None,
    hdf5_codec: Annotated[
        HDF5Codec | None,
        typer.Option("--hdf5-codec", help="gzip (portable, default), blosc-lz4 (fast, needs hdf5plugin) or none."),
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
    from rbc_dataset.config_file import resolve_config
    from rbc_dataset.console import print_build_summary
    from rbc_dataset.shards.config import BuildConfig
    from rbc_dataset.shards.run import build as run_build

    cli_values = {
        "configs": csv_list(configs),
        "formats": csv_list(formats),
        "split_ratios": csv_list(split_ratios, cast=float, option="--split-ratios"),
        "folds": folds,
        "seed": seed,
        "tile_order": tile_order,
        "model_size": model_size,
        "hdf5_codec": hdf5_codec,
        "allow_invalid": allow_invalid,
        "audit": False if no_audit else None,
        "workers": workers,
    }
    result = run_build(
        source,
        out=out,
        config=resolve_config(BuildConfig, config, cli_values=cli_values),
        splits=splits,
        overwrite=overwrite,
        show_progress=not quiet,
    )
    print_build_summary(result)


@app.command()
@fail_cleanly
def verify(
    folder: BuildArgument,
    quick: Annotated[bool, typer.Option("--quick", help="Checksums and counts only; no pixel hashes.")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", callback=expand_path, help="Also write the findings as JSON here.")
    ] = None,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """Recompute checksums, counts and pixel hashes of a build; open it with h5py and datasets (exit 1: differences)."""
    from rbc_dataset.console import print_verify_summary
    from rbc_dataset.shards.verify import verify as run_verify

    result = run_verify(folder, deep=not quick, workers=workers or 0, show_progress=not quiet)
    if report is not None:
        from rbc_dataset.shards.verify import write_verify_report

        write_verify_report(result, report)
    print_verify_summary(result)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
@fail_cleanly
def show(
    folder: BuildArgument,
    data_config: Annotated[
        DataConfig | None, typer.Option("--data-config", help="Dataset config to load (default: tiles, else first).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Batch of the PyTorch loader.")] = 8,
    loader_workers: LoaderWorkersOption = 2,
    quiet: QuietOption = False,
) -> None:
    """Load a build back through datasets.load_dataset and the PyTorch HDF5 dataset; print what came out."""
    from rbc_dataset.console import print_load_back
    from rbc_dataset.loaders.check import load_back
    from rbc_dataset.progress import library_bars

    with library_bars(not quiet):
        summary = load_back(folder, config=data_config, batch_size=batch_size, workers=loader_workers or 0)
    print_load_back(summary)
