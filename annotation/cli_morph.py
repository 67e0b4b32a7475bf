"""``rbc-dataset annotate morphometry`` and ``annotate severity``.

Thin: each command parses options, calls one library function (``annotation.morphometry``,
``annotation.severity``) and prints a summary. Exit codes: 0 ok, 1 data problem, 2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rbc_dataset.cli_options import HbSource, OverwriteOption, QuietOption, WorkersOption, existing_path, expand_path

InstancesOption = Annotated[
    Path | None,
    typer.Option(
        "--instances",
        callback=existing_path,
        help="Folder of 16-bit instance maps <stem>.png (default: segment the images).",
    ),
]


def _print(text: str) -> None:
    from rich.console import Console

    Console().print(text, highlight=False, soft_wrap=True)


def _manifest_out(manifest: Path, out: Path) -> Path:
    """``--out`` for a manifest: a ``.parquet`` file as given, or a folder that gets the manifest's name."""
    return out if out.suffix.lower() == ".parquet" else out / manifest.name


def register(app: typer.Typer) -> None:
    """Add ``morphometry`` and ``severity`` to the ``annotate`` app."""
    from cli import _fail_cleanly

    @app.command("morphometry")
    @_fail_cleanly
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

        result = morphometry_folder(images, out, instances, um_per_px, overwrite, workers, not quiet)
        summary = result.summary
        _print(
            f"wrote {result.out}: {result.n_images} images, {result.n_cells} cells away from the border "
            f"({result.seconds:.1f} s)"
        )
        if len(summary):
            _print(
                f"  mean diameter {summary['mean_diameter_px'].mean():.1f} px, "
                f"RDW-like size spread {summary['rdw_cv_pct'].mean():.1f} % (means over images)"
            )

    @app.command("severity")
    @_fail_cleanly
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
            typer.Option(
                "--config", callback=existing_path, help="Severity rule YAML (default: packaged severity_v1)."
            ),
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
                images, _manifest_out(images, out), rule, instances, hb_source, overwrite, workers, not quiet
            )
            _print(
                f"wrote {result.out}: {result.n_derived} rows derived ({rule.source_label}), "
                f"{result.n_kept} known severities kept, {result.n_inherited} tiles inherited a known parent "
                f"severity, {result.n_unscored} anaemic rows left unknown; derived counts {result.counts}"
            )
            return
        result = severity_images(images, out, rule, instances, hb_source, overwrite, workers, not quiet)
        counts = result.table["severity"].value_counts().to_dict() if len(result.table) else {}
        _print(f"wrote {result.out}: {len(result.table)} images scored with {rule.version}; {counts}")
