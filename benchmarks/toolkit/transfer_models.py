"""The models of ``rbc-bench transfer``: fit on a synthetic build, choose on its validation split, then score its
test split and the real images once each, per image.

Both kinds reuse the model benchmark's parts: the ``morphometric`` feature baseline (``benchmarks.baselines``, C
chosen by validation log-loss) and a torchvision CNN from ``benchmarks.models`` trained by the training loop
(``benchmarks.training``, the epoch chosen by validation balanced accuracy). Labels are mapped to anaemic = 1
by class name, so a build that orders its classes differently still scores the right way round.

Scores are per image: an image's score is the mean of its tiles' probabilities of anaemia, and it is called
anaemic when that mean is at least 0.5. Intervals resample whole images (their ``group_id``) with
``rbc_dataset.stats`` through ``benchmarks.evaluation.bootstrap``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from benchmarks.catalog import get_model
from benchmarks.evaluation.bootstrap import group_bootstrap_ci
from benchmarks.evaluation.metrics import fast_balanced_accuracy, fast_roc_auc
from benchmarks.suite.protocol import TestSplitGuard
from benchmarks.training.data import SplitView
from rbc_dataset.errors import DataError

AGGREGATION = "image score = mean of its tiles' probabilities of anaemia; called anaemic when >= 0.5"
CI_LEVEL = 0.95
SCORED_METRICS = ("balanced_accuracy", "roc_auc")


@dataclass(frozen=True)
class LabelledSplit:
    """A split with the index of its anaemic class (labels are compared as anaemic = 1, healthy = 0)."""

    view: SplitView
    anaemic: int

    @property
    def y(self) -> np.ndarray:
        """1 for an anaemic sample, 0 otherwise, in table order."""
        return (self.view.table["label"].to_numpy() == self.anaemic).astype(np.int64)


@dataclass(frozen=True)
class ModelRun:
    """What every model of one transfer run shares."""

    train: LabelledSplit
    validation: LabelledSplit
    test: LabelledSplit
    real: TestSplitGuard  # hands out the real LabelledSplit once per model, after its selection is closed
    seed: int
    workers: int
    n_resamples: int
    log: Callable[[str], None] = print
    show_progress: bool = True


# ----------------------------------------------------------------------------------------------------- scoring


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined score is None."""
    return float(value) if value is not None and math.isfinite(value) else None


def image_table(split: LabelledSplit, prob: np.ndarray) -> pd.DataFrame:
    """One row per image (``parent_id``): its group, whether it is anaemic, its mean tile probability, its tiles."""
    table = split.view.table
    frame = pd.DataFrame(
        {"image": table["parent_id"].astype(str), "group": table["group_id"].astype(str), "anaemic": split.y}
    )
    frame["prob"] = np.asarray(prob, dtype=np.float64)
    grouped = frame.groupby("image", sort=True)
    return grouped.agg(
        group=("group", "first"), anaemic=("anaemic", "first"), score=("prob", "mean"), n_tiles=("prob", "size")
    ).reset_index()


def score_images(images: pd.DataFrame, *, n_resamples: int, seed: int) -> dict:
    """Balanced accuracy and ROC AUC over images, each with a percentile interval over resampled image groups.

    Args:
        images: ``image_table`` rows.
        n_resamples: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        JSON-safe dict: image and tile counts per class, both scores with their intervals (None where undefined),
        the share of images called anaemic, and every image's score.
    """
    y, score = images["anaemic"].to_numpy(), images["score"].to_numpy()
    pred = (score >= 0.5).astype(np.int64)
    intervals = group_bootstrap_ci(
        y,
        score,
        pred=pred,
        groups=images["group"].to_numpy(),
        metrics=SCORED_METRICS,
        n_resamples=n_resamples,
        level=CI_LEVEL,
        seed=seed,
    )
    values = {"balanced_accuracy": fast_balanced_accuracy(y, pred), "roc_auc": fast_roc_auc(y, score)}
    result = {
        "n_images": len(images),
        "n_images_per_class": {"healthy": int((y == 0).sum()), "anaemic": int((y == 1).sum())},
        "n_tiles": int(images["n_tiles"].sum()),
        "called_anaemic": int(pred.sum()),
        "aggregation": AGGREGATION,
        "ci_level": CI_LEVEL,
        "bootstrap_resamples": n_resamples,
        "images": [
            {"image": row.image, "anaemic": int(row.anaemic), "score": float(row.score), "n_tiles": int(row.n_tiles)}
            for row in images.itertuples()
        ],
    }
    for name in SCORED_METRICS:
        result[name] = _finite(values[name])
        result[f"{name}_ci"] = [_finite(bound) for bound in intervals[name]]
    return result


def _score(split: LabelledSplit, prob: np.ndarray, run: ModelRun) -> dict:
    return score_images(image_table(split, prob), n_resamples=run.n_resamples, seed=run.seed)


# ------------------------------------------------------------------------------------------- feature baseline


