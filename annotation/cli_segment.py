"""``rbc-dataset annotate propose`` and ``annotate instances``.

Thin: each command parses options, calls one library function (``annotation.propose.propose_folder``,
``annotation.instances.instances_folder``) and prints a summary. Exit codes: 0 ok, 1 data problem, 2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rbc_dataset.cli_options import OverwriteOption, QuietOption, WorkersOption, existing_path, expand_path

ImagesArgument = Annotated[
    Path,
    typer.Argument(
        callback=existing_path,
        help="Image folder (searched recursively) or manifest (.parquet from `rbc-dataset ingest`).",
    ),
]
OutOption = Annotated[Path, typer.Option("--out", callback=expand_path, help="Output folder (written atomically).")]


def _print(text: str) -> None:
    from rich.console import Console

    Console().print(text, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``propose`` and ``instances`` to the ``annotate`` app."""
    from cli import _fail_cleanly

    @app.command("propose")
    @_fail_cleanly
    def propose(
        images: ImagesArgument,
        out: OutOption,
        overwrite: OverwriteOption = False,
        workers: WorkersOption = None,
        quiet: QuietOption = False,
    ) -> None:
        """Propose cell masks (cell = 255) with no training: OUT/<stem>.png plus OUT/overlays/."""
        from annotation.propose import propose_folder

        result = propose_folder(images, out, overwrite=overwrite, workers=workers, show_progress=not quiet)
        radii = [p["radius_px"] for p in result.per_image]
        _print(
            f"proposed {result.n_images} masks in {result.out} ({result.seconds:.1f} s); "
            f"mean {result.mean_blobs:.0f} blobs per image, cell radius {min(radii):.1f}-{max(radii):.1f} px"
        )

    @app.command("instances")
    @_fail_cleanly
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
        overwrite: OverwriteOption = False,
        workers: WorkersOption = None,
        quiet: QuietOption = False,
    ) -> None:
        """Split cells into instances: OUT/<stem>.png (16-bit labels, 0 = background) plus OUT/overlays/."""
        from annotation.instances import instances_folder

        result = instances_folder(
            images, out, masks=masks, overwrite=overwrite, workers=workers, show_progress=not quiet
        )
        _print(
            f"wrote instances of {result.n_images} images to {result.out} ({result.seconds:.1f} s); "
            f"mean {result.mean_cells:.0f} cells per image"
        )
