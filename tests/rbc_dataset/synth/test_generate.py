"""rbc-dataset synth: layout, tiles, ground truth, determinism, atomic output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rbc_dataset.errors import UsageError
from rbc_dataset.fileio import read_image
from rbc_dataset.layout import tile_box
from rbc_dataset.reports import read_cbc_report, read_morphology_report
from rbc_dataset.synth import generate
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers import tree_hashes

I_ANEMIC = "AneRBC_dataset/AneRBC-I/Anemic_individuals"
I_HEALTHY = "AneRBC_dataset/AneRBC-I/Healthy_individuals"
II_ANEMIC = "AneRBC_dataset/AneRBC-II/Anemic_individuals"
FOLDERS = ("Original_images", "Binary_segmented", "RGB_segmented", "CBC_reports", "Morphology_reports")


def test_writes_the_exact_anerbc_layout(synthetic_root: Path) -> None:
    for kind_class in (I_ANEMIC, I_HEALTHY, II_ANEMIC, "AneRBC_dataset/AneRBC-II/Healthy_individuals"):
        for folder in FOLDERS:
            assert (synthetic_root / kind_class / folder).is_dir(), (kind_class, folder)
    names = sorted(p.name for p in (synthetic_root / I_ANEMIC / "Original_images").iterdir())
    assert names == ["001_a.png", "002_a.png"]
    tiles = sorted(p.name for p in (synthetic_root / II_ANEMIC / "Original_images").iterdir())
    assert len(tiles) == 24 and tiles[0] == "0001_01_a.png" and tiles[-1] == "0002_12_a.png"
    assert sorted(p.name for p in (synthetic_root / II_ANEMIC / "CBC_reports").iterdir()) == [
        "0001_a.txt",
        "0002_a.txt",
    ]
    assert (synthetic_root / I_HEALTHY / "CBC_reports" / "001_h.txt").is_file()


def test_images_have_release_sizes(synthetic_root: Path) -> None:
    image = read_image(synthetic_root / I_ANEMIC / "Original_images" / "001_a.png")
    assert image.shape == (960, 1224, 3) and image.dtype == np.uint8
    tile = read_image(synthetic_root / II_ANEMIC / "Original_images" / "0001_05_a.png")
    assert tile.shape == (320, 306, 3)


@pytest.mark.parametrize("role", ["Original_images", "Binary_segmented", "RGB_segmented"])
def test_tiles_are_crops_of_their_parent_in_row_major_order(synthetic_root: Path, role: str) -> None:
    parent = read_image(synthetic_root / I_ANEMIC / role / "002_a.png")
    for index in range(1, 13):
        box = tile_box(index, order="row-major")
        tile = read_image(synthetic_root / II_ANEMIC / role / f"0002_{index:02d}_a.png")
        assert np.array_equal(tile, parent[box.y : box.y + box.height, box.x : box.x + box.width]), index


def test_reports_for_tiles_are_verbatim_copies(synthetic_root: Path) -> None:
    for folder in ("CBC_reports", "Morphology_reports"):
        original = (synthetic_root / I_ANEMIC / folder / "001_a.txt").read_bytes()
        assert (synthetic_root / II_ANEMIC / folder / "0001_a.txt").read_bytes() == original


def test_anerbc_mask_mimics_the_release(synthetic_root: Path) -> None:
    mask = read_image(synthetic_root / I_ANEMIC / "Binary_segmented" / "001_a.png")
    instances = read_image(synthetic_root / "synthetic_truth/AneRBC-I/Anemic_individuals/instances/001_a.png")
    gray = mask.mean(axis=2)
    assert mask.ndim == 3
    background = instances == 0
    assert np.mean(np.all(mask[background] == 255, axis=1)) > 0.95  # background exactly white (specks aside)
    cells = gray < 128
    iou = np.sum(cells & (instances > 0)) / np.sum(cells | (instances > 0))
    assert iou > 0.85
    assert len(np.unique(mask[..., 0][cells])) > 30  # a dimmed texture, not a flat colour
    ambiguous = np.mean((gray >= 128) & (gray < 255))
    assert 0.003 < ambiguous < 0.04


def test_binary_mask_style_is_clean_and_exact(tmp_path: Path) -> None:
    out = tmp_path / "binary"
    synthesize(SynthConfig(n_images=1, seed=1, mask_style="binary", with_tiles=False), out, show_progress=False)
    mask = read_image(out / I_HEALTHY / "Binary_segmented" / "001_h.png")
    instances = read_image(out / "synthetic_truth/AneRBC-I/Healthy_individuals/instances/001_h.png")
    assert mask.ndim == 2 and set(np.unique(mask)) == {0, 255}
    assert np.array_equal(mask == 255, instances > 0)
    assert not (out / "AneRBC_dataset/AneRBC-II").exists()


def test_sidecar_truth_matches_the_images(synthetic_root: Path) -> None:
    truth = synthetic_root / "synthetic_truth/AneRBC-I/Anemic_individuals"
    instances = read_image(truth / "instances/002_a.png")
    cells = pd.read_csv(truth / "cells/002_a.csv")
    meta = json.loads((truth / "meta/002_a.json").read_text())
    assert instances.dtype == np.uint16
    assert set(np.unique(instances)) - {0} <= set(cells["cell_id"])
    assert {"cell_id", "type", "cx", "cy", "major_axis_px", "minor_axis_px", "angle_deg", "overlaps"} <= set(cells)
    assert 1000 <= len(cells) <= 1600
    assert (cells["major_axis_px"] >= cells["minor_axis_px"]).all()
    assert meta["class"] == "anemic" and meta["severity"] in ("mild", "chronic") and meta["seed"] == 3
    assert sum(meta["cell_type_counts"].values()) == len(cells)
    tile_meta = json.loads(
        (synthetic_root / "synthetic_truth/AneRBC-II/Anemic_individuals/meta/0002_07_a.json").read_text()
    )
    assert tile_meta["parent_id"] == "anerbc1_a_002" and tile_meta["tile"]["index"] == 7


def test_cell_overlaps_are_symmetric(synthetic_root: Path) -> None:
    cells = pd.read_csv(
        synthetic_root / "synthetic_truth/AneRBC-I/Healthy_individuals/cells/001_h.csv", keep_default_na=False
    )
    pairs = {(row.cell_id, int(o)) for row in cells.itertuples() for o in str(row.overlaps).split(";") if o}
    assert pairs, "touching/overlapping cells are expected"
    assert all((b, a) in pairs for a, b in pairs)


def test_reports_are_in_the_real_format_and_consistent(synthetic_root: Path) -> None:
    cbc = read_cbc_report(synthetic_root / I_ANEMIC / "CBC_reports" / "001_a.txt")
    assert cbc.raw_text.startswith("Test,Result/Units,Norm. Range")
    assert cbc.values["HGB"] is not None and cbc.values["MCV"] is not None
    assert read_cbc_report(synthetic_root / I_HEALTHY / "CBC_reports" / "001_h.txt").values["HGB"] is not None
    morphology = read_morphology_report(synthetic_root / I_ANEMIC / "Morphology_reports" / "001_a.txt")
    assert "rbc" in morphology.sections


def test_same_seed_gives_identical_bytes_whatever_the_workers(tmp_path: Path) -> None:
    config = {"n_images": 1, "seed": 42, "defect_rate": 0.3, "cbc_reuse": 0.5}
    synthesize(SynthConfig(workers=1, **config), tmp_path / "a", show_progress=False)
    synthesize(SynthConfig(workers=2, **config), tmp_path / "b", show_progress=False)
    a, b = tree_hashes(tmp_path / "a"), tree_hashes(tmp_path / "b")
    assert a == b and len(a) > 100


def test_another_seed_gives_other_images(tmp_path: Path) -> None:
    for seed in (1, 2):
        synthesize(SynthConfig(n_images=1, seed=seed, with_tiles=False), tmp_path / str(seed), show_progress=False)
    rel = f"{I_ANEMIC}/Original_images/001_a.png"
    assert (tmp_path / "1" / rel).read_bytes() != (tmp_path / "2" / rel).read_bytes()


def test_config_is_saved_with_the_output(synthetic_root: Path) -> None:
    saved = yaml.safe_load((synthetic_root / "synthetic_truth/synth_config.yaml").read_text())
    assert saved["seed"] == 3 and saved["n_images"] == 2 and saved["mask_style"] == "anerbc"


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(UsageError, match="--overwrite"):
        synthesize(SynthConfig(n_images=1, with_tiles=False), out, show_progress=False)
    assert (out / "keep.txt").exists()
    synthesize(SynthConfig(n_images=1, with_tiles=False), out, overwrite=True, show_progress=False)
    assert not (out / "keep.txt").exists() and (out / I_ANEMIC / "Original_images/001_a.png").exists()


def test_failed_run_leaves_nothing_that_looks_complete(tmp_path: Path, monkeypatch) -> None:
    def explode(root, config, cls, number):
        raise RuntimeError("disk full")

    monkeypatch.setattr(generate, "generate_image", explode)
    with pytest.raises(RuntimeError):
        synthesize(SynthConfig(n_images=1, workers=1), tmp_path / "out", show_progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, phrase",
    [
        ({"n_images": 0}, "at least 1"),
        ({"mask_style": "fancy"}, "valid choices: binary, anerbc"),
        ({"defect_rate": 2.0}, r"\[0, 1\]"),
        ({"shortcuts": ("size",)}, "colour, mask"),
        ({"tile_order": "diagonal"}, "row-major"),
        ({"cell_overlap": 0.9}, r"--cell-overlap must lie in \[0, 0.6\]"),
        ({"cell_overlap": -0.1}, r"--cell-overlap"),
        ({"defocus": 2.0}, r"--defocus must lie in \[0, 1.5\]"),
        ({"defocus": -0.1}, r"--defocus"),
        ({"rounded_edge": 0.6}, r"--rounded-edge must lie in \[0, 0.5\]"),
    ],
)
def test_bad_config_is_a_usage_error(kwargs: dict, phrase: str) -> None:
    with pytest.raises(UsageError, match=phrase):
        SynthConfig(**kwargs)


def _closest_pairs(overlap: float) -> np.ndarray:
    """For each of 600 placed cells of radius 10 on a 600 x 400 field, the nearest centre over r1 + r2."""
    from scipy.spatial import cKDTree

    from rbc_dataset.synth.render import place_cells

    radius = np.full(600, 10.0)
    centres, _ = place_cells(radius, 600, height=400, rng=np.random.default_rng(4), overlap=overlap)
    distance, _ = cKDTree(centres).query(centres, k=2)
    return distance[:, 1] / 20.0


def test_cell_overlap_lets_cells_lie_on_each_other() -> None:
    release, thick = _closest_pairs(0.0), _closest_pairs(0.35)
    assert release.min() >= 0.95 - 1e-9  # as AneRBC draws them: 5 % overlap at most
    assert thick.min() < 0.7 and np.mean(thick < 0.9) > 0.1  # many cells lie deep on a neighbour
    assert thick.min() >= 0.6 - 1e-9


def _overlapping_pairs(root: Path) -> int:
    cells = pd.read_csv(root / "synthetic_truth/AneRBC-I/Healthy_individuals/cells/001_h.csv", keep_default_na=False)
    return sum(len([o for o in str(row.overlaps).split(";") if o]) for row in cells.itertuples()) // 2


def test_synth_cell_overlap_reaches_the_smears(tmp_path: Path) -> None:
    base = {"n_images": 1, "seed": 8, "with_tiles": False, "workers": 1}
    synthesize(SynthConfig(**base), tmp_path / "release", show_progress=False)
    synthesize(SynthConfig(cell_overlap=0.35, **base), tmp_path / "thick", show_progress=False)
    assert _overlapping_pairs(tmp_path / "thick") > 1.5 * _overlapping_pairs(tmp_path / "release")
    saved = yaml.safe_load((tmp_path / "thick/synthetic_truth/synth_config.yaml").read_text())
    assert saved["cell_overlap"] == 0.35


def test_defocus_halo_is_bright_outside_an_edge_and_dark_inside() -> None:
    from rbc_dataset.synth.render import defocus_light

    yy, xx = np.mgrid[0:80, 0:80]
    distance = np.hypot(xx - 40, yy - 40)
    disc = (distance < 20).astype(np.float32)  # a cell of optical density 1
    light = defocus_light(disc, halo=0.6, width=1.5)

    def ring(lo: float, hi: float) -> float:
        return float(light[(distance >= lo) & (distance < hi)].mean())

    assert ring(21, 23) > 1.08 and ring(17, 19) < 0.92  # the halo's two bands, about 0.6 x 0.24 either side
    assert ring(30, 40) == pytest.approx(1.0, abs=1e-3) and ring(0, 10) == pytest.approx(1.0, abs=1e-3)
    assert np.allclose(defocus_light(disc, halo=0.0, width=1.5), 1.0)


def test_defocus_changes_the_photograph_and_nothing_it_shows(tmp_path: Path) -> None:
    """Same seed with and without --defocus: the same cells (instance map and cell table), and a bright band in
    the background next to every cell; in-focus images record no defocus."""
    from scipy import ndimage as ndi

    from rbc_dataset.synth.render import sample_defocus

    roots = {}
    for defocus in (0.0, 1.0):
        config = SynthConfig(n_images=1, seed=5, with_tiles=False, defocus=defocus, workers=1)
        roots[defocus] = synthesize(config, tmp_path / f"d{defocus}", show_progress=False).out
    truth = "synthetic_truth/AneRBC-I/Anemic_individuals"
    for part in ("instances/001_a.png", "cells/001_a.csv"):
        assert (roots[0.0] / truth / part).read_bytes() == (roots[1.0] / truth / part).read_bytes(), part
    sharp, halo = (read_image(roots[d] / I_ANEMIC / "Original_images/001_a.png").astype(float) for d in roots)
    cells = read_image(roots[0.0] / truth / "instances/001_a.png") > 0
    next_to_cells = ndi.binary_dilation(cells, iterations=2) & ~cells
    far = ~ndi.binary_dilation(cells, iterations=8)
    gain_near = halo[next_to_cells].mean() - sharp[next_to_cells].mean()
    gain_far = halo[far].mean() - sharp[far].mean()
    assert gain_near > gain_far + 2.0, (gain_near, gain_far)  # grey levels
    meta = {d: json.loads((roots[d] / truth / "meta/001_a.json").read_text())["acquisition"] for d in roots}
    assert 0 <= meta[1.0]["defocus_halo"] < 1.0 and 1.0 <= meta[1.0]["defocus_width_px"] <= 2.5
    assert "defocus_halo" not in meta[0.0]
    assert sample_defocus(np.random.default_rng(0), largest=0.5)["defocus_halo"] < 0.5


def test_a_rounded_edge_thins_the_cell_towards_its_outline_only() -> None:
    """One round cell of radius 12 px: with rounded_edge 0.2 it keeps its density inside 0.8 of its radius and
    thins towards the outline (to about half at 0.95, Evans and Fung's rim); its outline and area are unchanged."""
    from rbc_dataset.synth.cells import N_ANGLES, CellPopulation
    from rbc_dataset.synth.render import _cell_patches

    one = {"types": [0], "radius": [12.0], "aspect": [1.0], "angle": [0.0], "pallor_radius": [0.37]}
    one |= {"pallor_depth": [0.6], "target_spot": [False], "density": [1.0], "rim": [0.2]}
    cell = CellPopulation(**{k: np.asarray(v) for k, v in one.items()}, outline=np.full((1, N_ANGLES), 12.0))
    centre = np.array([[20.0, 20.0]])
    flat, inside, area, _ = _cell_patches(cell, centre, 41)
    rounded, inside_rounded, area_rounded, _ = _cell_patches(cell, centre, 41, rounded_edge=0.2)
    assert np.array_equal(inside, inside_rounded) and area == pytest.approx(area_rounded)
    radius = np.hypot(*(np.mgrid[0:41, 0:41] + 0.5 - 20)) / 12.0  # at pixel centres, as _cell_patches samples
    core, rim = radius < 0.75, (radius > 0.92) & (radius < 0.97)
    assert np.allclose(flat[0][core], rounded[0][core], rtol=0.02)
    assert 0.35 < (rounded[0][rim] / flat[0][rim]).mean() < 0.65
