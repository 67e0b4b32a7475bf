"""Per-cell appearance of a smear for ``rbc-bench realism``: the measurement lives in ``rbc_dataset.cell_profiles``.

``rbc-dataset calibrate`` measures real cells with the same code (the package may not import ``benchmarks``),
so the measurement moved there; this module keeps the names the realism report and its tests use.
"""

from __future__ import annotations

from rbc_dataset.cell_profiles import (
    CELL_COLUMNS,
    CENTRE_FLOOR,
    CENTRE_RHO,
    GHOST_SHARE,
    MIN_AREA_PX,
    MIN_PALLOR_DEPTH,
    MIN_SOLIDITY,
    PROFILE_COLUMNS,
    RIM_RHO,
    RING_CENTRES,
    RING_DEPTH,
    RING_EDGES,
    RING_WIDTH,
    SINGLE_HIGH,
    SINGLE_LOW,
    WINDOW_RHO,
    cell_pixels,
    measure_cells,
    pallor_measures,
    radial_profile,
)

__all__ = [
    "CELL_COLUMNS",
    "CENTRE_FLOOR",
    "CENTRE_RHO",
    "GHOST_SHARE",
    "MIN_AREA_PX",
    "MIN_PALLOR_DEPTH",
    "MIN_SOLIDITY",
    "PROFILE_COLUMNS",
    "RIM_RHO",
    "RING_CENTRES",
    "RING_DEPTH",
    "RING_EDGES",
    "RING_WIDTH",
    "SINGLE_HIGH",
    "SINGLE_LOW",
    "WINDOW_RHO",
    "cell_pixels",
    "measure_cells",
    "pallor_measures",
    "radial_profile",
]
