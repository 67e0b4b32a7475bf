"""Feature baselines on scikit-learn: morphometric, and the three shortcut probes (docs/RBC_BENCH.md).

Each baseline is a :class:`FeatureBaseline`: a feature extractor from ``benchmarks.baselines.features`` and a
median-imputer + standard-scaler + logistic-regression pipeline whose regularisation ``C`` is chosen on the
validation split only. Registered models:

- ``morphometric`` (family ``features``): cell size, shape, pallor and type shares from the canonical mask;
- ``shortcut-background`` (``shortcut``): background colour only (white balance, exposure);
- ``shortcut-raw-mask`` (``shortcut``): grey levels of the raw release mask files only;
- ``shortcut-cbc`` (``shortcut``): CBC report values only.

A shortcut baseline that scores well means the dataset is confounded, not that the task is solved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from benchmarks.baselines.features import (
    MIN_BACKGROUND_PIXELS,
    FeatureTable,
    background_colour_features,
    cbc_features,
    morphometric_features,
    raw_mask_intensity_features,
)
from benchmarks.models.registry import ModelSpec, register_model
from benchmarks.training.data import SplitView
from rbc_dataset.errors import DataError, UsageError

DEFAULT_C_GRID = (0.01, 0.1, 1.0, 10.0)  # inverse regularisation strengths tried on validation
SELECTION_METRIC = "log_loss"  # validation score C is chosen by (lower is better); probabilities matter for AUC
MAX_ITER = 5000  # lbfgs iterations: the standardised problems here converge far sooner


@dataclass(frozen=True)
class BaselineInput:
    """What a baseline reads, in a user's words: said when a build gives it none (the run then skips the model)."""

    missing: str  # what a build without it lacks, e.g. "no CBC values in ..." (starts the skip reason)
    needs: str  # what the baseline needs and where that comes from
    fix: str  # how to get it, or how to leave the model out


GENERIC_INPUT = BaselineInput(
    "no feature value in any training sample", "at least one feature value in the training split", "check the build"
)


def _check_xy(X, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as float64 (N, F) with infinities as missing values and ``y`` as int64 0/1 labels of N samples."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise DataError(
            None,
            f"{what} features (N, F) and labels (N,) of the same length",
            f"features of shape {X.shape} and labels of shape {y.shape}",
            "give one feature row per sample of the split",
        )
    if len(y) == 0:
        raise DataError(None, f"{what} samples", f"no {what} samples", f"rebuild with a {what} share (--split-ratios)")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise DataError(None, f"{what} labels 0/1", f"labels {sorted(values)}", "map the classes to 0 and 1")
    return np.where(np.isinf(X), np.nan, X), y.astype(np.int64)


