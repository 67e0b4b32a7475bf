"""What the learned cell model is trained to predict, made from the ground truth a pair has.

Two maps per pixel:

- **cell**: 1 on cells (the annotators' foreground), 0 on background;
- **centre**: each cell's distance to its own edge divided by that cell's largest such distance, so 1 at every
  cell's centre, falling to 0 at its edge **and at the line where it touches another cell**. Thresholding it
  gives one seed per cell even inside a clump, which a distance transform of the merged blob cannot (two
  touching pale cells form one blob whose distance map may have a single peak). It is the normalised
  distance-to-boundary map of StarDist-style methods, reduced to one channel.

The centre map needs instance truth (the synthetic generator's instance maps, or a user's instance labels). A
user's plain binary masks give only the cell map: their centre weight is 0, so fine-tuning on them moves the
cell head and leaves the centre head as pretraining made it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

CENTRE_LEVELS = 255  # the centre map is stored in 8 bits: 1/255 steps are far finer than a pixel of a cell


@dataclass(frozen=True)
class Targets:
    """The training targets of one image, packed as (3, H, W) uint8: cell 0/1, centre 0-255, centre weight 0/1.

    Packed, a full 1224x960 image's targets take 3.5 MB (float32 maps would take 14 MB), and a training crop is
    cut from the packed array before it becomes float.
    """

    packed: np.ndarray

    @classmethod
    def from_maps(cls, cell: np.ndarray, *, centre: np.ndarray, weight: np.ndarray) -> Targets:
        centre8 = np.round(np.clip(centre, 0, 1) * CENTRE_LEVELS)
        return cls(np.stack([cell > 0, centre8, weight > 0]).astype(np.uint8))

    @property
    def cell(self) -> np.ndarray:
        return self.packed[0] > 0

    @property
    def centre(self) -> np.ndarray:
        return self.packed[1].astype(np.float32) / CENTRE_LEVELS

    @property
    def has_centres(self) -> bool:
        return bool(self.packed[2].any())


def as_float(packed: np.ndarray) -> np.ndarray:
    """Packed targets (3, ..., H, W) uint8 to float32 cell, centre and weight in [0, 1]."""
    out = packed.astype(np.float32)
    out[1] /= CENTRE_LEVELS
    return out


def instance_edges(instances: np.ndarray) -> np.ndarray:
    """Pixels of an instance whose 4-neighbour (or the image border) lies in another instance or the background."""
    labels = np.pad(instances, 1, mode="constant")
    centre = labels[1:-1, 1:-1]
    edges = np.zeros(centre.shape, bool)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        neighbour = labels[1 + dy : labels.shape[0] - 1 + dy, 1 + dx : labels.shape[1] - 1 + dx]
        edges |= neighbour != centre
    return edges & (centre > 0)


def centre_map(instances: np.ndarray) -> np.ndarray:
    """Each instance's distance to its own edge over its largest one: 1 at its centre, 0 at its edge (float32)."""
    instances = np.asarray(instances)
    inside = (instances > 0) & ~instance_edges(instances)
    distance = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)  # 0 on edges and background
    n = int(instances.max(initial=0))
    if n == 0:
        return np.zeros(instances.shape, np.float32)
    peak = np.asarray(ndi.maximum(distance, labels=instances, index=np.arange(1, n + 1)), np.float32)
    scale = np.concatenate([[1.0], np.maximum(peak, 1.0)])
    return (distance / scale[instances.astype(np.int64)]).astype(np.float32)


def targets_from_instances(instances: np.ndarray, *, cell: np.ndarray | None = None) -> Targets:
    """Targets from an instance map (0 = background); ``cell`` replaces the foreground when the annotators'
    convention differs from the instances (AneRBC masks also cover platelets, which have no instance)."""
    foreground = (instances > 0) if cell is None else np.asarray(cell, bool)
    return Targets.from_maps(foreground, centre=centre_map(instances), weight=np.ones(instances.shape, bool))


def targets_from_mask(mask: np.ndarray) -> Targets:
    """Targets from a binary cell mask: the cell map only (the centre map is unknown, weight 0)."""
    zeros = np.zeros(np.shape(mask), np.float32)
    return Targets.from_maps(np.asarray(mask, bool), centre=zeros, weight=zeros)
