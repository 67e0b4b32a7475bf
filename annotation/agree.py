"""Agreement between two annotations of the same images: two annotators, or an annotator and a proposal.

Each side is a folder of masks keyed by file stem (``DIR/<stem>.png``). A single-channel image of more than 8 bits
is an instance map (cells = nonzero, as ``annotate instances`` and ``annotate coco-import`` write); anything else is
a binary mask: 0/1 masks have cells = 1, 0/255 masks cells = 255, and graded masks (as the AneRBC release's
"Binary_segmented") have as background whichever extreme value (0 or 255) covers more pixels, the cells being the
other side of mid-grey. Dice and IoU are of the cell class only (background agreement would inflate them).
Instance F1 is reported when both sides are instance maps: instances match one-to-one at IoU > 0.5 (Hungarian
matching on the candidate pairs; the convention of ``annotation.metrics``). Two empty annotations agree perfectly (1.0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from rbc_dataset.errors import DataError
from rbc_dataset.fileio import write_json

SCHEMA_VERSION = 1
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
METRICS = ("dice", "iou", "instance_f1")


@dataclass(frozen=True)
class Annotation:
    """One decoded annotation: the cell map, and the instance map when the file is one."""

    path: Path  # the file it was read from
    cells: np.ndarray  # (H, W) bool, True = cell
    instances: np.ndarray | None  # (H, W) integer labels, 0 = background; None for binary masks

    @property
    def n_cells(self) -> int:
        """Instances of an instance map, connected components (8-connected) of a binary mask."""
        if self.instances is not None:
            return int(np.count_nonzero(np.bincount(self.instances.ravel())[1:]))
        import cv2

        return int(cv2.connectedComponents(self.cells.astype(np.uint8), connectivity=8)[0]) - 1


@dataclass(frozen=True)
class ImageAgreement:
    """Agreement numbers of one image present on both sides."""

    stem: str  # image stem (file name without extension)
    dice: float  # cell-class Dice, 2|A∩B| / (|A| + |B|)
    iou: float  # cell-class IoU, |A∩B| / |A∪B|
    instance_f1: float | None  # F1 of instances matched at IoU > threshold; None unless both are instance maps
    matched: int | None  # matched instance pairs (true positives); None unless both are instance maps
    mean_matched_iou: float | None  # mean IoU of the matched pairs; None when none matched or not instance maps
    cells_a: int  # instances (instance map) or connected components (binary mask) in A
    cells_b: int  # same for B
    foreground_a: int  # cell pixels in A
    foreground_b: int  # cell pixels in B
    path_a: str  # file of side A
    path_b: str  # file of side B

    @property
    def disagreement(self) -> float:
        """1 - the worse of Dice and instance F1: what the gallery and the tables sort by (worst first)."""
        worst = min(self.dice, self.instance_f1 if self.instance_f1 is not None else 1.0)
        return 1.0 - worst


@dataclass(frozen=True)
class AgreementResult:
    """Per-image agreement (worst first), unpaired images and summary statistics."""

    rows: tuple[ImageAgreement, ...]  # images on both sides, most disagreement first
    only_a: tuple[str, ...]  # stems present in A only
    only_b: tuple[str, ...]  # stems present in B only
    summary: dict  # per metric: n, mean, median, worst (stem, value)
    a_dir: Path  # side A folder
    b_dir: Path  # side B folder
    out_dir: Path | None = None  # where agreement.csv and agreement.json were written
    iou_threshold: float = 0.5  # instance match threshold used
    notes: tuple[str, ...] = field(default_factory=tuple)  # things the user should know


def list_annotations(folder: Path) -> dict[str, Path]:
    """Mask files directly in ``folder`` by stem (sub-folders such as overlays/ are not searched)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "a folder of masks <stem>.png", "no such folder", "check the path")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in MASK_SUFFIXES or not path.is_file() or path.name.startswith("."):
            continue
        if path.stem in found:
            raise DataError(path, "one mask per stem", f"also {found[path.stem].name}", "keep one of the two files")
        found[path.stem] = path
    return found


def read_annotation(path: Path) -> Annotation:
    """Decode a mask or instance map (see the module docstring for how cells are found)."""
    from rbc_dataset.fileio import read_image

    path = Path(path)
    array = read_image(path)  # a refused file (empty, too many pixels ...) raises a DataError naming it
    if array.ndim == 2 and array.dtype.kind in "ui" and array.dtype.itemsize > 1:
        return Annotation(path, array > 0, array)
    return Annotation(path, _binary_cells(array), None)


