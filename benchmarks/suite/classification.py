"""The classification suites' cases: every (model, seed[, fold]) trained, selected and tested once.

Severity (Module-II) labels come from the dataset where it knows them; anaemic samples without one get the
rule's derived label for training and scoring the learned head. The rule itself is scored only against labels
the dataset gives (scoring it against its own output would be circular).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from benchmarks.models.registry import ModelSpec
from benchmarks.suite.cases import CaseSetup, run_feature_case, run_torch_case
from benchmarks.suite.protocol import TestSplitGuard
from benchmarks.suite.run_folder import RunFolder, case_name
from benchmarks.suite.split_data import SplitData, anaemic_label, stratified_cap
from benchmarks.training.data import SplitView, open_split
from benchmarks.training.distributed import Distributed, barrier, pick_device
from benchmarks.training.loop import TrainContext
from rbc_dataset.errors import DataError

TORCH_FAMILIES = ("tiered", "cnn")


@dataclass
class SuiteOutcome:
    """What the cases of a run left behind for the summary (predictions are on disk)."""

    records: list[dict] = field(default_factory=list)  # per case: stage records, chosen hyper-parameters
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why it did not run
    test_accesses: list[dict] = field(default_factory=list)  # the guard's record
    severity_labels: dict = field(default_factory=dict)  # split -> known / derived counts
    segmentation_rows: list[dict] = field(default_factory=list)  # segmentation suite: its metric rows


def derive_severity(
    data: SplitData, anaemic: int, *, workers: int, log: Callable[[str], None], rules: list | None = None
) -> dict:
    """Fill unknown severities of anaemic rows with the rule's label (in ``data.severity_override``); counts.

    ``rules`` (one rule table per view, from ``rule_predictions``) saves running the rule again where it already ran.
    """
    from benchmarks.baselines.severity_rule import rule_severity

    table = data.full_table
    unknown = (table["label"].to_numpy() == anaemic) & (table["severity"].to_numpy() < 0)
    counts = {"known": int(((table["label"] == anaemic) & (table["severity"] >= 0)).sum()), "derived": 0}
    if not unknown.any():
        return counts
    override, offset = table["severity"].to_numpy().copy(), 0
    for k, view in enumerate(data.views):
        local = np.flatnonzero(unknown[offset : offset + len(view)])
        if local.size:
            rule = rules[k] if rules is not None else rule_severity(view, indices=local, workers=workers)
            predicted = rule.set_index("sample_id")["pred"]
            override[offset + local] = predicted.loc[view.table["sample_id"].iloc[local]].to_numpy()
        offset += len(view)
    data.severity_override = override
    counts["derived"] = int((override[unknown] >= 0).sum())
    log(f"{data.name}: severity of {counts['derived']} anaemic samples derived by the rule ({counts['known']} known)")
    return counts


def rule_predictions(data: SplitData, *, workers: int, cut: float = float("nan")):
    """The Module-II rule on every sample of ``data`` (one view): the cascade applies it to Module I's anaemic calls.

    ``cut``: the calibrated abnormal-share cut (``calibrate_rule``); NaN keeps the rule file's own.
    """
    from benchmarks.baselines.severity_rule import apply_rule_cut, rule_severity

    view = data.views[0]
    rule = rule_severity(view, indices=range(len(view)), workers=workers)
    return rule if np.isnan(cut) else apply_rule_cut(rule, cut)


def calibrate_rule(view: SplitView, anaemic: int, *, workers: int, log) -> dict:
    """The rule's cut fitted on the validation split's anaemic samples of known severity (the unit it is applied to).

    Without known severities there is nothing to fit: the rule file's cut stays, and the record says so.
    """
    from annotation.severity import load_severity_config
    from benchmarks.baselines.severity_rule import fit_rule_cut, rule_severity

    configured = load_severity_config().chronic_min_abnormal_share
    table = view.table
    known = np.flatnonzero((table["label"].to_numpy() == anaemic) & (table["severity"].to_numpy() >= 0))
    if known.size == 0:
        log("severity rule: no validation sample of known severity; the rule file's cut stays")
        return {"configured_cut": configured, "cut": float("nan"), "fitted_on": "none (no known severity)"}
    rule = rule_severity(view, indices=known, workers=workers)
    fitted = fit_rule_cut(rule["abnormal_share"], table["severity"].to_numpy()[known])
    log(f"severity rule: cut {fitted['cut']:.3f} fitted on {fitted['n']} validation samples (file: {configured})")
    return {"configured_cut": configured, **fitted, "fitted_on": f"validation split ({view.split}), known severity"}


def _partitions(request, train_view: SplitView, val_view: SplitView, derive) -> list[tuple[int, SplitData, SplitData]]:
    """(fold, train, validation) pairs: the build's train/validation, or every CV fold of their union.

    ``derive(data, name)`` fills in derived severities once per split, before any subset shares them.
    """
    preset = request.preset
    if not request.cv:
        train, val = SplitData([train_view], preset), SplitData([val_view], preset)
        derive(train, "train")
        derive(val, "validation")
        cap = stratified_cap(train.table["label"].to_numpy(), preset.max_train_samples, seed=0)
        return [(-1, train if len(cap) == len(train) else train.subset(cap), val)]
    pool = SplitData([train_view, val_view], preset)
    derive(pool, "train+validation")
    folds = sorted(set(pool.table["fold"].tolist()) - {-1})
    if len(folds) < 2:
        raise DataError(request.data, "a build with cross-validation folds", f"folds {folds}", "rebuild with --folds 5")
    fold_of = pool.table["fold"].to_numpy()
    return [(f, pool.subset(np.flatnonzero(fold_of != f)), pool.subset(np.flatnonzero(fold_of == f))) for f in folds]


def check_external_test(test_view: SplitView, train_views: list[SplitView]) -> None:
    """An external test split must share the class names and no parent image with the training build's splits.

    Paired builds (``synth --shortcut`` with the same seed) have the same parents in the same splits, so their test
    parents are unseen; a test split holding a training or validation parent would leak, and is refused.
    """
    names = train_views[0].class_names
    if test_view.class_names != names:
        raise DataError(
            test_view.built_dir,
            f"a build with the training build's classes {names}",
            f"classes {test_view.class_names}",
            "pass a build of the same task as --test-data",
        )
    seen = set().union(*(set(view.table["parent_id"]) for view in train_views))
    shared = sorted(seen & set(test_view.table["parent_id"]))
    if shared:
        raise DataError(
            test_view.built_dir,
            "a test split whose parent images are not in the training build's train or validation split",
            f"{len(shared)} shared parents (e.g. {', '.join(shared[:3])})",
            "build both from sources split the same way (the same --seed and --split-ratios), or pass another build",
        )


def _open_test(request, setup_holder: dict, *, anaemic: int | None, tiered: bool, log) -> Callable[[], SplitData]:
    def open_test() -> SplitData:
        view = open_split(request.test_data or request.data, split="test", config=request.config, fmt=request.fmt)
        if request.test_data is not None:
            log(f"external test: the test split of {request.test_data}")
        test = SplitData([view], request.preset)
        if tiered and anaemic is not None:
            cut = setup_holder["severity_labels"].get("rule_cut", {}).get("cut", float("nan"))
            rule = rule_predictions(test, workers=request.preset.workers, cut=cut)  # every sample, once
            setup_holder["rule"]["test"] = rule
            setup_holder["severity_labels"]["test"] = derive_severity(
                test, anaemic, workers=request.preset.workers, log=log, rules=[rule]
            )
        return test

    return open_test


def run_classification(
    request, specs: list[ModelSpec], *, train_view, val_view, run: RunFolder, dist: Distributed, log, leaky=None
):
    """All cases of a classification suite; ``leaky`` (``--protocol leaky-tiles``): its tile-level splits instead."""
    anaemic = anaemic_label(train_view.class_names)
    tiered = any(spec.family == "tiered" for spec in specs)
    shared = {"severity_labels": {}, "rule": {}}
    open_test = _open_test(request, shared, anaemic=anaemic, tiered=tiered, log=log)
    guard = TestSplitGuard(open_test if leaky is None else lambda: leaky.test, run.path / "test_accesses.jsonl")
    context = TrainContext(
        dist.device,
        request.preset,
        seed=0,
        with_mask=False,
        rank=dist.rank,
        world_size=dist.world_size,
        show_progress=request.show_progress,
        log=log,
    )
    setup = CaseSetup(run, guard, anaemic=anaemic, context=context, severity_rule=shared["rule"])
    records, skipped = [], {}
    if tiered and anaemic is not None and val_view.has_masks:
        workers = request.preset.workers
        shared["severity_labels"]["rule_cut"] = calibrate_rule(val_view, anaemic, workers=workers, log=log)

    def derive(data: SplitData, name: str) -> None:
        if tiered and anaemic is not None:  # every DDP process needs the same labels; the rule is deterministic
            shared["severity_labels"][name] = derive_severity(data, anaemic, workers=request.preset.workers, log=log)

    partitions = [(-1, leaky.train, leaky.validation)] if leaky is not None else None
    for fold, train, val in partitions or _partitions(request, train_view, val_view, derive):
        for spec in specs:
            records += _run_model(spec, fold, train=train, val=val, setup=setup, dist=dist, skipped=skipped, log=log)
    return SuiteOutcome(records, skipped, guard.accesses, shared["severity_labels"])


def _run_model(spec, fold, *, train, val, setup: CaseSetup, dist: Distributed, skipped: dict, log) -> list[dict]:
    """Every seed of one model (feature baselines are deterministic: one seed); a DataError skips the model."""
    preset = setup.context.preset
    seeds = preset.seeds if spec.family in TORCH_FAMILIES else preset.seeds[:1]
    records = []
    for seed in seeds:
        if setup.run.predictions_path(spec.name, seed, fold=fold, split="test").is_file():
            log(f"{case_name(spec.name, seed, fold=fold)}: done in the resumed run, skipped")
            continue
        log(f"{case_name(spec.name, seed, fold=fold)}: training")
        if spec.family in TORCH_FAMILIES:
            records.append(run_torch_case(spec, seed, fold=fold, train=train, val=val, setup=setup))
            barrier(dist)
        elif dist.is_main:
            try:
                records.append(run_feature_case(spec, seed, fold=fold, train=train, val=val, setup=setup))
            except DataError as error:
                skipped[spec.name] = skip_reason(error)
                log(f"{spec.name}: skipped: {skipped[spec.name]}")
                break
    return records


def skip_reason(error: DataError) -> str:
    """Why a model did not run, for its user: what the build lacks, what the model needs, what to do.

    Built from the error's parts, so every skip reads the same way, e.g. "no CBC values in this build's training
    split: it needs the CBC reports of the release (...). Fix: build from ..., or leave shortcut-cbc out".
    """
    where = f" ({error.path})" if error.path is not None else ""
    return f"{error.found}{where}: it needs {error.expected}. Fix: {error.fix}"


def run_segmentation_suite(
    request, specs: list[ModelSpec], *, train_view, val_view, run: RunFolder, log
) -> SuiteOutcome:
    """The segmentation suite (benchmarks/suite/segmentation.py) on the build's splits."""
    from benchmarks.suite.segmentation import SegmentationSettings, run_segmentation

    preset = request.preset
    settings = SegmentationSettings(
        input_size=preset.input_size,
        epochs=preset.epochs,
        batch_size=preset.batch_size,
        lr=preset.lr,
        seeds=preset.seeds,
        device=str(pick_device(preset.device)),
        num_workers=preset.num_workers,
        models=tuple(spec.name for spec in specs),
    )
    guard = TestSplitGuard(lambda: None, run.path / "test_accesses.jsonl")
    test_view = GuardedSplitView(
        **vars(open_split(request.data, split="test", config=request.config, fmt=request.fmt)), guard=guard
    )
    rows = run_segmentation(train_view, val_view, test=test_view, settings=settings, out_dir=run.path, log=log)
    return SuiteOutcome(segmentation_rows=rows, test_accesses=guard.accesses)


@dataclass
class GuardedSplitView(SplitView):
    """A test SplitView whose pixels are handed out through the guard: one look for the whole segmentation suite.

    ``run_segmentation`` opens the test pixels once, after every U-Net is trained and its epoch chosen on
    validation (its own tests check that order); the guard records that look and refuses a second one.
    """

    guard: TestSplitGuard | None = None
    case: str = "segmentation/all"

    def dataset(self, with_mask: bool | None = None, *, transform=None, cache_dir=None):
        self.guard.close_selection(self.case)
        self.guard.final_test(self.case)
        return super().dataset(with_mask, transform=transform, cache_dir=cache_dir)
