"""The IMAGES input of every ``annotate`` command: a folder searched recursively, or a manifest.

Each image becomes an ``ImageItem`` whose ``stem`` names its outputs (``OUT/<stem>.png``). Stems are the
file stems, made unique by this rule: a stem shared by several files is prefixed, for each of those files, with
as many of its closest parent folders as make the names distinct, joined with ``__`` (``Anemic_individuals/
Original_images/001.png`` and ``Healthy_individuals/Original_images/001.png`` become
``Anemic_individuals__Original_images__001`` and ``Healthy_individuals__Original_images__001``); files that
differ only by extension get it appended (``001_png``, ``001_jpg``). Files with a unique stem keep it as is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rbc_dataset.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class ImageItem:
    """One input image and the name its outputs get."""

    stem: str  # unique output name: OUT/<stem>.png
    path: Path  # absolute path of the image file
    sample_id: str | None = None  # manifest sample id (None for folder inputs)
    class_name: str | None = None  # manifest class (None for folder inputs)
    mask_path: Path | None = None  # the manifest's mask, for evaluation only (None for folder inputs)


def list_images(source: Path) -> list[ImageItem]:
    """Images of a folder (recursive, hidden folders skipped) or of a manifest, in a deterministic order.

    Args:
        source: a folder, or a ``.parquet`` manifest written by ``rbc-dataset ingest``.

    Returns:
        Items sorted by path (folders) or by sample id (manifests), with unique stems (see the module docstring).

    Raises:
        DataError: the path does not exist, the folder holds no image, or the manifest has no image paths.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(source, "an image folder or a manifest (.parquet)", "nothing at this path", "check the path")
    if source.is_file():
        if source.suffix.lower() != ".parquet":
            raise DataError(
                source,
                "an image folder or a manifest (.parquet)",
                f"a {source.suffix or 'suffix-less'} file",
                "pass the folder that holds the images, or a manifest written by `rbc-dataset ingest`",
            )
        return _manifest_items(source)
    paths = _find_image_files(source)
    if not paths:
        raise DataError(
            source,
            "image files",
            f"no images ({', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)}) under {source}",
            "pass the folder that holds the images (searched recursively; hidden folders are skipped)",
        )
    stems = unique_stems([p.relative_to(source) for p in paths])
    return [ImageItem(stem, path.resolve()) for stem, path in zip(stems, paths, strict=True)]


def _find_image_files(folder: Path) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        rel_parts = path.relative_to(folder).parts
        if any(part.startswith(".") for part in rel_parts):
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _manifest_items(path: Path) -> list[ImageItem]:
    import pandas as pd

    from rbc_dataset.manifest import absolute_path, read_manifest

    rows = read_manifest(path)
    records = []
    for _, row in rows.iterrows():
        image = absolute_path(row, "image")
        if image is None:
            continue
        class_name = row.get("class_name")
        class_name = None if class_name is None or pd.isna(class_name) else str(class_name)
        records.append((str(row["sample_id"]), Path(image), class_name, absolute_path(row, "mask")))
    if not records:
        raise DataError(
            path,
            "manifest rows with image paths",
            f"{len(rows)} rows, none with an image path",
            "re-run `rbc-dataset ingest` on the image folder",
        )
    records.sort(key=lambda r: (r[0], str(r[1])))
    stems = unique_stems([r[1] for r in records])
    return [
        ImageItem(s, r[1], sample_id=r[0], class_name=r[2], mask_path=r[3]) for s, r in zip(stems, records, strict=True)
    ]


def unique_stems(paths: list[Path]) -> list[str]:
    """Output names for ``paths`` (same order): file stems, disambiguated as the module docstring says."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, path in enumerate(paths):
        groups[path.stem].append(index)
    stems = [path.stem for path in paths]
    for members in groups.values():
        if len(members) > 1:
            for index, name in zip(members, _disambiguate([paths[i] for i in members]), strict=True):
                stems[index] = name
    return _dedupe(stems)


def _disambiguate(paths: list[Path]) -> list[str]:
    """Prefix each path's stem with its k closest parent folders, for the smallest k that makes names distinct."""
    depth = max(len(p.parent.parts) for p in paths)
    for k in range(1, depth + 1):
        names = [_prefixed(p, k) for p in paths]
        if len(set(names)) == len(names):
            return names
    # Same folder and stem: only the extension differs.
    return [f"{_prefixed(p, depth)}_{p.suffix.lstrip('.').lower()}" for p in paths]


def _prefixed(path: Path, k: int) -> str:
    folders = [part for part in path.parent.parts[-k:] if part and "/" not in part and "\\" not in part]
    return "__".join([*folders, path.stem])


def _dedupe(stems: list[str]) -> list[str]:
    """Guarantee uniqueness even when a prefixed name equals another file's own stem (append _2, _3, ...)."""
    seen: set[str] = set()
    result = []
    for stem in stems:
        name, n = stem, 2
        while name in seen:
            name, n = f"{stem}_{n}", n + 1
        seen.add(name)
        result.append(name)
    return result


def load_rgb(item: ImageItem | Path) -> np.ndarray:
    """Decode an image as (H, W, 3) uint8 RGB, by content (a PNG named .jpg decodes fine).

    Grey images are stacked to three channels, alpha is dropped and 16-bit images are scaled to 8 bits.

    Raises:
        DataError: the file is missing, empty, not an image, truncated, larger than ``fileio.MAX_PIXELS`` or
            undecodable (the message names it); such a file is never decoded.
    """
    import cv2

    from rbc_dataset.fileio import read_image

    path = Path(item.path if isinstance(item, ImageItem) else item)
    array = read_image(path)
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = cv2.normalize(array, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    elif array.shape[2] == 4:
        array = array[..., :3]
    elif array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array)


def read_cell_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A cell mask file as booleans (cell = the bright side, as ``annotate propose`` writes), checked against
    the image shape.

    Raises:
        DataError: missing, unreadable or of another size than its image.
    """
    from rbc_dataset.fileio import read_image
    from rbc_dataset.masks import to_gray

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "a cell mask for this image", "no such file", "propose masks first or fix --masks")
    gray = to_gray(read_image(path))  # a refused file (empty, too many pixels ...) raises a DataError naming it
    if gray.shape != tuple(shape):
        raise DataError(
            path,
            f"a mask of the image's size {shape[1]}x{shape[0]}",
            f"{gray.shape[1]}x{gray.shape[0]}",
            "use the mask proposed for this image (same stem)",
        )
    return gray >= (1 if int(gray.max(initial=0)) <= 1 else 128)
