"""A fitted cell model applied to whole images: cell probability, cell centres, instances and uncertainty.

The network is fully convolutional, so an image is predicted whole in one pass, at its native resolution when
its cells have about the size the model learned them at (the user's own images), else resized so they do and the
maps resized back (cellpose's cell-diameter idea; ``image_scale``). Instances come from the centre
map: its high part gives one seed per cell, also inside a clump of touching cells, and a watershed of the
inverted centre map grows each seed over the cell mask (``annotation.learned.targets`` says what the map is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage as ndi

from annotation.learned.model_folder import CellModel

CELL_THRESHOLD = 0.5  # cell probability above which a pixel is a cell
SEED_THRESHOLD = 0.5  # centre value above which a pixel belongs to a cell's seed
MIN_SEED_PX = 4  # seeds smaller than this are noise, not cells
SCALE_TOLERANCE = 0.25  # cells within 25 % of the model's training radius are predicted at native size
MAX_SCALE = 8.0  # never resize by more than this (either way)


@dataclass(frozen=True)
class CellMaps:
    """What the model says about one image, (H, W) float32 each."""

    cell: np.ndarray  # probability of the cell class
    centre: np.ndarray  # 1 at a cell's centre, 0 at its edge and on background

    def mask(self, threshold: float = CELL_THRESHOLD) -> np.ndarray:
        return self.cell > threshold

    def uncertainty_map(self) -> np.ndarray:
        """Binary entropy of the cell probability in bits: 0 where sure, 1 at p = 0.5."""
        p = np.clip(self.cell.astype(np.float64), 1e-6, 1 - 1e-6)
        return (-(p * np.log2(p) + (1 - p) * np.log2(1 - p))).astype(np.float32)

    def uncertainty(self) -> float:
        """Expected share of wrong pixels among the expected cell pixels: sum of min(p, 1 - p) over sum of p.

        Under the model's own probabilities this is the share of the cell area a person would have to correct,
        so it is comparable between images with few and many cells; 0 for an image the model is sure of.
        """
        p = self.cell.astype(np.float64)
        return float(np.minimum(p, 1 - p).sum() / max(p.sum(), 1.0))


def image_tensor(image_rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 to the network's (1, 3, H, W) ImageNet-normalised float input."""
    from annotation.learned.model_folder import channels_last
    from benchmarks.models.unet import normalise

    rgb = np.ascontiguousarray(image_rgb[..., :3])
    return channels_last(normalise(torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0), device))


def image_scale(model: CellModel, image_rgb: np.ndarray) -> float:
    """How much to resize ``image_rgb`` so that its cells have the radius the model was trained on (1.0: as is).

    The radius is estimated without the model (granulometry of an Otsu map, refined from the colour feature
    as ``annotate propose`` does when the quick estimate disagrees with the model's radius), so a model
    fitted on AneRBC's ~9 px radii also reads BCCD's ~45 px cells. Within ``SCALE_TOLERANCE`` of the model's
    radius, or for a model that records none, the image is used as it is.
    """
    from annotation.propose import estimate_cell_radius, otsu_cells, propose_mask_with_radius

    trained = float(model.description.get("cell_radius_px") or 0)
    if trained <= 0:
        return 1.0
    radius = estimate_cell_radius(otsu_cells(image_rgb[..., 1]))
    if abs(np.log(radius / trained)) > np.log(1 + SCALE_TOLERANCE):
        radius = propose_mask_with_radius(image_rgb)[1]  # pale cells make the quick estimate too small
    factor = float(np.clip(trained / radius, 1 / MAX_SCALE, MAX_SCALE))
    return 1.0 if abs(np.log(factor)) <= np.log(1 + SCALE_TOLERANCE) else factor


def resize_smooth(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``array`` resized to ``size`` (width, height): by area averaging when it shrinks (no aliasing of thin
    edges), bilinearly when it grows."""
    import cv2

    shrinks = size[0] < array.shape[1]
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR)


@torch.inference_mode()
def predict_maps(model: CellModel, image_rgb: np.ndarray, *, scale: float | None = None) -> CellMaps:
    """The cell and centre maps of one RGB image, at its own resolution.

    Args:
        model: a fitted cell model.
        image_rgb: (H, W, 3) uint8.
        scale: resize factor applied before the network and undone after (None: ``image_scale``; 1: none).
    """
    import cv2

    scale = image_scale(model, image_rgb) if scale is None else float(scale)
    height, width = image_rgb.shape[:2]
    if scale != 1.0:
        image_rgb = resize_smooth(image_rgb, (max(1, round(width * scale)), max(1, round(height * scale))))
    device = next(model.network.parameters()).device
    logits = model.network(image_tensor(image_rgb, device))[0]
    maps = torch.sigmoid(logits.float()).cpu().numpy()
    if scale != 1.0:
        maps = np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in maps])
    return CellMaps(cell=maps[0], centre=maps[1])


def decode_instances(
    maps: CellMaps,
    *,
    cell_threshold: float = CELL_THRESHOLD,
    seed_threshold: float = SEED_THRESHOLD,
    min_seed_px: int = MIN_SEED_PX,
) -> np.ndarray:
    """int32 instance labels (0 = background): one instance per seed, grown over the cell mask by watershed.

    Cell blobs the watershed does not reach (no seed in them: specks, platelets) become one instance each, so
    every cell pixel belongs to an instance. Labels are consecutive from 1.
    """
    from skimage.segmentation import watershed

    cells = maps.mask(cell_threshold)
    seeds, n_seeds = ndi.label(cells & (maps.centre > seed_threshold))
    if n_seeds:
        sizes = np.bincount(seeds.ravel(), minlength=n_seeds + 1)
        keep = sizes >= min_seed_px
        keep[0] = False
        seeds = np.where(keep[seeds], np.cumsum(keep)[seeds], 0).astype(np.int32)
    labels = watershed(-maps.centre, seeds, mask=cells).astype(np.int32)
    orphans, n_orphans = ndi.label(cells & (labels == 0))
    if n_orphans:
        labels = np.where(orphans > 0, orphans + labels.max(), labels).astype(np.int32)
    return labels
