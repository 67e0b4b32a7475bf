"""``rbc-dataset annotate``: propose, instances, morphometry, severity, coco-export, coco-import, agree, review.

Thin: each command parses options, calls one library function of this package (``annotation.propose``,
``instances``, ``morphometry``, ``severity``, ``coco``, ``agree``, ``review``) and prints a summary.
Exit codes: 0 ok, 1 data problem, 2 usage error. ``cli.py`` adds ``app`` to ``rbc-dataset`` as ``annotate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from rbc_dataset.cli_options import (
    HbSource,
    OverwriteOption,
    QuietOption,
    WorkersOption,
    existing_path,
    expand_path,
    fail_cleanly,
    print_text,
)

app = typer.Typer(
    name="annotate",
    help="Make new ground truth: mask proposals, instances, morphometry, severity, COCO, agreement, review.",
    no_args_is_help=True,
    add_completion=False,
)

ImagesArgument = Annotated[
    Path,
    typer.Argument(
        callback=existing_path,
        help="Image folder (searched recursively) or manifest (.parquet from `rbc-dataset ingest`).",
    ),
]
OutOption = Annotated[Path, typer.Option("--out", callback=expand_path, help="Output folder (written atomically).")]
ThresholdOption = Annotated[float, typer.Option("--iou-threshold", help="IoU at which two instances match.")]
InstancesOption = Annotated[
    Path | None,
    typer.Option(
        "--instances",
        callback=existing_path,
        help="Folder of 16-bit instance maps <stem>.png (default: segment the images).",
    ),
]


ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        callback=existing_path,
        help="A model folder of `annotate fit` or `annotate pretrain` (default: the training-free method).",
    ),
]
EpochsOption = Annotated[int | None, typer.Option("--epochs", help="Training epochs.")]
StepsOption = Annotated[int | None, typer.Option("--steps-per-epoch", help="Training batches per epoch.")]
CropOption = Annotated[int | None, typer.Option("--crop-size", help="Side of the random training crops (px).")]
ZoomOption = Annotated[
    float | None, typer.Option("--zoom", help="Resize training crops by up to 1 + ZOOM either way (0: native size).")
]
BatchOption = Annotated[int | None, typer.Option("--batch-size", help="Crops per training batch.")]
MinutesOption = Annotated[
    float | None, typer.Option("--max-minutes", help="Stop after the epoch that passes this wall time.")
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Random seed (crops, hold-back, new weights).")]


def _settings(base, **given):
    """``base`` (a FitSettings) with the options given on the command line."""
    from dataclasses import replace

    return replace(base, **{name: value for name, value in given.items() if value is not None})


def _fitted(result, *, what: str) -> str:
    dice = result.validation["mean_dice"]
    held = len(result.validation["per_image"])
    scored = (
        f"validation Dice {dice:.4f} on {held} held-back images" if held else "no held-back image (last epoch kept)"
    )
    return (
        f"{what} {result.out} in {result.seconds / 60:.1f} min: epoch {result.validation['epoch_kept']} of "
        f"{len(result.history)} kept, {scored}"
    )


def _manifest_out(manifest: Path, out: Path) -> Path:
    """``--out`` for a manifest: a ``.parquet`` file as given, or a folder that gets the manifest's name."""
    return out if out.suffix.lower() == ".parquet" else out / manifest.name


