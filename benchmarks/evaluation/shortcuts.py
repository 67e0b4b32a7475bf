"""Is the dataset confounded? The shortcut baselines' verdict, decided from intervals, not from a mean.

A shortcut baseline (``shortcut-*``) sees one thing that should not tell the classes apart: the background
colour, the raw mask's intensity, the CBC report. It shows the dataset **confounded** when the lower bound of the
95 % group-bootstrap interval of its ROC-AUC or of its balanced accuracy lies above chance (0.5): then even the
least favourable resample of the test parents is separated. ROC-AUC counts as much as balanced accuracy: a probe
whose threshold is wrong (balanced accuracy 0.5) can still rank every sample right (ROC-AUC 1.0), which is the
same leak. A point estimate that reaches the threshold (0.7) while the intervals include chance is a **possible**
confound, not shown. With several seeds the interval is that of the mean over seeds (``comparisons``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from benchmarks.evaluation.caveats import MIN_PARENTS
from rbc_dataset.markup import md_code, md_text

SHORTCUT_PREFIX = "shortcut-"
SHORTCUT_THRESHOLD = 0.7  # a point estimate from which an interval that includes chance is a *possible* confound
CHANCE = 0.5
CONFOUNDED, POSSIBLE, NOT_FLAGGED = "confounded", "possible", "not flagged"
# What a shortcut baseline sees, by a word in its name; the report says the dataset is confounded by *this*.
SHORTCUT_INPUTS: dict[str, str] = {
    "background": "the background colour",
    "mask": "the raw mask intensity",
    "cbc": "the CBC values",
}
SHORTCUT_COLUMNS: tuple[str, ...] = (
    "run",
    "model",
    "reads",
    "verdict",
    "evidence",
    "balanced_accuracy",
    "balanced_accuracy_ci_low",
    "balanced_accuracy_ci_high",
    "roc_auc",
    "roc_auc_ci_low",
    "roc_auc_ci_high",
    "n_test_parents",
    "n_seeds",
    "interval",
    "sentence",
)
_METRICS = (("roc_auc", "ROC-AUC"), ("balanced_accuracy", "balanced accuracy"))


@dataclass(frozen=True)
class ShortcutCheck:
    """The verdict of one shortcut baseline (Module I, test split, global head), with the numbers it rests on."""

    run: str  # the run's label
    model: str  # the baseline, ``shortcut-*``
    reads: str  # what it sees, e.g. "the background colour"
    verdict: str  # CONFOUNDED, POSSIBLE or NOT_FLAGGED
    evidence: str  # the metrics whose interval lies above chance, e.g. "ROC-AUC and balanced accuracy"; "" if none
    balanced_accuracy: float  # mean over seeds
    balanced_accuracy_ci_low: float
    balanced_accuracy_ci_high: float
    roc_auc: float  # mean over seeds
    roc_auc_ci_low: float
    roc_auc_ci_high: float
    n_test_parents: int  # -1: not recorded
    n_seeds: int
    interval: str  # how the intervals were computed (the leaderboard row's ``ci_method``)
    sentence: str  # the verdict in words, with the numbers

    def to_dict(self) -> dict:
        return asdict(self)


def shortcut_input(model: str) -> str:
    """What a shortcut baseline reads, from a word in its name."""
    for word, seen in SHORTCUT_INPUTS.items():
        if word in model.lower():
            return seen
    return "its shortcut features"


def is_shortcut_row(row: dict) -> bool:
    return str(row["model"]).startswith(SHORTCUT_PREFIX) and row["head"] == "global"


def _value(row: dict, column: str) -> float:
    value = row.get(column, np.nan)
    return float(value) if value is not None and np.isfinite(value) else float("nan")


def _with_interval(row: dict, metric: str, title: str) -> str:
    mean, low, high = (_value(row, f"{metric}{end}") for end in ("_mean", "_ci_low", "_ci_high"))
    if np.isnan(mean):
        return f"{title} n/a"
    interval = f" [{low:.3f}, {high:.3f}]" if np.isfinite(low) and np.isfinite(high) else " (no interval)"
    return f"{title} {mean:.3f}{interval}"


def _where(row: dict) -> str:
    parents, seeds = int(row.get("n_test_parents", -1)), int(row.get("n_seeds", 1))
    on = f"on {parents} test parent{'' if parents == 1 else 's'}" if parents >= 0 else "on test parents not recorded"
    over = f", mean over {seeds} seeds" if seeds > 1 else ", one seed"
    return f"{on}{over} (run {row['run']})"


def _sentence(row: dict, verdict: str, evidence: list[str], threshold: float) -> str:
    numbers = ", ".join(_with_interval(row, metric, title) for metric, title in reversed(_METRICS))
    reads, model, where = shortcut_input(row["model"]), row["model"], _where(row)
    if verdict == CONFOUNDED:
        parents = int(row.get("n_test_parents", -1))
        above = f"the 95 % interval of {' and of '.join(evidence)} lies above chance {CHANCE}"
        how_sure = (
            f"on these {parents} test parents ({above}, but a bootstrap over fewer than {MIN_PARENTS} parents "
            "understates the uncertainty: less sure than it reads)"
            if 0 <= parents < MIN_PARENTS
            else f"(sure: {above})"
        )
        return (
            f"the dataset is confounded {how_sure}: {model} separates the classes from {reads} alone, {numbers}, "
            + where
        )
    if verdict == POSSIBLE:
        return (
            f"the dataset may be confounded, not shown (the 95 % intervals include chance {CHANCE}): {model} "
            f"reaches the {threshold:.2f} mark from {reads} alone, {numbers}, {where}"
        )
    return (
        f"{model} ({reads}): not flagged, no interval lies above chance {CHANCE} and no estimate reaches "
        f"{threshold:.2f}: {numbers}, {where}"
    )


def check_shortcut(row: dict, threshold: float = SHORTCUT_THRESHOLD) -> ShortcutCheck:
    """The verdict of one leaderboard row of a shortcut baseline (its intervals: the row's ``*_ci_*`` columns)."""
    evidence = [title for metric, title in _METRICS if _value(row, f"{metric}_ci_low") > CHANCE]
    reached = any(_value(row, f"{metric}_mean") >= threshold for metric, _ in _METRICS)
    verdict = CONFOUNDED if evidence else POSSIBLE if reached else NOT_FLAGGED
    return ShortcutCheck(
        run=str(row["run"]),
        model=str(row["model"]),
        reads=shortcut_input(row["model"]),
        verdict=verdict,
        evidence=" and ".join(evidence),
        **{
            f"{metric}{end}": _value(row, f"{metric}{suffix}")
            for metric, _ in _METRICS
            for end, suffix in (("", "_mean"), ("_ci_low", "_ci_low"), ("_ci_high", "_ci_high"))
        },
        n_test_parents=int(row.get("n_test_parents", -1)),
        n_seeds=int(row.get("n_seeds", 1)),
        interval=str(row.get("ci_method", "")),
        sentence=_sentence(row, verdict, evidence, threshold),
    )


def shortcut_checks(rows: list[dict], threshold: float = SHORTCUT_THRESHOLD) -> list[ShortcutCheck]:
    """The verdict of every shortcut baseline among leaderboard rows (Module I, global head), in row order."""
    return [check_shortcut(row, threshold) for row in rows if is_shortcut_row(row)]


def flagged_sentences(checks: list[ShortcutCheck]) -> list[str]:
    """The sentences of the confounded verdicts, then of the possible ones."""
    return [c.sentence for c in checks if c.verdict == CONFOUNDED] + [
        c.sentence for c in checks if c.verdict == POSSIBLE
    ]


def _cell(check: ShortcutCheck, metric: str) -> str:
    mean, low, high = (getattr(check, f"{metric}{end}") for end in ("", "_ci_low", "_ci_high"))
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]" if np.isfinite(low) and np.isfinite(high) else f"{mean:.3f}"