def _binary_cells(array: np.ndarray) -> np.ndarray:
    from rbc_dataset.masks import to_gray

    gray = to_gray(array)
    histogram = np.bincount(gray.ravel(), minlength=256)
    values = np.flatnonzero(histogram)
    if values[-1] <= 1:
        return gray > 0
    if set(values.tolist()) <= {0, 255} or histogram[255] <= histogram[values[0]]:
        return gray > 127
    return gray < 128  # graded mask with an exact white background: cells are the dark side


def match_instances(a: np.ndarray, b: np.ndarray, *, threshold: float = 0.5) -> tuple[int, int, int, list[float]]:
    """One-to-one matching of two instance maps at IoU > ``threshold`` (Hungarian assignment of the candidates).

    Strictly above the threshold, as ``annotation.metrics.average_precision`` counts matches.

    Returns:
        ``(n_a, n_b, matched, ious)``: instance counts, matched pairs and the IoU of each matched pair.
    """
    from scipy.optimize import linear_sum_assignment

    from annotation.metrics import overlaps

    ov = overlaps(a, b)
    n_a, n_b = len(ov.true_areas), len(ov.pred_areas)
    iou = ov.iou()
    keep = iou > threshold
    ia, ib, iou = ov.true_ids[keep], ov.pred_ids[keep], iou[keep]
    if not len(iou):
        return n_a, n_b, 0, []
    _, row_index = np.unique(ia, return_inverse=True)
    _, col_index = np.unique(ib, return_inverse=True)
    scores = np.zeros((row_index.max() + 1, col_index.max() + 1))
    scores[row_index, col_index] = iou
    chosen_r, chosen_c = linear_sum_assignment(scores, maximize=True)  # one-to-one already when threshold >= 0.5
    ious = [float(v) for v in scores[chosen_r, chosen_c] if v > threshold]
    return n_a, n_b, len(ious), ious


def compare(a: Annotation, b: Annotation, *, stem: str = "", threshold: float = 0.5) -> ImageAgreement:
    """Agreement numbers of two annotations of one image.

    Raises:
        DataError: the two masks differ in size (names both files).
    """
    if a.cells.shape != b.cells.shape:
        (ha, wa), (hb, wb) = a.cells.shape, b.cells.shape
        raise DataError(a.path, f"the size of {b.path} ({wb}x{hb})", f"{wa}x{ha}", "compare masks of the same image")
    inter = int(np.count_nonzero(a.cells & b.cells))
    fa, fb = int(np.count_nonzero(a.cells)), int(np.count_nonzero(b.cells))
    union = fa + fb - inter
    dice = 2 * inter / (fa + fb) if fa + fb else 1.0
    iou = inter / union if union else 1.0
    f1 = matched = mean_iou = None
    if a.instances is not None and b.instances is not None:
        n_a, n_b, matched, ious = match_instances(a.instances, b.instances, threshold=threshold)
        f1 = 2 * matched / (n_a + n_b) if n_a + n_b else 1.0
        mean_iou = float(np.mean(ious)) if ious else None
        cells_a, cells_b = n_a, n_b
    else:
        cells_a, cells_b = a.n_cells, b.n_cells
    return ImageAgreement(
        stem,
        dice,
        iou=iou,
        instance_f1=f1,
        matched=matched,
        mean_matched_iou=mean_iou,
        cells_a=cells_a,
        cells_b=cells_b,
        foreground_a=fa,
        foreground_b=fb,
        path_a=str(a.path),
        path_b=str(b.path),
    )


def _compare_files(task: tuple[str, Path, Path, float]) -> ImageAgreement:
    stem, path_a, path_b, threshold = task
    return compare(read_annotation(path_a), read_annotation(path_b), stem=stem, threshold=threshold)


def summarise(rows: list[ImageAgreement]) -> dict:
    """Per metric: number of images, mean, median and the worst image."""
    summary = {}
    for metric in METRICS:
        values = [(getattr(r, metric), r.stem) for r in rows if getattr(r, metric) is not None]
        if not values:
            summary[metric] = {"n": 0, "mean": None, "median": None, "worst": None}
            continue
        numbers = np.array([v for v, _ in values])
        worst_value, worst_stem = min(values)
        summary[metric] = {
            "n": len(values),
            "mean": float(numbers.mean()),
            "median": float(np.median(numbers)),
            "worst": {"stem": worst_stem, "value": float(worst_value)},
        }
    return summary


