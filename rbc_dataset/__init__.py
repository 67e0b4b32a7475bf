"""rbc-dataset: curation, sharding and benchmarking toolkit for red-blood-cell microscopy (AneRBC).

The Python API (``rbc_dataset/api.py``; README "Python API")::

    import rbc_dataset as rd
    checked = rd.validate_masks("AneRBC")          # findings as a DataFrame, nothing written
    built = rd.build("AneRBC", out="anerbc-built")  # a Build: .card, .splits, .manifest, .load(), .verify()
    train = rd.load("anerbc-built", config="model", split="train")

The names are imported on first use (PEP 562), so ``import rbc_dataset`` and the commands' ``--help`` stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rbc_dataset.lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rbc_dataset.api import (
        Audit,
        Build,
        Manifest,
        Validation,
        Verification,
        audit,
        build,
        calibrate,
        findings_frame,
        ingest,
        load,
        synthesize,
        validate_masks,
        verify,
    )

__all__ = [
    "Audit",
    "Build",
    "Manifest",
    "Validation",
    "Verification",
    "audit",
    "build",
    "calibrate",
    "findings_frame",
    "ingest",
    "load",
    "synthesize",
    "validate_masks",
    "verify",
]
_HOMES = dict.fromkeys(__all__, "rbc_dataset.api")
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
