"""Morphology and CBC of synthetic images follow class and severity, with overlap between mild and healthy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rbc_dataset.synth import truth
from rbc_dataset.synth.cells import CELL_TYPES, ImageCondition, sample_condition, sample_population
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import _regime


def _abnormal_share(cls: str, seeds=range(60)) -> dict[str, list[float]]:
    shares: dict[str, list[float]] = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        condition = sample_condition(cls, rng)
        population = sample_population(condition, 1200, rng=rng)
        key = condition.severity or "healthy"
        shares.setdefault(key, []).append(float(np.mean(population.types != 0)))
    return shares


def test_abnormal_cells_grow_with_severity_and_mild_overlaps_healthy() -> None:
    healthy = _abnormal_share("healthy")["healthy"]
    anemic = _abnormal_share("anemic")
    assert np.mean(healthy) < np.mean(anemic["mild"]) < np.mean(anemic["chronic"])
    assert min(anemic["mild"]) < max(healthy) + 0.03  # mild cases come close to healthy ones
    assert min(anemic["chronic"]) > max(healthy)


def test_every_abnormal_type_occurs_in_anaemic_images() -> None:
    seen = set()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        population = sample_population(sample_condition("anemic", rng), 1000, rng=rng)
        seen |= {CELL_TYPES[t] for t in np.unique(population.types)}
    assert seen == set(CELL_TYPES)


def _cells(types: list[str], diameters: list[float]) -> pd.DataFrame:
    area = np.pi * (np.asarray(diameters) / 2) ** 2
    return pd.DataFrame({"type": types, "area_px": area, "major_axis_px": diameters, "minor_axis_px": diameters})


def test_cbc_follows_the_cells_drawn() -> None:
    condition = ImageCondition(
        "healthy", None, pattern=None, strength=0.0, abnormal_share=0.0, normal_diameter=21.0, size_cv=0.06
    )
    normal = _cells(["normocyte"] * 200, list(np.random.default_rng(0).normal(21.0, 1.2, 200)))
    small = _cells(["microcyte"] * 200, list(np.random.default_rng(1).normal(17.0, 1.2, 200)))
    pale = _cells(["hypochromic"] * 200, list(np.random.default_rng(2).normal(21.0, 1.2, 200)))
    spread = _cells(["normocyte"] * 200, list(np.random.default_rng(3).normal(21.0, 4.0, 200)))
    values = {
        name: truth.cbc_values(c, condition, n_platelet_blobs=80, rng=np.random.default_rng(9))
        for name, c in {"normal": normal, "small": small, "pale": pale, "spread": spread}.items()
    }
    assert values["small"]["MCV"] < 80 < values["normal"]["MCV"]
    assert values["pale"]["MCHC"] < values["normal"]["MCHC"] - 10
    rdw = {k: v["RDW_CV"] for k, v in values.items()}
    assert rdw["normal"] is None or rdw["spread"] is None or rdw["spread"] > rdw["normal"] + 3
    v = values["normal"]
    assert abs(v["HCT"] - v["RBC"] * v["MCV"] / 10) < 1e-6  # indices are mutually consistent


def test_hb_is_lower_for_anaemia() -> None:
    cells = _cells(["normocyte"] * 50, [21.0] * 50)
    hb = {}
    for severity in (None, "mild", "chronic"):
        condition = ImageCondition(
            "anemic" if severity else "healthy",
            severity,
            pattern=None,
            strength=0.5,
            abnormal_share=0.1,
            normal_diameter=21.0,
            size_cv=0.06,
        )
        hb[severity] = np.mean(
            [
                truth.cbc_values(cells, condition, n_platelet_blobs=80, rng=np.random.default_rng(s))["HGB"]
                for s in range(50)
            ]
        )
    # Ordered by severity, but overlapping as in the release (see test_reports_relation.py for the overlap).
    assert hb[None] > 11.8 > hb["mild"] > 10.6 > hb["chronic"]


def test_shortcuts_are_off_by_default_and_class_bound_when_asked() -> None:
    rng_a, rng_h = np.random.default_rng(0), np.random.default_rng(0)
    assert truth.mask_darkness("anemic", (), rng=rng_a) == truth.mask_darkness("healthy", (), rng=rng_h)
    dark = [truth.mask_darkness("anemic", ("mask",), rng=np.random.default_rng(s)) for s in range(30)]
    light = [truth.mask_darkness("healthy", ("mask",), rng=np.random.default_rng(s)) for s in range(30)]
    assert max(dark) <= 22 < 36 <= min(light)
    plain = SynthConfig()
    regimes = {_regime(c, plain, np.random.default_rng(s)) for c in ("anemic", "healthy") for s in range(20)}
    assert regimes == {"warm", "neutral"}
    colour = SynthConfig(shortcuts=("colour",))
    assert {_regime("anemic", colour, np.random.default_rng(s)) for s in range(20)} == {"warm"}
    assert {_regime("healthy", colour, np.random.default_rng(s)) for s in range(20)} == {"cool"}