@app.command("propose")
@fail_cleanly
def propose(
    images: ImagesArgument,
    out: OutOption,
    model: ModelOption = None,
    overwrite: OverwriteOption = False,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """Propose cell masks (cell = 255): OUT/<stem>.png plus OUT/overlays/. With no --model, no training is
    involved; with --model, the fitted model proposes and OUT also gets uncertainty/ maps and ranking.csv
    (the least certain image first: correct those first)."""
    from annotation.learned.apply import propose_with_model
    from annotation.propose import propose_folder

    if model is None:
        result = propose_folder(images, out, overwrite=overwrite, workers=workers, show_progress=not quiet)
    else:
        result = propose_with_model(images, out, model=model, overwrite=overwrite, show_progress=not quiet)
    head = f"proposed {result.n_images} masks in {result.out} ({result.seconds:.1f} s); "
    if model is None:
        radii = [p["radius_px"] for p in result.per_image]
        print_text(
            f"{head}mean {result.mean_blobs:.0f} blobs per image, cell radius {min(radii):.1f}-{max(radii):.1f} px"
        )
        return
    least = max(result.per_image, key=lambda p: p["uncertainty"])
    print_text(
        f"{head}model {model}; least certain: {least['stem']} (uncertainty {least['uncertainty']:.3f}); "
        f"order to correct them in: {result.out / 'ranking.csv'}"
    )


@app.command("instances")
@fail_cleanly
def instances(
    images: ImagesArgument,
    out: OutOption,
    masks: Annotated[
        Path | None,
        typer.Option(
            "--masks",
            callback=existing_path,
            help="Folder of cell masks <stem>.png to split (default: propose masks).",
        ),
    ] = None,
    model: ModelOption = None,
    overwrite: OverwriteOption = False,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """Split cells into instances: OUT/<stem>.png (16-bit labels, 0 = background) plus OUT/overlays/. With
    --model, the fitted model's cell centres separate touching cells (over its own mask, or over --masks)."""
    from annotation.instances import instances_folder

    if model is None:
        result = instances_folder(
            images, out, masks=masks, overwrite=overwrite, workers=workers, show_progress=not quiet
        )
    else:
        from annotation.learned.apply import instances_with_model

        result = instances_with_model(
            images, out, model=model, masks=masks, overwrite=overwrite, show_progress=not quiet
        )
    print_text(
        f"wrote instances of {result.n_images} images to {result.out} ({result.seconds:.1f} s); "
        f"mean {result.mean_cells:.0f} cells per image"
    )


@app.command("morphometry")
@fail_cleanly
def morphometry(
    images: Annotated[
        Path,
        typer.Argument(callback=existing_path, help="Image folder (searched recursively) or manifest .parquet."),
    ],
    out: Annotated[
        Path, typer.Option("--out", callback=expand_path, help="Output folder: cells/<stem>.csv and summary.csv.")
    ],
    instances: InstancesOption = None,
    um_per_px: Annotated[
        float | None, typer.Option("--um-per-px", help="Pixel size in micrometres (adds sizes in um).")
    ] = None,
    overwrite: OverwriteOption = False,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """Measure every cell (size, shape, central pallor, colour) and give it a rule-based cell type."""
    from annotation.morphometry import morphometry_folder

    result = morphometry_folder(
        images,
        out,
        instances_dir=instances,
        um_per_px=um_per_px,
        overwrite=overwrite,
        workers=workers,
        show_progress=not quiet,
    )
    summary = result.summary
    print_text(
        f"wrote {result.out}: {result.n_images} images, {result.n_cells} cells away from the border "
        f"({result.seconds:.1f} s)"
    )
    if len(summary):
        print_text(
            f"  mean diameter {summary['mean_diameter_px'].mean():.1f} px, "
            f"RDW-like size spread {summary['rdw_cv_pct'].mean():.1f} % (means over images)"
        )


@app.command("severity")
@fail_cleanly
def severity(
    images: Annotated[
        Path,
        typer.Argument(
            callback=existing_path, help="Image folder (per-image CSV) or manifest .parquet (derived manifest)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", callback=expand_path, help="Manifest: .parquet file or folder. Images: .csv file or folder."
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", callback=existing_path, help="Severity rule YAML (default: packaged severity_v1)."),
    ] = None,
    hb_source: Annotated[HbSource, typer.Option("--hb-source", help="Hb band table.")] = "who2011_women",
    instances: InstancesOption = None,
    overwrite: OverwriteOption = False,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """Mild vs chronic from cell morphology: fill unknown severities of a manifest, or score images."""
    from annotation.severity import check_hb_table, derive_severity, load_severity_config, severity_images

    check_hb_table(hb_source)
    rule = load_severity_config(config)
    if images.is_file() and images.suffix.lower() == ".parquet":
        result = derive_severity(
            images,
            _manifest_out(images, out),
            config=rule,
            instances_dir=instances,
            hb_source=hb_source,
            overwrite=overwrite,
            workers=workers,
            show_progress=not quiet,
        )
        print_text(
            f"wrote {result.out}: {result.n_derived} rows derived ({rule.source_label}), "
            f"{result.n_kept} known severities kept, {result.n_inherited} tiles inherited a known parent "
            f"severity, {result.n_unscored} anaemic rows left unknown; derived counts {result.counts}"
        )
        return
    result = severity_images(
        images,
        out,
        config=rule,
        instances_dir=instances,
        hb_source=hb_source,
        overwrite=overwrite,
        workers=workers,
        show_progress=not quiet,
    )
    counts = result.table["severity"].value_counts().to_dict() if len(result.table) else {}
    print_text(f"wrote {result.out}: {len(result.table)} images scored with {rule.version}; {counts}")


def _print_coco(result, verb: str) -> None:
    from rich.console import Console

    console = Console()
    console.print(
        f"{verb} {result.out}: {result.n_images} images, {result.n_annotations} annotations, "
        f"categories {', '.join(result.categories)}",
        highlight=False,
        soft_wrap=True,
    )
    for note in result.notes:
        console.print(f"  note: {note}", highlight=False, soft_wrap=True)


def _print_agreement(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"agreement of {result.a_dir} (A) and {result.b_dir} (B), {len(result.rows)} images")
    for column in ("metric", "images", "mean", "median", "worst", "worst image"):
        table.add_column(column, justify="left" if column in ("metric", "worst image") else "right")
    for metric, stats in result.summary.items():
        if not stats["n"]:
            continue
        worst = stats["worst"]
        table.add_row(
            metric,
            str(stats["n"]),
            f"{stats['mean']:.3f}",
            f"{stats['median']:.3f}",
            f"{worst['value']:.3f}",
            worst["stem"],
        )
    console.print(table)
    for note in result.notes:
        console.print(f"  note: {note}", highlight=False, soft_wrap=True)
    if result.out_dir is not None:
        console.print(f"tables written to {result.out_dir}", highlight=False, soft_wrap=True)


@app.command("coco-export")
@fail_cleanly
def coco_export(
    images: ImagesArgument,
    instances: Annotated[
        Path, typer.Option("--instances", callback=existing_path, help="Folder of 16-bit label maps <stem>.png.")
    ],
    out: Annotated[Path, typer.Option("--out", callback=expand_path, help="COCO JSON file to write.")],
    cell_types: Annotated[
        Path | None,
        typer.Option(
            "--cell-types", callback=existing_path, help="Folder of <stem>.csv (cell_id,type): per-cell category."
        ),
    ] = None,
    category: Annotated[str, typer.Option("--category", help="Category of untyped cells.")] = "rbc",
    overwrite: OverwriteOption = False,
) -> None:
    """Export instance label maps as COCO instance segmentation (RLE masks) for CVAT and similar tools."""
    from annotation.coco import export_coco

    _print_coco(
        export_coco(images, instances, out=out, cell_types=cell_types, category=category, overwrite=overwrite), "wrote"
    )


@app.command("coco-import")
@fail_cleanly
def coco_import(
    out: Annotated[
        Path,
        typer.Option(
            "--out", callback=expand_path, help="Label-map folder (from a COCO file) or COCO JSON (--points/--voc)."
        ),
    ],
    source: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE.json",
            callback=existing_path,
            help="COCO JSON to turn into label maps (omit with --points/--voc).",
        ),
    ] = None,
    points: Annotated[
        Path | None,
        typer.Option(
            "--points", callback=existing_path, help="Folder of Chula `x y class` label files -> COCO keypoints."
        ),
    ] = None,
    voc: Annotated[
        Path | None,
        typer.Option("--voc", callback=existing_path, help="Folder of Pascal VOC XML boxes -> COCO boxes."),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option("--images", callback=existing_path, help="Images of --points (required) or --voc (sizes)."),
    ] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Import annotations: a COCO JSON into label maps, or point/box ground truth into a COCO JSON."""
    from annotation import coco, coco_external
    from rbc_dataset.errors import UsageError

    given = [name for name, value in (("FILE.json", source), ("--points", points), ("--voc", voc)) if value]
    if len(given) != 1:
        raise UsageError(f"give exactly one of FILE.json, --points or --voc (got {', '.join(given) or 'none'})")
    if source is not None:
        _print_coco(coco.import_coco(source, out, overwrite=overwrite), "wrote label maps to")
    elif points is not None:
        if images is None:
            raise UsageError("--points needs --images (the images the points were drawn on, for their sizes)")
        _print_coco(coco_external.points_to_coco(points, images, out=out, overwrite=overwrite), "wrote")
    else:
        _print_coco(coco_external.boxes_to_coco(voc, out, images=images, overwrite=overwrite), "wrote")


@app.command("agree")
@fail_cleanly
def agree_command(
    a: Annotated[
        Path, typer.Argument(callback=existing_path, help="Folder of masks or instance maps <stem>.png (side A).")
    ],
    b: Annotated[
        Path,
        typer.Argument(callback=existing_path, help="Folder of the other annotation of the same images (side B)."),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", callback=expand_path, help="Write agreement.csv and agreement.json here.")
    ] = None,
    iou_threshold: ThresholdOption = 0.5,
    overwrite: OverwriteOption = False,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """Cell-class Dice/IoU and instance F1 between two annotations, per image, worst first."""
    from annotation.agree import agree

    result = agree(
        a, b, out_dir=out, overwrite=overwrite, threshold=iou_threshold, workers=workers or 0, show_progress=not quiet
    )
    _print_agreement(result)


@app.command("review")
@fail_cleanly
def review_command(
    images: ImagesArgument,
    a: Annotated[Path, typer.Option("--a", callback=existing_path, help="Masks or instance maps <stem>.png (side A).")],
    out: Annotated[
        Path, typer.Option("--out", callback=expand_path, help="Gallery folder to write (index.html, overlays/).")
    ],
    b: Annotated[
        Path | None, typer.Option("--b", callback=existing_path, help="Second annotation to compare with (side B).")
    ] = None,
    max_size: Annotated[
        int, typer.Option("--max-size", help="Longest side of the overlay PNGs in pixels (0: full size).")
    ] = 1600,
    iou_threshold: ThresholdOption = 0.5,
    overwrite: OverwriteOption = False,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """A static HTML gallery: contours of A (and B) over each image, worst agreement first."""
    from rich.console import Console

    from annotation.review import review

    result = review(
        images,
        a,
        b_dir=b,
        out=out,
        overwrite=overwrite,
        max_size=max_size,
        threshold=iou_threshold,
        workers=workers or 0,
        show_progress=not quiet,
    )
    console = Console()
    console.print(f"gallery of {len(result.entries)} images: {result.index}", highlight=False, soft_wrap=True)
    for label, names in (
        ("images without annotation", result.images_without_annotation),
        ("annotations without image", result.annotations_without_image),
    ):
        if names:
            console.print(f"  note: {len(names)} {label}", highlight=False)


FitDeviceOption = Annotated[
    Literal["auto", "cpu", "cuda"], typer.Option("--device", help="Where the network trains (auto: a GPU if any).")
]


@app.command("fit")
@fail_cleanly
def fit(
    images: ImagesArgument,
    masks: Annotated[
        Path,
        typer.Argument(
            callback=existing_path,
            help="Folder of masks <stem>.png: canonical binary masks (cell = 255) or 16-bit instance maps.",
        ),
    ],
    out: OutOption,
    init: Annotated[
        Path | None,
        typer.Option(
            "--init",
            callback=existing_path,
            help="Model folder to continue from (default: the packaged model pretrained on synthetic smears).",
        ),
    ] = None,
    scratch: Annotated[bool, typer.Option("--scratch", help="Start from a new network, not a model.")] = False,
    epochs: EpochsOption = None,
    steps_per_epoch: StepsOption = None,
    crop_size: CropOption = None,
    batch_size: BatchOption = None,
    zoom: ZoomOption = None,
    colour_jitter: Annotated[
        float | None, typer.Option("--colour-jitter", help="Colour augmentation (0: off).")
    ] = None,
    validation_images: Annotated[
        int | None, typer.Option("--validation-images", help="Annotated images held back to choose the epoch.")
    ] = None,
    rehearsal: Annotated[
        float | None,
        typer.Option(
            "--rehearsal", help="Share of each batch cropped from 4 synthetic smears drawn for the fit (0: off)."
        ),
    ] = None,
    max_minutes: MinutesOption = None,
    seed: SeedOption = None,
    device: FitDeviceOption = "auto",
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Fit the cell model on a few annotated images (masks from validate-masks --fix or corrected proposals):
    a model folder for `annotate propose --model` and `annotate instances --model`."""
    from annotation.learned.fit import FitSettings
    from annotation.learned.folders import fit_folder
    from annotation.learned.pretrain import default_init

    if scratch and init is not None:
        raise typer.BadParameter("--scratch starts from a new network: drop --init or --scratch")
    settings = _settings(
        FitSettings(),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        crop_size=crop_size,
        batch_size=batch_size,
        zoom=zoom,
        colour_jitter=colour_jitter,
        validation_images=validation_images,
        rehearsal=rehearsal,
        max_minutes=max_minutes,
        seed=seed,
    )
    start = None if scratch else (init or default_init())
    result = fit_folder(
        images,
        masks,
        out=out,
        init=start,
        settings=settings,
        overwrite=overwrite,
        device=device,
        log=None if quiet else print_text,
    )
    print_text(_fitted(result, what="fitted"))


@app.command("pretrain")
@fail_cleanly
def pretrain(
    synthetic: Annotated[Path, typer.Argument(callback=existing_path, help="A folder written by `rbc-dataset synth`.")],
    out: OutOption,
    max_images: Annotated[int, typer.Option("--max-images", help="Smears to use, classes alternating (0: all).")] = 0,
    epochs: EpochsOption = None,
    steps_per_epoch: StepsOption = None,
    crop_size: CropOption = None,
    batch_size: BatchOption = None,
    zoom: ZoomOption = None,
    max_minutes: MinutesOption = None,
    seed: SeedOption = None,
    device: FitDeviceOption = "auto",
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Pretrain the cell model on synthetic smears with full instance truth (the model `annotate fit` starts from)."""
    from annotation.learned.pretrain import PRETRAIN_SETTINGS
    from annotation.learned.pretrain import pretrain as pretrain_model

    settings = _settings(
        PRETRAIN_SETTINGS,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        crop_size=crop_size,
        batch_size=batch_size,
        zoom=zoom,
        max_minutes=max_minutes,
        seed=seed,
    )
    result = pretrain_model(
        synthetic,
        out=out,
        settings=settings,
        max_images=max_images,
        overwrite=overwrite,
        device=device,
        log=None if quiet else print_text,
    )
    print_text(_fitted(result, what="pretrained"))