def agree(
    a_dir: Path,
    b_dir: Path,
    *,
    out_dir: Path | None = None,
    overwrite: bool = False,
    threshold: float = 0.5,
    workers: int = 1,
    show_progress: bool = False,
) -> AgreementResult:
    """Compare two folders of annotations image by image; optionally write agreement.csv and agreement.json.

    Args:
        a_dir: side A masks or instance maps (``<stem>.png``).
        b_dir: side B, same stems.
        out_dir: folder to write the tables to (created; must be new or empty unless ``overwrite``).
        overwrite: replace an existing ``out_dir``.
        threshold: IoU at which two instances match.
        workers: processes (1 = this process; 0/None = all cores).
        show_progress: draw a progress bar.

    Raises:
        DataError: an empty folder, no stem in common, an unreadable mask, masks of different sizes.
    """
    from rbc_dataset.parallel import bounded_map, worker_count
    from rbc_dataset.progress import track

    if out_dir is not None:
        _check_out_dir(Path(out_dir), overwrite, [Path(a_dir), Path(b_dir)])
    files_a, files_b = list_annotations(a_dir), list_annotations(b_dir)
    for folder, files in ((a_dir, files_a), (b_dir, files_b)):
        if not files:
            raise DataError(folder, "masks <stem>.png", "none", "pass the folder the annotations were written to")
    common = sorted(set(files_a) & set(files_b))
    if not common:
        raise DataError(b_dir, f"masks named like those in {a_dir}", "no stem in common", "compare the same images")
    tasks = [(stem, files_a[stem], files_b[stem], threshold) for stem in common]
    results = bounded_map(_compare_files, tasks, workers=worker_count(workers))
    rows = sorted(
        track(results, len(tasks), description="comparing", show=show_progress), key=lambda r: (-r.disagreement, r.stem)
    )
    only_a, only_b = sorted(set(files_a) - set(files_b)), sorted(set(files_b) - set(files_a))
    notes = [f"{len(s)} images only in {side}" for s, side in ((only_a, "A"), (only_b, "B")) if s]
    result = AgreementResult(
        tuple(rows),
        tuple(only_a),
        only_b=tuple(only_b),
        summary=summarise(rows),
        a_dir=Path(a_dir),
        b_dir=Path(b_dir),
        out_dir=None,
        iou_threshold=threshold,
        notes=tuple(notes),
    )
    if out_dir is None:
        return result
    from rbc_dataset.fileio import atomic_directory

    with atomic_directory(Path(out_dir), overwrite) as tmp:
        write_agreement(result, tmp)
    return replace(result, out_dir=Path(out_dir))


def _check_out_dir(out_dir: Path, overwrite: bool, inputs: list[Path]) -> None:
    """Fail before any work when the output folder would be refused at the end."""
    from rbc_dataset.errors import UsageError
    from rbc_dataset.fileio import check_output_outside

    check_output_outside(out_dir, inputs)
    if out_dir.exists() and not overwrite and (out_dir.is_file() or any(out_dir.iterdir())):
        raise UsageError(f"output {out_dir} already exists and is not empty; pass --overwrite to replace it")


def _clean(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def agreement_record(result: AgreementResult) -> dict:
    """The JSON document of an agreement (schema-versioned)."""
    images = [
        {**{k: _clean(v) for k, v in asdict(row).items()}, "disagreement": row.disagreement} for row in result.rows
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "a": str(result.a_dir),
        "b": str(result.b_dir),
        "iou_threshold": result.iou_threshold,
        "n_images": len(result.rows),
        "summary": result.summary,
        "only_a": list(result.only_a),
        "only_b": list(result.only_b),
        "images": images,
    }


def write_agreement(result: AgreementResult, folder: Path) -> None:
    """``folder/agreement.csv`` (one row per image, worst first, then unpaired images) and ``agreement.json``."""
    import csv
    import io

    columns = ["stem", "status", "dice", "iou", "instance_f1", "matched", "mean_matched_iou", "cells_a", "cells_b"]
    columns += ["foreground_a", "foreground_b", "path_a", "path_b"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    for row in result.rows:
        writer.writerow({**asdict(row), "status": "both"})
    for side, stems in (("only_a", result.only_a), ("only_b", result.only_b)):
        for stem in stems:
            writer.writerow({"stem": stem, "status": side})
    (Path(folder) / "agreement.csv").write_text(buffer.getvalue())
    write_json(Path(folder) / "agreement.json", agreement_record(result), indent=2)
