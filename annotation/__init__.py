"""Annotation tools: mask proposals, instances, morphometry, COCO, agreement, review."""
