"""Small image/mask pairs for fast hostile-input tests: 128x128 crops of the synthetic release (they validate clean)."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np

from rbc_dataset.fileio import read_image, write_png

CLASS_DIRS = {"a": "Anemic_individuals", "h": "Healthy_individuals"}
BOX = (slice(200, 328), slice(300, 428))


@functools.lru_cache(maxsize=4)
def _pairs(synthetic_root: Path) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    out = []
    for suffix in ("a", "h"):
        for number in (1, 2):
            folder = synthetic_root / "AneRBC_dataset/AneRBC-I" / CLASS_DIRS[suffix]
            image = read_image(folder / "Original_images" / f"{number:03d}_{suffix}.png")
            mask = read_image(folder / "Binary_segmented" / f"{number:03d}_{suffix}.png")
            out.append((image[BOX], mask[BOX]))
    return tuple(out)


def write_pair(synthetic_root: Path, index: int, image_path: Path, mask_path: Path | None = None) -> None:
    """Write crop ``index`` (0, 1: anaemic; 2, 3: healthy) as an image and optionally its mask."""
    image, mask = _pairs(synthetic_root)[index]
    image_path.parent.mkdir(parents=True, exist_ok=True)
    write_png(image_path, image)
    if mask_path is not None:
        mask_path.parent.mkdir(parents=True, exist_ok=True)
        write_png(mask_path, mask)


def class_folders(synthetic_root: Path, root: Path, classes: dict[str, tuple[int, ...]]) -> Path:
    """``root/<class>/{images,masks}/x<i>.png`` for each class and crop index; returns root."""
    for name, indices in classes.items():
        for i, index in enumerate(indices):
            write_pair(synthetic_root, index, root / name / "images" / f"x{i}.png", root / name / "masks" / f"x{i}.png")
    return root


def anerbc_copy(synthetic_root: Path, root: Path) -> Path:
    """AneRBC-I images and masks (no reports) of the synthetic release under ``root/AneRBC-I``; returns that folder."""
    top = root / "AneRBC-I"
    for suffix, class_dir in CLASS_DIRS.items():
        for role in ("Original_images", "Binary_segmented"):
            target = top / class_dir / role
            target.mkdir(parents=True, exist_ok=True)
            for number in (1, 2):
                image, mask = _pairs(synthetic_root)[(0 if suffix == "a" else 2) + number - 1]
                write_png(target / f"{number:03d}_{suffix}.png", image if role == "Original_images" else mask)
    return top


def copy_file(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def run_cli(*args: str) -> tuple[int, str]:
    """Run ``rbc-dataset ARGS`` in-process; (exit code, output with whitespace collapsed). Never a traceback."""
    from typer.testing import CliRunner

    from cli import dataset_app

    result = CliRunner().invoke(dataset_app, [*args, "-q"])
    output = " ".join(result.output.split())
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, output


def files_under(folder: Path) -> set[Path]:
    """Every file below ``folder`` (to check that nothing was written outside an output)."""
    return {p for p in Path(folder).rglob("*") if p.is_file()}
