"""Settings of ``rbc-dataset validate-masks`` (thresholds say where they come from)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rbc_dataset.errors import UsageError
from rbc_dataset.fileio import MAX_PIXELS


@dataclass(frozen=True)
class ValidateConfig:
    """Thresholds of the pair and dataset checks; the resolved config is saved in the report."""

    max_pixels: int = MAX_PIXELS  # refuse to decode larger images (decompression bombs): fileio's one limit
    speck_max_px: int = 20  # mask components smaller than this are specks (a cell is about 300 px in AneRBC)
    hole_max_px: int = 60  # enclosed background smaller than this is a hole, larger is a gap between cells
    speck_warn_count: int = 5  # warn from this many specks
    hole_warn_count: int = 5  # warn from this many holes
    merged_factor: float = 1.8  # blobs larger than this many median cells hold several cells
    mismatch_iou: float = 0.4  # below this agreement at every shift and flip the mask is not this image's
    shift_gain: float = 0.08  # IoU gain at the best shift over zero shift that makes a mask "shifted"
    flip_gain: float = 0.15  # IoU gain of a flipped mask over the best shift that makes it "flipped"
    shift_min_px: int = 3  # smaller best shifts are resampling noise, not a shifted mask
    outlier_z: float = 5.0  # robust z-score of the foreground fraction that makes an outlier
    rgb_tolerance: int = 8  # grey levels RGB_segmented may differ from the image on cell pixels
    thumbnails: int = 12  # worst cases drawn as overlay thumbnails in the summary
    workers: int = 0  # processes (0 = all cores); does not change the result

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise UsageError(f"max_pixels must be at least 1, got {self.max_pixels}")
        if self.workers < 0:
            raise UsageError(f"--workers must be 0 (all cores) or more, got {self.workers}")

    def to_dict(self) -> dict:
        return asdict(self)
