"""Helpers shared by the tests: the one place test modules import from (never from conftest or each other).

- this module: the project's folders, checksums of a tree, output text without terminal wrapping;
- ``audit``: planting problems into a synthetic dataset, the audit's issues of one code;
- ``browser``: opening the HTML reports in headless Chromium (also ``python -m tests.helpers.browser``);
- ``fake_runs``: hand-made rbc-bench run folders;
- ``hostile_images``: decompression bombs, HTML names and a guard that fails on decoding;
- ``reports``: CBC report text with rows replaced;
- ``shards``: tiny HDF5/Parquet builds written directly;
- ``small_data``: small image/mask pairs cut from the synthetic release, and an in-process CLI runner;
- ``smears``: drawn smears and synthetic crops for the annotation tests.

Fixtures and pytest hooks live in the conftest.py files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under root, by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def squeezed(text: str) -> str:
    """Output without whitespace and rich's box borders: phrases match however the terminal wrapped them."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│╭╮╰╯─")
