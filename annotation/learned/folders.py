"""``annotate fit`` on a user's folders: images (folder or manifest) and one mask per image.

Masks are ``MASKS/<stem>.png`` with the stems ``annotate propose`` gives the images. Two kinds are read:

- a binary cell mask (two grey levels, cell = the bright one: 255 or 1), as ``validate-masks --fix`` writes
  canonical masks and ``annotate propose`` proposals; it teaches the cell map only;
- a 16-bit instance map (0 = background, k = cell k), as ``annotate instances`` and ``coco-import`` write; it
  also teaches the cell centres that separate touching cells.

A raw AneRBC release mask (dark cells on white, with the image's texture inside) is neither, and is refused with
the command that makes a canonical mask of it: reading it as a cell mask would teach the background as cells.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from annotation.learned.fit import AnnotatedImage, FitResult, FitSettings, fit_cell_model
from annotation.learned.targets import targets_from_instances, targets_from_mask
from rbc_dataset.errors import DataError

CANONICAL_FIX = (
    "write canonical masks first: rbc-dataset validate-masks MANIFEST --fix CANONICAL_DIR (cell = 255, "
    "background = 0), or correct a proposal from `annotate propose`"
)


def read_targets(path: Path, *, shape: tuple[int, int]):
    """The training targets in one mask file of an image of ``shape``.

    Raises:
        DataError: naming the file: missing, unreadable, another size, or neither binary nor 16-bit labels.
    """
    from rbc_dataset.fileio import read_image

    expected = "a binary cell mask (0 and 255, or 0 and 1) or a 16-bit instance map, of the image's size"
    if not path.is_file():
        raise DataError(path, expected, "no such file", f"one mask <stem>.png per image; {CANONICAL_FIX}")
    mask = read_image(path)
    if mask.shape[:2] != tuple(shape):
        found = f"{mask.shape[1]}x{mask.shape[0]} (the image is {shape[1]}x{shape[0]})"
        raise DataError(path, expected, found, "use the mask made for this image (same stem)")
    if mask.dtype == np.uint16 and mask.ndim == 2:
        return targets_from_instances(mask)
    if mask.ndim == 3:
        if not (mask == mask[..., :1]).all():
            raise DataError(path, expected, "a colour image (its channels differ)", CANONICAL_FIX)
        mask = mask[..., 0]
    levels = np.unique(mask)
    if not set(levels.tolist()) <= {0, 1} and not set(levels.tolist()) <= {0, 255}:
        shown = ", ".join(str(v) for v in levels[:6]) + (" ..." if len(levels) > 6 else "")
        found = f"an 8-bit image with {len(levels)} grey levels ({shown}): a raw release mask?"
        raise DataError(path, expected, found, CANONICAL_FIX)
    return targets_from_mask(mask > 0)


def read_annotated(images: str | Path, masks: str | Path) -> list[AnnotatedImage]:
    """Every image of ``images`` with its mask ``masks/<stem>.png``; all missing masks are reported at once.

    Raises:
        DataError: no images, a missing masks folder or mask, or a mask ``read_targets`` refuses.
    """
    from annotation.images import list_images, load_rgb
    from annotation.instances import check_masks_exist

    items, masks = list_images(Path(images)), Path(masks)
    fix = "annotate the missing images, or pass an image folder holding only the annotated ones"
    check_masks_exist(masks, items, fix=fix)
    annotated = []
    for item in items:
        image = load_rgb(item)
        targets = read_targets(masks / f"{item.stem}.png", shape=image.shape[:2])
        annotated.append(AnnotatedImage(item.stem, image, targets))
    return annotated


def fit_folder(
    images: str | Path,
    masks: str | Path,
    *,
    out: str | Path,
    init: str | Path | None = None,
    settings: FitSettings | None = None,
    rehearse: list[AnnotatedImage] | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit the cell model on the annotated images of ``images`` / ``masks`` into the model folder ``out``.

    Args:
        images: image folder or manifest.
        masks: folder of ``<stem>.png`` masks (binary or 16-bit instance maps, see the module docstring).
        out: the model folder to write.
        init: a model folder to continue from: the pretrained model, or the previous fit after a person
            corrected some masks (None: a new network; with few images, start from a pretrained model).
        settings: see ``FitSettings``.
        rehearse: synthetic smears rehearsed in every batch (``settings.rehearsal`` of it); None: drawn here
            (``rehearsal_smears``) when ``settings.rehearsal`` > 0.
        overwrite: replace an existing ``out`` (``out`` may be ``init``).
        device: where the network trains ("cpu", "cuda", "auto").
        log: called with one line per epoch.

    Raises:
        DataError: a missing or refused mask, an unreadable image, ``init`` not a model folder.
        UsageError: bad settings, or ``out`` exists without ``overwrite``.
    """
    from rbc_dataset.fileio import check_output_outside

    check_output_outside(Path(out), [Path(images), Path(masks)], replaced=overwrite)
    annotated = read_annotated(images, masks)
    settings = settings or FitSettings()
    if rehearse is None:
        from annotation.learned.pretrain import rehearsal_for

        rehearse = rehearsal_for(settings)
    source = {"images": str(Path(images).resolve()), "masks": str(Path(masks).resolve()), "count": len(annotated)}
    return fit_cell_model(
        annotated,
        out=out,
        init=init,
        settings=settings,
        source=source,
        rehearse=rehearse,
        overwrite=overwrite,
        device=device,
        log=log,
    )
