"""``rbc-dataset annotate`` commands for COCO exchange, annotator agreement and the review gallery.

Thin: each command parses options, calls one library function (``annotation.coco``, ``annotation.agree``,
``annotation.review``) and prints a summary. Exit codes: 0 ok, 1 data problem, 2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rbc_dataset.cli_options import OverwriteOption, QuietOption, WorkersOption, existing_path, expand_path

ImagesArgument = Annotated[
    Path, typer.Argument(callback=existing_path, help="Image folder (searched recursively) or manifest .parquet.")
]
ThresholdOption = Annotated[float, typer.Option("--iou-threshold", help="IoU at which two instances match.")]


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


def coco_export_command(
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

    _print_coco(export_coco(images, instances, out, cell_types, category, overwrite), "wrote")


def coco_import_command(
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
        _print_coco(coco.import_coco(source, out, overwrite), "wrote label maps to")
    elif points is not None:
        if images is None:
            raise UsageError("--points needs --images (the images the points were drawn on, for their sizes)")
        _print_coco(coco_external.points_to_coco(points, images, out, overwrite), "wrote")
    else:
        _print_coco(coco_external.boxes_to_coco(voc, out, images, overwrite), "wrote")


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

    result = agree(a, b, out, overwrite, iou_threshold, workers or 0, show_progress=not quiet)
    _print_agreement(result)


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

    result = review(images, a, b, out, overwrite, max_size, iou_threshold, workers or 0, not quiet)
    console = Console()
    console.print(f"gallery of {len(result.entries)} images: {result.index}", highlight=False, soft_wrap=True)
    for label, names in (
        ("images without annotation", result.images_without_annotation),
        ("annotations without image", result.annotations_without_image),
    ):
        if names:
            console.print(f"  note: {len(names)} {label}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``coco-export``, ``coco-import``, ``agree`` and ``review`` to the ``annotate`` app."""
    from cli import _fail_cleanly

    app.command("coco-export")(_fail_cleanly(coco_export_command))
    app.command("coco-import")(_fail_cleanly(coco_import_command))
    app.command("agree")(_fail_cleanly(agree_command))
    app.command("review")(_fail_cleanly(review_command))
