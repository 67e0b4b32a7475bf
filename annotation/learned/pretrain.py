"""Pretraining the cell model on synthetic smears, whose truth has every cell's instance map.

``rbc-dataset synth --out SYNTH ...`` writes smears and ``synthetic_truth/`` beside them; ``pretrain`` fits the
cell model from scratch on the AneRBC-I images (both classes, in name order, the first ``max_images``) with cell
and centre targets from the instance maps. The model that ``annotate fit`` starts from by default is the folder
``PRETRAINED`` in this package, written by ``make pretrained`` (the recipe: one ``synth`` and one ``pretrain``
command); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from annotation.learned.fit import AnnotatedImage, FitResult, FitSettings, fit_cell_model
from annotation.learned.targets import targets_from_instances
from rbc_dataset.errors import DataError

PRETRAINED = Path(__file__).resolve().parent / "pretrained"  # the packaged model folder (make pretrained)
# Any hue (hue_turn 0.5): the network learns cells by shape and contrast, not by the synthetic stain's lavender, and
# reads pink smears it never saw (BCCD, Chula) far better and far more steadily between pretraining draws
# (docs/BENCHMARKS.md, `rbc-bench annotate-pretrain`). A fit continued from this model inherits it (inherit_hue_turn).
PRETRAIN_SETTINGS = FitSettings(
    crop_size=192, batch_size=8, steps_per_epoch=40, epochs=15, validation_images=2, hue_turn=0.5
)
REHEARSAL_SMEARS = 4  # synthetic smears (half of each class) rehearsed in a continued fit; about 5 s to draw
REHEARSAL_SEED = 2  # not the pretraining smears' seed (1): rehearsal shows the network smears it has not seen
# The packaged model's smears let cells lie up to 0.35 of r1 + r2 deeper on each other (synth --cell-overlap, the
# Makefile's `pretrained`): overlapping cells teach the centre head to seed cells that lie on each other (BCCD's
# thick smears), and rehearsal draws its smears the same way, so a fit does not unlearn it.
PRETRAIN_CELL_OVERLAP = 0.35
SYNTH_FIX = "pass a folder written by `rbc-dataset synth --out DIR` (it holds AneRBC_dataset/ and synthetic_truth/)"


def default_init() -> Path:
    """The packaged pretrained model folder that ``annotate fit`` starts from.

    Raises:
        DataError: it is not there (a checkout without it): with the command that makes it.
    """
    if not (PRETRAINED / "model.json").is_file():
        fix = "run `make pretrained` (synthetic smears, then `annotate pretrain`), or pass --init or --scratch"
        raise DataError(PRETRAINED, "the packaged pretrained cell model (model.json, weights.pt)", "no model", fix)
    return PRETRAINED


def synthetic_annotated(root: str | Path, *, max_images: int = 0) -> list[AnnotatedImage]:
    """The AneRBC-I smears of a synthetic dataset with targets from their instance maps.

    Args:
        root: a folder written by ``rbc-dataset synth``.
        max_images: at most this many, taken alternately from the two classes (0: all).

    Raises:
        DataError: naming the folder or file: no synthetic smears, or an instance map missing or of another size.
    """
    from annotation.images import load_rgb
    from rbc_dataset.fileio import read_image
    from rbc_dataset.layout import CLASS_FOLDERS, role_folder, truth_folder

    root = Path(root)
    per_class = [sorted(role_folder(root, "I", cls=cls, role="image").glob("*.png")) for cls in CLASS_FOLDERS]
    if not any(per_class):
        raise DataError(root, "synthetic AneRBC-I smears with synthetic_truth/", "no AneRBC-I images", SYNTH_FIX)
    interleaved = [path for group in _alternate(per_class) for path in group]
    chosen = interleaved[:max_images] if max_images else interleaved
    annotated = []
    for path in chosen:
        cls = next(c for c, folder in CLASS_FOLDERS.items() if folder == path.parent.parent.name)
        truth = truth_folder(root, "I", cls=cls, role="instances") / path.name
        image = load_rgb(path)
        if not truth.is_file():
            raise DataError(truth, "the instance map of a synthetic smear", "no such file", SYNTH_FIX)
        instances = read_image(truth)
        if instances.shape != image.shape[:2]:
            found = f"shape {instances.shape} for an image of {image.shape[:2]}"
            raise DataError(truth, "an instance map of the image's size", found, SYNTH_FIX)
        annotated.append(AnnotatedImage(f"{cls}/{path.stem}", image, targets_from_instances(instances)))
    return annotated


def synth_settings(root: str | Path) -> dict:
    """The options that drew a synthetic folder (its ``synthetic_truth/synth_config.yaml``), as a pretrained model
    records them: seed, images per class and cell overlap, and defocus and rounded edge when the folder drew them
    ({} for a folder without the file)."""
    import yaml

    from rbc_dataset.layout import SYNTH_CONFIG_FILE, TRUTH_FOLDER

    path = Path(root) / TRUTH_FOLDER / SYNTH_CONFIG_FILE
    if not path.is_file():
        return {}
    saved = yaml.safe_load(path.read_text()) or {}
    drawn = {
        key: saved.get(key, 0.0 if key == "cell_overlap" else None) for key in ("seed", "n_images", "cell_overlap")
    }
    return drawn | {key: saved[key] for key in ("defocus", "rounded_edge") if saved.get(key)}


def _alternate(groups: list[list[Path]]) -> list[tuple[Path, ...]]:
    """[a1, a2], [h1] -> [(a1, h1), (a2,)]: the classes take turns, so any prefix holds both."""
    longest = max(len(group) for group in groups)
    return [tuple(group[i] for group in groups if i < len(group)) for i in range(longest)]


def rehearsal_smears(*, count: int = REHEARSAL_SMEARS, seed: int = REHEARSAL_SEED) -> list[AnnotatedImage]:
    """``count`` synthetic smears with full truth, drawn into a temporary folder and read back (nothing kept)."""
    import tempfile

    from rbc_dataset.api import synthesize

    with tempfile.TemporaryDirectory(prefix="rbc-rehearsal-") as tmp:
        synthesize(
            Path(tmp) / "synthetic",
            n_images=max(1, (count + 1) // 2),
            seed=seed,
            with_tiles=False,
            cell_overlap=PRETRAIN_CELL_OVERLAP,
        )
        return synthetic_annotated(Path(tmp) / "synthetic", max_images=count)


def rehearsal_for(settings: FitSettings) -> list[AnnotatedImage]:
    """The smears a fit with ``settings`` rehearses: ``rehearsal_smears()`` when it gives them a share of each
    batch, else none (nothing is drawn)."""
    return rehearsal_smears() if settings.rehearsal_crops() > 0 else []


def pretrain(
    synthetic: str | Path,
    *,
    out: str | Path,
    settings: FitSettings | None = None,
    max_images: int = 0,
    overwrite: bool = False,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit a new cell model on synthetic smears with full truth, into the model folder ``out``.

    Args:
        synthetic: a folder written by ``rbc-dataset synth``.
        out: the model folder to write.
        settings: see ``FitSettings`` (default ``PRETRAIN_SETTINGS``).
        max_images: smears to use, the classes alternating (0: all).
        overwrite: replace an existing ``out``.
        device: where the network trains ("cpu", "cuda", "auto").
        log: called with one line per epoch.
    """
    from rbc_dataset.fileio import check_output_outside

    check_output_outside(Path(out), [Path(synthetic)], replaced=overwrite)
    settings = settings or PRETRAIN_SETTINGS
    annotated = synthetic_annotated(synthetic, max_images=max_images)
    cells = float(np.mean([a.targets.cell.mean() for a in annotated]))
    source = {
        "synthetic": str(Path(synthetic).resolve()),
        "count": len(annotated),
        "cell_fraction": round(cells, 4),
        "synth": synth_settings(synthetic),
    }
    return fit_cell_model(
        annotated, out=out, settings=settings, source=source, overwrite=overwrite, device=device, log=log
    )