def shortcut_markdown(checks: list[ShortcutCheck], threshold: float) -> list[str]:
    """The report's section: the rule, a table of every shortcut baseline's verdict, the flagged sentences."""
    lines = ["## Shortcut baselines", ""]
    if not checks:
        return [*lines, "No shortcut baselines (models named `shortcut-*`) in these runs.", ""]
    lines += [
        "Module I, test, global head. A shortcut baseline shows the dataset **confounded** when the lower bound of "
        f"the 95 % group-bootstrap interval of its ROC-AUC or of its balanced accuracy lies above chance ({CHANCE}); "
        f"**possible** (not shown) when either point estimate reaches {threshold:.2f} but both intervals include "
        "chance. ROC-AUC counts too: a probe whose threshold is off (balanced accuracy 0.5) can still rank every "
        "sample right. Intervals: of the mean over seeds.",
        "",
        "| model | reads | balanced acc. [95 % CI] | ROC-AUC [95 % CI] | test parents | seeds | verdict | run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for check in checks:
        parents = str(check.n_test_parents) if check.n_test_parents >= 0 else "?"
        verdict = f"**{check.verdict}**" if check.verdict != NOT_FLAGGED else check.verdict
        cells = [md_code(check.model), md_text(check.reads), _cell(check, "balanced_accuracy"), _cell(check, "roc_auc")]
        cells += [parents, str(check.n_seeds), verdict, md_text(check.run)]
        lines.append("| " + " | ".join(cells) + " |")
    flagged = flagged_sentences(checks)
    lines += ["", *(f"- **{md_text(sentence)}**" for sentence in flagged)] if flagged else []
    if not flagged:
        lines += ["", f"No shortcut baseline's interval lies above chance, and none reaches {threshold:.2f} on test."]
    return [*lines, ""]
