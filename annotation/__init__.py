"""Annotation tools: mask proposals, instances, morphometry, COCO, agreement, review.

The Python API, for one image in memory or for a folder (each folder tool writes only into its ``out``):

- one image: ``propose_mask(image_rgb)`` (bool cell map), ``segment_instances(image_rgb)`` (uint16 instance map),
  ``cell_features(image_rgb, labels)`` (per-cell morphometry DataFrame);
- a folder: ``propose_folder``, ``instances_folder``, ``morphometry_folder``, ``export_coco``, ``import_coco``,
  ``points_to_coco``, ``boxes_to_coco``, ``measure_agreement`` (``agree.agree``), ``write_review``
  (``review.review``); the ``rbc-dataset annotate`` commands call these.

Names are imported on first use (PEP 562), so ``import annotation`` stays light.
"""

from __future__ import annotations

from rbc_dataset.lazy import lazy_exports

_HOMES = {
    "propose_mask": "annotation.propose",
    "propose_folder": "annotation.propose",
    "segment_instances": "annotation.instances",
    "instances_folder": "annotation.instances",
    "cell_features": "annotation.morphometry",
    "morphometry_folder": "annotation.morphometry",
    "export_coco": "annotation.coco",
    "import_coco": "annotation.coco",
    "points_to_coco": "annotation.coco_external",
    "boxes_to_coco": "annotation.coco_external",
    "measure_agreement": "annotation.agree:agree",
    "write_review": "annotation.review:review",
}
__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
