"""Distractors of the synthetic smear: white cells, precipitate, dust, debris, platelet clumps, plasma film."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rbc_dataset.synth import distractors
from rbc_dataset.synth.cells import sample_condition
from rbc_dataset.synth.distractors import NO_DISTRACTORS, DistractorRates
from rbc_dataset.synth.render import render_smear, sample_acquisition

SHAPE = (120, 160)
WIDTH, HEIGHT = 260, 200


def _smear(rates: DistractorRates, seed: int = 3):
    rng = np.random.default_rng(seed)
    condition = sample_condition("healthy", rng)
    acquisition = sample_acquisition("cool", rng)
    return render_smear(condition, acquisition, rng=rng, width=WIDTH, height=HEIGHT, rates=rates)


@pytest.fixture(scope="module")
def plain():
    return _smear(NO_DISTRACTORS)


def test_each_kind_draws_something_when_forced_and_nothing_when_off() -> None:
    rng = np.random.default_rng(0)
    od, dark = distractors.draw_specks(rng, SHAPE, precipitate=True, dust=False)
    assert od.shape == (3, *SHAPE) and dark.any() and od[1].max() > od[2].max()  # purple: green absorbed most
    od, dark = distractors.draw_specks(rng, SHAPE, precipitate=False, dust=True)
    assert (od > 0).any()
    od, dark = distractors.draw_specks(rng, SHAPE, precipitate=False, dust=False)
    assert not od.any() and not dark.any()
    assert (distractors.draw_debris(rng, SHAPE) > 0).any()
    od, clumps = distractors.draw_platelet_clumps(rng, SHAPE)
    assert clumps.sum() >= 6 and np.array_equal(clumps, od > 0)
    assert not distractors.draw_film(rng, SHAPE, mottle=0.0, grain=0.0).any()
    film = distractors.draw_film(rng, SHAPE, mottle=0.02, grain=0.01)
    assert film.min() >= 0 and film[1].std() > 0.003  # mottled and grainy, never negative
    od, nucleus, cells = distractors.draw_white_cells(rng, SHAPE, count=2, cell_diameter=20.0, region=(0, 0, 160, 120))
    assert len(cells) == 2 and nucleus.any() and od[1].max() > 0.8
    assert distractors.white_cell_count(rng, NO_DISTRACTORS) == 0
    assert distractors.white_cell_count(rng, replace(NO_DISTRACTORS, white_cell=1.0)) >= 1


@pytest.mark.parametrize("kind", ["precipitate", "dust", "debris", "platelet_clumps", "film"])
def test_render_draws_each_kind_only_when_its_rate_is_on(plain, kind: str) -> None:
    smear = _smear(replace(NO_DISTRACTORS, **{kind: 1.0}))
    assert not np.array_equal(smear.image, plain.image)  # the kind was drawn
    assert np.array_equal(smear.instances, plain.instances)  # red cells untouched: same ids, same pixels
    assert smear.params["white_cells"] == []
    if kind == "platelet_clumps":
        assert smear.platelets.sum() > plain.platelets.sum()
    if kind != "precipitate":
        assert not smear.dark_objects.any()


def test_no_distractors_means_no_white_cells_and_no_dark_objects(plain) -> None:
    assert plain.params["white_cells"] == [] and not plain.dark_objects.any()
    assert plain.dark_objects.shape == plain.instances.shape


def test_white_cells_are_never_covered_by_red_cells_at_their_nucleus(plain) -> None:
    rates = replace(NO_DISTRACTORS, white_cell=1.0, extra_white_cell=0.9)
    for seed in (3, 4, 5):
        smear = _smear(rates, seed=seed)
        assert smear.params["white_cells"], "a white cell was forced"
        assert smear.dark_objects.any()  # the nuclei (no precipitate in these rates)
        assert not (smear.instances[smear.dark_objects] > 0).any()
        assert set(np.unique(smear.instances)) - {0} <= set(smear.cells["cell_id"])  # red cells only


def test_white_cells_only_remove_red_cells_never_move_them(plain) -> None:
    smear = _smear(replace(NO_DISTRACTORS, white_cell=1.0))
    before = set(zip(plain.cells["cx"], plain.cells["cy"], strict=True))
    after = set(zip(smear.cells["cx"], smear.cells["cy"], strict=True))
    assert after < before  # some dropped under the white cell, the rest where they were
    assert list(smear.cells["cell_id"]) == list(range(1, len(smear.cells) + 1))  # ids renumbered without gaps
    assert set(np.unique(smear.instances)) - {0} <= set(smear.cells["cell_id"])


def test_same_seed_gives_identical_bytes() -> None:
    rates = DistractorRates(white_cell=1.0, precipitate=1.0, debris=1.0, platelet_clumps=1.0)
    first, second = _smear(rates, seed=7), _smear(rates, seed=7)
    for name in ("image", "instances", "platelets", "dark_objects"):
        assert getattr(first, name).tobytes() == getattr(second, name).tobytes(), name
    assert not np.array_equal(first.image, _smear(rates, seed=8).image)


def test_calibrated_acquisitions_carry_the_film_keys() -> None:
    lab = {f"background_{c}": 205.0 for c in "rgb"} | {f"absorption_{c}": 0.3 for c in "rgb"}
    lab |= {"absorption_spread": 0.05, "background_spread": 1.0, "blur_sigma": 1.2, "noise_channel": 5.0}
    lab |= {"foreground_fraction": 0.35}
    default = sample_acquisition("cool", np.random.default_rng(0))
    calibrated = sample_acquisition("warm", np.random.default_rng(0), lab=lab)
    assert set(calibrated) == set(default)
    assert calibrated["film_mottle"] > 0 and calibrated["film_grain"] > 0


@pytest.mark.parametrize("regime", ["neutral", "cool", "warm"])
def test_white_balance_tints_stay_small_and_warm_is_beige(regime: str) -> None:
    rng = np.random.default_rng(0)
    backgrounds = np.array([sample_acquisition(regime, rng)["background_rgb"] for _ in range(200)])
    tint = backgrounds - backgrounds.mean(axis=1, keepdims=True)
    assert np.abs(tint).max() < 12  # an automatic white balance leaves a residual tint of a few grey levels
    if regime == "warm":
        assert (backgrounds[:, 0] > backgrounds[:, 2]).all()  # red above blue: beige
    elif regime == "cool":
        assert (backgrounds[:, 2] > backgrounds[:, 1]).all()  # bluish: blue above green, never beige
    else:
        assert (backgrounds[:, 2] > backgrounds[:, 0]).mean() > 0.5  # mostly bluish, violet or cyan


def test_the_planted_regimes_are_separable_by_colour_and_the_default_tint_is_not() -> None:
    def blue_minus_green(regime: str) -> np.ndarray:
        rng = np.random.default_rng(1)
        backgrounds = np.array([sample_acquisition(regime, rng)["background_rgb"] for _ in range(200)])
        return backgrounds[:, 2] - backgrounds[:, 1]

    assert blue_minus_green("warm").max() < blue_minus_green("cool").min()  # --shortcut colour: a clean split
    neutral = blue_minus_green("neutral")
    assert neutral.min() < blue_minus_green("warm").max() < neutral.max()  # the default's tints overlap warm
