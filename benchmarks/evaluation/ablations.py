"""Tier heads and 3-TierDCFNet's variants: shown for the ablation, beside the leaderboard, never ranked in it.

A model's result is its ``global`` head. Ranking the tier heads (or the ``3tier-*`` variants: ``3tier-outputs``,
``3tier-rgb``, ``3tier-end-to-end``) next to it invites picking whichever scores best on the test split, which is
selecting on the test split. They go to an ablation table in a fixed order instead.
"""

from __future__ import annotations

from benchmarks.evaluation.plots import TIER_HEADS
from benchmarks.suite.leaky import is_leaky_label

ABLATION_PREFIX = "3tier-"  # 3-TierDCFNet's ablation variants (3tier-outputs, 3tier-rgb...): never ranked


def is_ablation(row: dict) -> bool:
    """A tier head or a ``3tier-*`` variant of an honest run: shown for the ablation, never ranked.

    Rows of leaky-split runs stay where ``benchmarks.suite.leaky`` puts them (a section of their own).
    """
    if is_leaky_label(row["run"]):
        return False
    return row["head"] != "global" or str(row["model"]).startswith(ABLATION_PREFIX)


def split_ablations(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(ranked, ablations): each model's ``global`` head to rank; tier heads and ``3tier-*`` variants apart.

    The ablation rows come in a fixed order, not by score: per run, ``3tier`` (its ``global`` head first, as the
    reference the others are read against) then its variants, each head in ``tier1``-``tier3`` order.
    """
    ranked = [row for row in rows if not is_ablation(row)]
    ablated = {(row["run"], row["model"]) for row in rows if is_ablation(row)}
    family = [row for row in rows if (row["run"], row["model"]) in ablated or _is_reference(row, ablated)]

    def order(row: dict) -> tuple:
        head = TIER_HEADS.index(row["head"]) if row["head"] in TIER_HEADS else len(TIER_HEADS)
        return (row["run"], row["model"] != "3tier", row["model"], head != TIER_HEADS.index("global"), head)

    return ranked, sorted(family, key=order)


def _is_reference(row: dict, ablated: set[tuple[str, str]]) -> bool:
    """``3tier``'s global row when its run has ``3tier-*`` variants: the reference the ablation is read against."""
    variants = any(run == row["run"] and model.startswith(ABLATION_PREFIX) for run, model in ablated)
    return row["model"] == "3tier" and row["head"] == "global" and variants


def variant_rows(ablations: list[dict]) -> list[dict]:
    """The global heads of the ``3tier-*`` variants (calibration shows every model's global head)."""
    return [row for row in ablations if row["head"] == "global" and str(row["model"]).startswith(ABLATION_PREFIX)]