def _pipeline(c: float, seed: int):
    """Imputer and scaler learn from training data only (they are fitted inside the pipeline)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(C=c, max_iter=MAX_ITER, random_state=seed),
    )


class FeatureBaseline:
    """A feature extractor plus a logistic regression whose ``C`` is chosen on validation data only.

    Args:
        name: registry name.
        extractor: ``(view, workers) -> FeatureTable`` (see ``benchmarks.baselines.features``).
        c_grid: values of ``C`` tried; of equally good ones the first (strongest regularisation) wins.
        workers: processes for feature extraction (extractors without per-image work ignore it).
        needs: what the features are made of, said when a training split has none of them.

    Attributes:
        name: registry name.
        feature_names: names of the columns of the last ``extract`` (empty before it).
        dropped_columns: names (or ``column_<k>``) of the columns dropped at ``fit`` for being all-NaN in train.
        selection: what ``fit`` returned (None before it).
    """

    def __init__(
        self,
        name: str,
        extractor: Callable[[SplitView, int], FeatureTable],
        *,
        c_grid: tuple[float, ...] = DEFAULT_C_GRID,
        workers: int = 1,
        needs: BaselineInput = GENERIC_INPUT,
    ):
        if not c_grid or any(not np.isfinite(c) or c <= 0 for c in c_grid):
            raise UsageError(f"baseline {name!r}: C grid must be positive numbers, got {c_grid}")
        self.name = name
        self.extractor = extractor
        self.c_grid = tuple(float(c) for c in c_grid)
        self.workers = workers
        self.needs = needs
        self.feature_names: tuple[str, ...] = ()
        self.dropped_columns: list[str] = []
        self.selection: dict | None = None
        self._kept: np.ndarray | None = None
        self._model = None

    def __repr__(self) -> str:
        return f"FeatureBaseline({self.name!r}, C grid {self.c_grid})"

    def extract(self, view: SplitView) -> np.ndarray:
        """Features (N, F) float64 of a split, in ``view.table`` order (NaN = missing)."""
        table = self.extractor(view, self.workers)
        self.feature_names = table.names
        return table.values

    def _column_name(self, k: int) -> str:
        return self.feature_names[k] if k < len(self.feature_names) else f"column_{k}"

    def fit(self, train_X, train_y, *, val_X, val_y, seed: int = 0) -> dict:
        """Choose ``C`` by validation log-loss, keep the model fitted on train with it, and return the choice.

        Args:
            train_X, train_y: training features (N, F) and 0/1 labels.
            val_X, val_y: validation features (M, F) and labels: the only data ``C`` is chosen on.
            seed: random state of the solver (lbfgs is deterministic; kept for the protocol's record).

        Returns:
            JSON-safe dict: ``C``, ``validation_score`` (log-loss at that C), ``selection_metric``,
            ``validation_scores`` (per C), ``dropped_columns``.

        Raises:
            DataError: mismatched shapes, empty splits, labels other than 0/1, a single class in train, or no
                feature value in train (said in the words of ``needs``: no CBC values, no measurable cell ...).
        """
        from sklearn.metrics import log_loss

        X, y = _check_xy(train_X, train_y, "train")
        Xv, yv = _check_xy(val_X, val_y, "validation")
        if Xv.shape[1] != X.shape[1]:
            expected = f"{X.shape[1]} validation feature columns (as in train)"
            raise DataError(None, expected, str(Xv.shape[1]), "extract both splits with the same baseline")
        if len(np.unique(y)) < 2:
            found = f"only class {int(y[0])} in all {len(y)} training samples"
            fix = "rebuild with split ratios that put parents of both classes in train (a model needs both)"
            raise DataError(None, "training samples of both classes (0 and 1)", found, fix)
        kept = ~np.isnan(X).all(axis=0)
        if not kept.any():  # the build has none of what this baseline reads
            raise DataError(None, self.needs.needs, self.needs.missing, self.needs.fix)
        scores, models = {}, {}
        for c in self.c_grid:
            models[c] = _pipeline(c, seed).fit(X[:, kept], y)
            scores[c] = float(log_loss(yv, models[c].predict_proba(Xv[:, kept])[:, 1], labels=[0, 1]))
        best = min(self.c_grid, key=lambda c: scores[c])  # min keeps the first (smallest C) on ties
        # The model fitted on train with the chosen C is the refit: same data, same C, deterministic solver.
        self._model, self._kept = models[best], kept
        self.dropped_columns = [self._column_name(k) for k in np.flatnonzero(~kept)]
        self.selection = {
            "C": best,
            "validation_score": scores[best],
            "selection_metric": SELECTION_METRIC,
            "validation_scores": {str(c): scores[c] for c in self.c_grid},
            "dropped_columns": list(self.dropped_columns),
        }
        return dict(self.selection)

    def predict_proba(self, X) -> np.ndarray:
        """Probability of class 1 for each row of ``X`` (N,), in [0, 1].

        Raises:
            UsageError: called before ``fit``.
            DataError: ``X`` has another number of columns than the training features.
        """
        if self._model is None or self._kept is None:
            raise UsageError(f"baseline {self.name!r}: call fit() before predict_proba()")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self._kept):
            found = f"an array of shape {X.shape}"
            raise DataError(None, f"features (N, {len(self._kept)}) as in training", found, "extract them as in fit")
        X = np.where(np.isinf(X), np.nan, X)
        return self._model.predict_proba(X[:, self._kept])[:, 1].astype(np.float64)


def _background(view: SplitView, workers: int) -> FeatureTable:
    return background_colour_features(view)


def _raw_mask(view: SplitView, workers: int) -> FeatureTable:
    return raw_mask_intensity_features(view)


def _cbc(view: SplitView, workers: int) -> FeatureTable:
    return cbc_features(view)


def _morphometric(view: SplitView, workers: int) -> FeatureTable:
    return morphometric_features(view, workers=workers)


def _leave_out(name: str, get: str) -> str:
    return f"{get}, or leave {name} out with --models"


BASELINES = (  # name, family, needs_mask, extractor, description, what it reads (said when a build has none)
    (
        "morphometric",
        "features",
        True,
        _morphometric,
        "logistic regression on cell size, shape, pallor, OD and cell-type shares measured on the canonical mask",
        BaselineInput(
            "no measurable cell in any training sample",
            "whole cells on the canonical masks (cells touching the border are not measured)",
            _leave_out("morphometric", "check the masks with `rbc-dataset validate-masks`"),
        ),
    ),
    (
        "shortcut-background",
        "shortcut",
        False,
        _background,
        "shortcut probe: background colour only, 3 px clear of cells (RGB percentiles, chromaticity, R/G, B/G)",
        BaselineInput(
            "no measurable background in any training sample",
            f"at least {MIN_BACKGROUND_PIXELS} background pixels per image, 3 px clear of cells",
            _leave_out("shortcut-background", "check the masks with `rbc-dataset validate-masks`"),
        ),
    ),
    (
        "shortcut-raw-mask",
        "shortcut",
        False,
        _raw_mask,
        "shortcut probe: grey levels of the raw release mask files only (histogram, values, cell darkness)",
        BaselineInput(
            "no raw release mask values in any training sample",
            "the raw release masks (Binary_segmented/) named by the build's manifest",
            _leave_out("shortcut-raw-mask", "build from a folder with its Binary_segmented/ masks"),
        ),
    ),
    (
        "shortcut-cbc",
        "shortcut",
        False,
        _cbc,
        "shortcut probe: CBC report values only (reports are per report, not per image)",
        BaselineInput(
            "no CBC values in this build's training split",
            "the CBC reports of the release (CBC_reports/, read by `rbc-dataset ingest`)",
            _leave_out("shortcut-cbc", "build from an AneRBC folder with its CBC_reports/"),
        ),
    ),
)


def _register_baselines() -> None:
    """Register every entry of BASELINES; ``factory()`` builds a fresh, unfitted FeatureBaseline."""
    for name, family, needs_mask, extractor, description, needs in BASELINES:
        factory = partial(FeatureBaseline, name, extractor, needs=needs)
        register_model(
            ModelSpec(
                name, family, task="classification", needs_mask=needs_mask, description=description, factory=factory
            )
        )


_register_baselines()