def run_feature_model(name: str, run: ModelRun) -> dict:
    """Fit the feature baseline ``name`` on the synthetic train split (C chosen on validation), then score the
    synthetic test split and the real images.

    Raises:
        DataError: a build without masks, one class in train, or no measurable cell (the baseline's own words).
    """
    start = time.perf_counter()
    baseline = get_model(name).factory()
    baseline.workers = run.workers
    x_train, x_val = baseline.extract(run.train.view), baseline.extract(run.validation.view)
    chosen = baseline.fit(x_train, run.train.y, val_X=x_val, val_y=run.validation.y, seed=run.seed)
    run.real.close_selection(name)
    fitted = time.perf_counter() - start
    test = _score(run.test, baseline.predict_proba(baseline.extract(run.test.view)), run)
    real: LabelledSplit = run.real.final_test(name)
    real_scores = _score(real, baseline.predict_proba(baseline.extract(real.view)), run)
    return {
        "model": name,
        "family": "features",
        "device": "cpu (scikit-learn)",
        "settings": {"C": chosen["C"], "features": list(baseline.feature_names), "input": "model-config tiles"},
        "selection": chosen,
        "synthetic_test": test,
        "real": real_scores,
        "seconds": {"fit": round(fitted, 1), "total": round(time.perf_counter() - start, 1)},
    }


# ------------------------------------------------------------------------------------------------------- CNN


def _binary_source(split: LabelledSplit, preset):
    """The split decoded at the preset's input size, its labels mapped to anaemic = 1."""
    import torch

    from benchmarks.suite.split_data import SplitData
    from benchmarks.training.batches import MemorySource

    memory = SplitData([split.view], preset).source(False)
    return MemorySource(memory.images, None, torch.from_numpy(split.y), memory.severity)


def run_cnn_model(name: str, run: ModelRun, *, preset) -> dict:
    """Train the CNN ``name`` from scratch on the synthetic train split with the training loop (the epoch kept by
    validation balanced accuracy over tiles), then score the synthetic test split and the real images.

    Args:
        name: a ``cnn`` model of the registry (``resnet18`` ...).
        run: the shared splits and settings.
        preset: the training settings (input size, epochs, batch size, learning rate, device).
    """
    import torch

    from benchmarks.training.distributed import pick_device
    from benchmarks.training.loop import TrainContext, predict, train_stages
    from benchmarks.training.recipes import cnn_stages

    start = time.perf_counter()
    device = pick_device(preset.device)
    ctx = TrainContext(device, preset, seed=run.seed, with_mask=False, show_progress=run.show_progress, log=run.log)
    torch.manual_seed(run.seed)
    model = get_model(name).factory(num_classes=2, input_size=preset.input_size).to(device)
    train_source, val_source = _binary_source(run.train, preset), _binary_source(run.validation, preset)

    def validate(current) -> dict:
        prob = predict(current, val_source, ctx=ctx)["global"]
        return {("module1", "global"): fast_balanced_accuracy(run.validation.y, (prob >= 0.5).astype(np.int64))}

    records = train_stages(model, cnn_stages(preset), source=train_source, ctx=ctx, validate=validate)
    run.real.close_selection(name)
    trained = time.perf_counter() - start
    test = _score(run.test, predict(model, _binary_source(run.test, preset), ctx=ctx)["global"], run)
    real: LabelledSplit = run.real.final_test(name)
    real_scores = _score(real, predict(model, _binary_source(real, preset), ctx=ctx)["global"], run)
    record = records[0].to_dict()
    return {
        "model": name,
        "family": "cnn",
        "device": str(device),
        "settings": {
            **{key: getattr(preset, key) for key in ("input_size", "epochs", "batch_size", "lr", "weight_decay")},
            "weights": "none (from scratch)",
            "torch_threads": torch.get_num_threads(),
        },
        "selection": {
            "selected_epoch": record["selected_epoch"],
            "selection_metric": "validation balanced accuracy over tiles",
            "validation_scores": record["validation_score"],
            "train_accuracy": record["train_accuracy"],
        },
        "synthetic_test": test,
        "real": real_scores,
        "seconds": {"train": round(trained, 1), "total": round(time.perf_counter() - start, 1)},
    }


def cnn_preset(*, input_size: int, epochs: int, batch_size: int, device: str, seed: int):
    """The ``cpu-smoke`` preset with this run's size, epochs, batch, device and seed (decoded into memory)."""
    from benchmarks.training.presets import get_preset

    base = get_preset("cpu-smoke")
    return replace(
        base, input_size=input_size, epochs=epochs, batch_size=batch_size, device=device, seeds=(seed,), workers=1
    )


def require_masks(name: str, splits: list[LabelledSplit]) -> None:
    """A feature model measured on canonical masks cannot run on shards without them: say so before fitting."""
    for split in splits:
        if not split.view.has_masks:
            raise DataError(
                split.view.built_dir,
                f"canonical cell masks in the shards ({name} measures the cells on them)",
                "shards without masks",
                f"use image/mask pairs on both sides, or leave {name} out with --models",
            )
