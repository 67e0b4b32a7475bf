"""Module-II of 3-TierDCFNet as a rule: mild vs chronic anaemia from the cells of the canonical mask.

No severity label is released for AneRBC, and the paper's thresholds were never published; the rule here is
``annotation.severity`` (versioned config ``severity_v1.yaml``): every cell is scored on size, roundness,
pallor and rim density relative to the image's own normal cells, and the image is chronic when the share of
abnormal cells reaches the configured threshold. ``rbc-bench run`` scores it as the ``rule`` head of the
``module2`` task beside the learned severity head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from benchmarks.baselines.features import require_masks, shard_location, single_threaded_opencv
from benchmarks.training.data import SplitView
from rbc_dataset.errors import DataError, UsageError

if TYPE_CHECKING:
    from annotation.severity import SeverityConfig

RULE_COLUMNS = ("sample_id", "abnormal_share", "prob", "pred", "n_cells")
NO_PREDICTION = -1  # pred of a sample without measurable cells


def anaemic_label(view: SplitView) -> int:
    """The label index of the anaemic class (by name; ``annotation.severity.ANAEMIC_CLASS_NAMES``).

    Raises:
        DataError: no class name of the split is an anaemic one.
    """
    from annotation.severity import ANAEMIC_CLASS_NAMES
    from benchmarks.suite.split_data import anaemic_label as find_anaemic_label

    index = find_anaemic_label(view.class_names)
    if index is not None:
        return index
    raise DataError(
        shard_location(view),
        f"an anaemic class among the class names (one of {', '.join(ANAEMIC_CLASS_NAMES)})",
        f"class names {view.class_names}",
        "pass indices= to choose the samples explicitly",
    )


def _requested(view: SplitView, indices: Sequence[int] | None) -> list[int]:
    """Table positions to score: ``indices`` checked, or every anaemic sample of the split."""
    if indices is None:
        return np.flatnonzero(view.table["label"].to_numpy() == anaemic_label(view)).tolist()
    positions = [int(i) for i in indices]
    bad = [i for i in positions if not 0 <= i < len(view)]
    if bad:
        raise UsageError(f"indices {bad[:5]} are outside the {view.split} split's 0..{len(view) - 1}")
    return positions


def _score_one(job: tuple) -> dict:
    """Worker: ``severity_from_image`` of one (image, mask) pair, reduced to the rule's columns."""
    from annotation.instances import split_cells
    from annotation.severity import severity_from_image

    image, mask, config = job
    with single_threaded_opencv():  # the same values in this process as in workers
        result = severity_from_image(image, split_cells(np.asarray(mask) > 0), config=config)
    share = result["abnormal_share"]
    pred = NO_PREDICTION if result["severity"] is None else int(result["severity"] == "chronic")
    return {"abnormal_share": float(share), "prob": float(share), "pred": pred, "n_cells": int(result["n_cells"])}


def rule_severity(
    view: SplitView,
    *,
    indices: Sequence[int] | None = None,
    workers: int = 1,
    config: SeverityConfig | None = None,
) -> pd.DataFrame:
    """Severity of anaemic samples by the Module-II rule, one row per requested sample in request order.

    Args:
        view: the split (it needs canonical masks).
        indices: positions in ``view.table``; None = every sample of the anaemic class.
        workers: processes (1 = in this process).
        config: ``annotation.severity.SeverityConfig``; None = ``load_severity_config()`` (severity_v1).

    Returns:
        Columns ``sample_id``, ``abnormal_share`` (share of abnormal cells away from the border), ``prob``
        (= abnormal_share: a monotone score for chronic), ``pred`` (1 chronic, 0 mild) and ``n_cells``.
        A sample without measurable cells gets ``abnormal_share`` and ``prob`` NaN and ``pred`` -1:
        the rule makes no call there, and scorers must leave it out or count it as wrong.

    Raises:
        DataError: the split has no masks, or no anaemic class when ``indices`` is None.
        UsageError: an index outside the split.
    """
    from annotation.severity import load_severity_config
    from rbc_dataset.parallel import bounded_map

    require_masks(view, "the severity rule")
    positions = _requested(view, indices)
    config = config or load_severity_config()
    dataset = view.dataset(with_mask=True)

    def jobs():
        for position in positions:
            sample = dataset[position]
            image = sample["image"].numpy().transpose(1, 2, 0)
            yield image, sample["mask"].numpy()[0], config

    rows = list(bounded_map(_score_one, jobs(), workers=max(1, workers)))
    table = pd.DataFrame(rows, columns=list(RULE_COLUMNS[1:]))
    table.insert(0, "sample_id", view.table["sample_id"].iloc[positions].astype(str).to_numpy())
    table["pred"] = table["pred"].astype(np.int64)
    table["n_cells"] = table["n_cells"].astype(np.int64)
    return table


def fit_rule_cut(abnormal_share, chronic) -> dict:
    """The abnormal-cell share from which a sample is chronic, chosen for the unit the rule is applied to.

    The packaged cut was set on whole images; a 300 px tile holds a twelfth of their cells, so its share is noisier
    and its best cut differs. The cut that maximises balanced accuracy on samples of known severity (validation
    tiles in ``rbc-bench run``), halfway between two neighbouring shares; samples the rule could not call are left out.

    Returns:
        ``{"cut", "balanced_accuracy", "n"}``; cut NaN when both severities are not present.
    """
    from sklearn.metrics import balanced_accuracy_score

    share, chronic = np.asarray(abnormal_share, dtype=np.float64), np.asarray(chronic, dtype=np.int64)
    known = np.isfinite(share) & (chronic >= 0)
    share, chronic = share[known], chronic[known]
    if len(np.unique(chronic)) < 2:
        return {"cut": float("nan"), "balanced_accuracy": float("nan"), "n": int(known.sum())}
    values = np.unique(share)
    candidates = np.concatenate([[values[0]], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-9]])
    scores = [balanced_accuracy_score(chronic, share >= cut) for cut in candidates]
    best = int(np.argmax(scores))
    return {"cut": float(candidates[best]), "balanced_accuracy": float(scores[best]), "n": int(len(share))}


def apply_rule_cut(rule: pd.DataFrame, cut: float) -> pd.DataFrame:
    """The rule's table with ``pred`` recomputed at ``cut`` (samples without cells keep -1)."""
    called = rule["abnormal_share"].notna()
    pred = np.where(called, (rule["abnormal_share"] >= cut).astype(np.int64), NO_PREDICTION)
    return rule.assign(pred=pred.astype(np.int64))
