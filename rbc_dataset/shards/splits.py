"""Leak-free splits: whole groups of parent images go to one split, stratified by class (and severity).

The unit of assignment is the *split group*: parent images joined whenever they share a manifest
``group_id``, a CBC report (the release has no patient id; a shared report is the closest proxy) or a
near-duplicate cluster from the audit. Tiles follow their parent. Train/validation/test shares are met by
a greedy assignment of groups, largest first (ties broken by the seed), to the split where they reduce
the squared gap to the per-stratum targets most (the split's overall size breaks ties). scikit-learn's
``StratifiedGroupKFold`` cannot give unequal shares and fails on fewer groups than folds, so it is used for
the cross-validation folds only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.manifest import parent_keys
from rbc_dataset.markup import md_text
from rbc_dataset.shards.config import SPLIT_NAMES

SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation", "eval": "validation"}


@dataclass(frozen=True)
class SplitPlan:
    """The split (and fold) of every parent image, and how it was made."""

    units: pd.DataFrame  # one row per parent: parent_id, group_id, class_name, stratum, n_samples, split, fold
    method: str  # "stratified-group" or "imported from FILE"
    ratios: tuple[float, float, float]
    seed: int
    folds: int  # 0 = no cross-validation folds
    notes: tuple[str, ...] = ()  # what the fold assignment had to say (too few groups for a stratum, ...)

    def split_of_samples(self, rows: pd.DataFrame) -> pd.Series:
        """Split of every manifest row (by its parent), indexed like ``rows``."""
        return pd.Series(parent_keys(rows), index=rows.index).map(self.units.set_index("parent_id")["split"])

    def fold_of_samples(self, rows: pd.DataFrame) -> pd.Series:
        return pd.Series(parent_keys(rows), index=rows.index).map(self.units.set_index("parent_id")["fold"])


def parent_units(rows: pd.DataFrame, stratify_severity: bool = True) -> pd.DataFrame:
    """One row per parent image with its class, stratum and number of samples (itself and its tiles)."""
    frame = rows.assign(parent_id=parent_keys(rows))
    # The parent's own row (a full image) speaks for it; tiles of a parent that is absent speak for themselves.
    frame = frame.assign(_tile=frame["tile_index"].notna()).sort_values(["parent_id", "_tile", "sample_id"])
    units = frame.groupby("parent_id", sort=True).agg(
        class_name=("class_name", "first"),
        severity=("severity", "first"),
        given_group=("group_id", "first"),
        n_samples=("sample_id", "size"),
    )
    units = units.reset_index()
    stratum = units["class_name"].astype(str)
    if stratify_severity:
        known = units["severity"].notna()
        stratum = stratum.where(~known, stratum + "/" + units["severity"].astype(str))
    return units.assign(stratum=stratum)


def join_groups(
    units: pd.DataFrame, rows: pd.DataFrame, *, duplicates: list[dict], shared_cbc: list[dict]
) -> pd.Series:
    """Split group of every parent: given groups, shared CBC reports and duplicate clusters joined transitively.

    ``rows`` is the whole manifest, samples a build leaves out included: a release tile left out for a defect
    still ties its parent to the parent it duplicates, as the leakage check (which reads every row) expects.
    """
    from scipy.cluster.hierarchy import DisjointSet

    keys = pd.Series(parent_keys(rows), index=rows.index)
    parent_of = dict(zip(rows["sample_id"], keys, strict=True))
    known = set(units["parent_id"])
    groups = DisjointSet(units["parent_id"])
    given = units.dropna(subset=["given_group"])
    joined = [list(members) for _, members in given.groupby("given_group")["parent_id"]]
    for unit_list in [c["sample_ids"] for c in duplicates] + [r["sample_ids"] for r in shared_cbc]:
        joined.append(sorted({parent_of[s] for s in unit_list if s in parent_of} & known))
    for parents in joined:
        for other in parents[1:]:
            groups.merge(parents[0], other)
    # The smallest parent id names its group: stable across runs, whatever order the joins came in.
    name = {parent: min(subset) for subset in groups.subsets() for parent in subset}
    return units["parent_id"].map(name)


def _targets(units: pd.DataFrame, ratios: tuple[float, ...]) -> pd.DataFrame:
    totals = units.groupby("stratum").size()
    return pd.DataFrame({split: totals * share for split, share in zip(SPLIT_NAMES, ratios, strict=True)})


def assign_splits(units: pd.DataFrame, ratios: tuple[float, float, float], *, seed: int) -> pd.Series:
    """Greedy stratified assignment of whole groups to train/validation/test (see the module docstring)."""
    targets = _targets(units, ratios)
    weight = 1.0 / targets.sum(axis=1)  # every stratum counts the same, whatever its size
    counts = pd.crosstab(units["group_id"], units["stratum"]).reindex(columns=targets.index, fill_value=0)
    rng = np.random.default_rng(seed)
    order = counts.index.to_numpy()[rng.permutation(len(counts))]
    sizes = counts.loc[order].sum(axis=1).to_numpy()
    order = order[np.argsort(-sizes, kind="stable")]
    assigned = pd.DataFrame(0.0, index=targets.index, columns=list(SPLIT_NAMES))
    open_splits = [s for s, share in zip(SPLIT_NAMES, ratios, strict=True) if share > 0]
    split_of_group = {}
    n_all = float(targets.to_numpy().sum())
    for group in order:
        need = counts.loc[group]
        costs = []
        for split in open_splits:
            before, target = assigned[split], targets[split]
            cost = float((((before + need - target) ** 2 - (before - target) ** 2) * weight).sum())
            # The split's overall size breaks ties between strata (8 images must not give an empty test split).
            total, goal, n = before.sum(), target.sum(), need.sum()
            costs.append(cost + ((total + n - goal) ** 2 - (total - goal) ** 2) / n_all)
        best = open_splits[int(np.argmin(np.round(costs, 12)))]
        assigned[best] += need
        split_of_group[group] = best
    return units["group_id"].map(split_of_group)


def _fold_problem(units: pd.DataFrame, folds: int) -> str | None:
    """Why ``folds`` cross-validation folds cannot be made over the train+validation groups (None: they can)."""
    pool = units[units["split"] != "test"]
    if folds == 0 or pool.empty:
        return None
    n_groups = pool["group_id"].nunique()
    if n_groups < folds:
        return (
            f"--folds {folds} needs at least {folds} split groups in train+validation, found {n_groups}; "
            "pass a smaller --folds (or --folds 0 for none)"
        )
    largest = int(pool["stratum"].value_counts().max())
    if largest < folds:  # scikit-learn needs one stratum with at least a member per fold
        return (
            f"--folds {folds} needs a stratum with at least {folds} parents in train+validation; the largest has "
            f"{largest}; pass --folds {max(largest, 2) if largest >= 2 else 0} (or --folds 0 for none)"
        )
    return None


def _ratio_text(ratios) -> str:
    return ",".join(f"{r:g}" for r in ratios)


def _workable_ratios(units: pd.DataFrame, ratios: tuple[float, float, float], seed: int) -> str | None:
    """Shares (with the same zero shares as ``ratios``) under which no open split of ``units`` is empty, if any."""
    open_splits = [share > 0 for share in ratios]
    for train in (0.6, 0.5, 0.4, 0.34):
        rest = (1 - train) / max(sum(open_splits[1:]), 1)
        candidate = (train, *(round(rest, 3) if is_open else 0.0 for is_open in open_splits[1:]))
        candidate = (round(1 - sum(candidate[1:]), 3), *candidate[1:])
        split = assign_splits(units, candidate, seed=seed)
        if all(split.eq(name).any() for name, is_open in zip(SPLIT_NAMES, open_splits, strict=True) if is_open):
            return _ratio_text(candidate)
    return None


def _empty_split_problem(units: pd.DataFrame, ratios: tuple[float, float, float], seed: int) -> str | None:
    """Why the assignment is unusable: a split with a non-zero share that received no parent (None: none did)."""
    counts = units["split"].value_counts()
    empty = [s for s, share in zip(SPLIT_NAMES, ratios, strict=True) if share > 0 and not counts.get(s, 0)]
    if not empty:
        return None
    given = ", ".join(f"{s} {int(counts.get(s, 0))}" for s in SPLIT_NAMES)
    workable = _workable_ratios(units, ratios, seed)
    larger = f"give the empty split(s) a larger share (e.g. --split-ratios {workable}), " if workable else ""
    return (
        f"--split-ratios {_ratio_text(ratios)} on {len(units)} parent images in {units['group_id'].nunique()} "
        f"split groups gives {given} parents, so {' and '.join(empty)} would be empty (every split with a non-zero "
        f"share needs at least one parent); add images, {larger}or give them a zero share (e.g. --split-ratios 1,0,0)"
    )


def check_plan(
    units: pd.DataFrame, folds: int, *, ratios: tuple[float, float, float] | None = None, seed: int = 0
) -> None:
    """Refuse an assignment (``units`` with ``split``) that leaves an open split empty or cannot make the folds.

    Args:
        units: one row per parent with ``group_id``, ``stratum`` and ``split``.
        folds: cross-validation folds wanted over train+validation (0: none).
        ratios: the shares the splits were made with (None for imported splits: any split may be empty).
        seed: the split seed, to suggest shares that work.

    Raises:
        UsageError: every problem found, each with its counts and the options that fix it.
    """
    problems = [_empty_split_problem(units, ratios, seed) if ratios is not None else None, _fold_problem(units, folds)]
    problems = [p for p in problems if p]
    if problems:
        raise UsageError("; and ".join(problems))


def assign_folds(units: pd.DataFrame, folds: int, *, seed: int) -> tuple[pd.Series, list[str]]:
    """Cross-validation fold (0..k-1) of train+validation parents by StratifiedGroupKFold; -1 for test."""
    fold = pd.Series(-1, index=units.index, dtype="int64")
    pool = units[units["split"] != "test"]
    if folds == 0 or pool.empty:
        return fold, []
    check_plan(units, folds)
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k, (_, held) in enumerate(splitter.split(pool, pool["stratum"], pool["group_id"])):
            fold.loc[pool.index[held]] = k
    return fold, sorted({str(w.message) for w in caught})


def make_plan(units: pd.DataFrame, ratios: tuple[float, float, float], *, seed: int, folds: int) -> SplitPlan:
    """Split groups (``units`` has ``group_id``) into train/validation/test and folds."""
    units = units.assign(split=assign_splits(units, ratios, seed=seed))
    check_plan(units, folds, ratios=ratios, seed=seed)
    fold, notes = assign_folds(units, folds, seed=seed)
    return SplitPlan(
        units.assign(fold=fold), "stratified-group", ratios=tuple(ratios), seed=seed, folds=folds, notes=tuple(notes)
    )


def check_feasible(rows: pd.DataFrame, config, *, source: str, split_table=None, splits_source: str = "") -> None:
    """Plan the splits from the manifest alone, before any pixel is read, so that impossible options fail first.

    The groups here are the manifest's own (``group_id``); the audit later joins more (shared CBC reports,
    duplicates), which ``make_plan`` checks again. Reads no files; milliseconds for 12,000 rows.

    Args:
        rows: the manifest.
        config: the ``BuildConfig`` (split_ratios, seed, folds, stratify_severity).
        source: the dataset folder or manifest, for messages.
        split_table: imported ``sample_id,split`` table (``--splits``), if any, and ``splits_source`` its file.

    Raises:
        UsageError: a split with a non-zero share would be empty, or ``folds`` is more than the groups allow.
        DataError: an imported split table that does not fit the manifest.
    """
    units = parent_units(rows, config.stratify_severity)
    units = units.assign(group_id=join_groups(units, rows, duplicates=[], shared_cbc=[]))
    try:
        if split_table is not None:
            units = import_plan(units, rows, table=split_table, source=splits_source, folds=0, seed=config.seed).units
            check_plan(units, config.folds)
        else:
            units = units.assign(split=assign_splits(units, config.split_ratios, seed=config.seed))
            check_plan(units, config.folds, ratios=config.split_ratios, seed=config.seed)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None


def normalise_split_name(name: str, source: str) -> str:
    """train / validation / test, accepting val, valid, dev and eval for validation."""
    key = str(name).strip().lower()
    key = SPLIT_ALIASES.get(key, key)
    if key not in SPLIT_NAMES:
        raise DataError(
            source,
            f"split names {', '.join(SPLIT_NAMES)} (or val/valid/dev)",
            f"'{name}'",
            "rename the split in the file (other split names are not supported by build)",
        )
    return key


def import_plan(units: pd.DataFrame, rows: pd.DataFrame, *, table: pd.DataFrame, source: str, folds: int, seed: int):
    """A plan from a ``sample_id,split`` table; refuses parents or groups spread over several splits."""
    known = dict(zip(rows["sample_id"], parent_keys(rows), strict=True))
    unknown = sorted(set(table["sample_id"]) - set(known))
    if unknown:
        raise DataError(
            source,
            "sample ids of this dataset",
            f"{len(unknown)} unknown ids: {', '.join(unknown[:8])}",
            "regenerate the file from this dataset's manifest",
        )
    table = table.assign(parent_id=table["sample_id"].map(known))
    table = table.assign(split=[normalise_split_name(s, source) for s in table["split"]])
    per_parent = table.groupby("parent_id")["split"].agg(lambda s: sorted(set(s)))
    per_group = units.assign(split=units["parent_id"].map(per_parent)).dropna(subset=["split"])
    spread = per_group.groupby("group_id")["split"].agg(lambda s: sorted({x for v in s for x in v}))
    leaks = spread[spread.map(len) > 1]
    if not leaks.empty:
        listed = "; ".join(f"{g}: {', '.join(s)}" for g, s in leaks.head(8).items())
        raise DataError(
            source,
            "each parent image and split group (shared CBC report, duplicate, given group) in one split",
            f"{len(leaks)} groups in several splits: {listed}",
            "move each listed group into one split (tiles follow their parent image)",
        )
    split_of_group = spread.map(lambda s: s[0])
    missing = units.loc[~units["group_id"].isin(split_of_group.index), "parent_id"].tolist()
    if missing:
        raise DataError(
            source,
            "a split for every parent image",
            f"{len(missing)} parents without one: {', '.join(missing[:8])}",
            "list every sample (or its parent image) in the file",
        )
    units = units.assign(split=units["group_id"].map(split_of_group))
    fold, notes = assign_folds(units, folds, seed=seed)
    return SplitPlan(
        units.assign(fold=fold),
        f"imported from {source}",
        ratios=(0.0, 0.0, 0.0),
        seed=seed,
        folds=folds,
        notes=tuple(notes),
    )


def split_report(plan: SplitPlan) -> dict:
    """Per-stratum counts and shares, with the largest deviation from the target shares (percentage points)."""
    units = plan.units
    parents = pd.crosstab(units["stratum"], units["split"]).reindex(columns=list(SPLIT_NAMES), fill_value=0)
    samples = units.pivot_table(index="stratum", columns="split", values="n_samples", aggfunc="sum", fill_value=0)
    samples = samples.reindex(columns=list(SPLIT_NAMES), fill_value=0)
    shares = parents.div(parents.sum(axis=1), axis=0)
    strata = []
    for stratum in parents.index:
        row = {"stratum": stratum, "parents": {}, "samples": {}, "share": {}}
        for split in SPLIT_NAMES:
            row["parents"][split] = int(parents.at[stratum, split])
            row["samples"][split] = int(samples.at[stratum, split])
            row["share"][split] = round(float(shares.at[stratum, split]), 4)
        strata.append(row)
    deviation = None
    if plan.method == "stratified-group":
        target = pd.Series(plan.ratios, index=list(SPLIT_NAMES))
        deviation = round(float((shares - target).abs().to_numpy().max()) * 100, 2)
    totals = {split: int(units.loc[units["split"] == split, "n_samples"].sum()) for split in SPLIT_NAMES}
    return {
        "method": plan.method,
        "target_ratios": dict(zip(SPLIT_NAMES, plan.ratios, strict=True)),
        "seed": plan.seed,
        "folds": plan.folds,
        "fold_notes": list(plan.notes),
        "n_parents": int(len(units)),
        "n_groups": int(units["group_id"].nunique()),
        "largest_group": int(units.groupby("group_id").size().max()),
        "samples_per_split": totals,
        "parents_per_split": {s: int(parents[s].sum()) for s in SPLIT_NAMES},
        "strata": strata,
        "max_deviation_pp": deviation,
    }


def render_split_report(report: dict) -> str:
    """Markdown view of ``split_report``."""
    lines = [
        "# Split report",
        "",
        f"Method: {report['method']}; seed {report['seed']}; {report['folds']} cross-validation folds over "
        f"train+validation. {report['n_parents']} parent images in {report['n_groups']} split groups "
        f"(largest {report['largest_group']} parents).",
        "",
        "| stratum | " + " | ".join(f"{s} parents (share)" for s in SPLIT_NAMES) + " | samples |",
        "|---|" + "---|" * (len(SPLIT_NAMES) + 1),
    ]
    for row in report["strata"]:
        cells = [f"{row['parents'][s]} ({row['share'][s]:.0%})" for s in SPLIT_NAMES]
        stratum = md_text(row["stratum"])  # class and severity names come from the data
        lines.append(f"| {stratum} | " + " | ".join(cells) + f" | {sum(row['samples'].values())} |")
    if report["max_deviation_pp"] is not None:
        targets = ", ".join(f"{s} {v:.0%}" for s, v in report["target_ratios"].items())
        lines += ["", f"Target shares: {targets}. Largest deviation: {report['max_deviation_pp']} percentage points."]
    for note in report["fold_notes"]:
        lines.append(f"\nNote (folds): {md_text(note)}")
    return "\n".join(lines) + "\n"
