"""rbc-dataset calibrate: measure a lab's look on real smears; the generator draws it (SynthConfig.lab)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.synth.calibrate import calibrate
from rbc_dataset.synth.cells import sample_condition
from rbc_dataset.synth.config import LAB_KEYS, LAB_OPTIONAL_KEYS, SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers.small_data import run_cli

# A look none of the conversion constants was fitted on (rbc_dataset/synth/calibrate.py lists those labs).
LAB = {
    "background_r": 210.0,
    "background_g": 204.0,
    "background_b": 208.0,
    "absorption_r": 0.26,
    "absorption_g": 0.34,
    "absorption_b": 0.12,
    "blur_sigma": 1.4,
    "noise_channel": 4.0,
    "cell_diameter_px": 21.0,
    "foreground_fraction": 0.38,
    "background_spread": 1.5,
    "absorption_spread": 0.05,
    "cell_aspect": 1.1,
    "pallor_depth": 0.5,
    "pallor_radius": 0.42,
    "cell_density_spread": 0.12,
    "platelet_density": 120.0,
}
OLD_LAB = {key: LAB[key] for key in LAB_KEYS}  # a lab.yaml written before the cell and platelet keys
# How close calibrating on the generator's own output must come to the settings it drew with.
RELATIVE = {
    "absorption_r": 0.12,
    "absorption_g": 0.12,
    "absorption_b": 0.12,
    "blur_sigma": 0.2,
    "noise_channel": 0.15,
    "platelet_density": 0.25,
}
ABSOLUTE = {
    "background_r": 5.0,
    "background_g": 5.0,
    "background_b": 5.0,
    "cell_diameter_px": 1.2,
    "foreground_fraction": 0.05,
    "cell_aspect": 0.03,
    "pallor_depth": 0.06,
    "pallor_radius": 0.04,
    "cell_density_spread": 0.03,
}


@pytest.fixture(scope="module")
def lab_smears(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lab") / "data"
    synthesize(SynthConfig(n_images=2, seed=5, with_tiles=False, workers=2, lab=LAB), out, show_progress=False)
    return out


def test_calibrating_on_the_generators_output_recovers_its_settings(lab_smears):
    found = calibrate(lab_smears / "AneRBC_dataset").lab
    assert set(found) == set(LAB_KEYS) | set(LAB_OPTIONAL_KEYS)
    for key, tolerance in RELATIVE.items():
        assert abs(found[key] / LAB[key] - 1) <= tolerance, (key, found[key], LAB[key])
    for key, tolerance in ABSOLUTE.items():
        assert abs(found[key] - LAB[key]) <= tolerance, (key, found[key], LAB[key])


def test_images_without_masks_are_measured_from_a_threshold(lab_smears, tmp_path):
    image = next((lab_smears / "AneRBC_dataset").rglob("Original_images/*.png"))
    (tmp_path / "plain").mkdir()
    cv2.imwrite(str(tmp_path / "plain" / "smear.jpg"), cv2.imread(str(image)), [cv2.IMWRITE_JPEG_QUALITY, 95])
    found = calibrate(tmp_path / "plain").lab
    assert abs(found["cell_diameter_px"] - LAB["cell_diameter_px"]) < 2.5
    assert found["background_spread"] == 1.5 and found["absorption_spread"] == 0.05  # one image: no spread


def test_a_folder_without_images_names_itself(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="smear images"):
        calibrate(tmp_path)
    with pytest.raises(UsageError, match="--max-images must be at least 1"):
        calibrate(tmp_path, max_images=0)


def test_a_lab_section_with_wrong_keys_is_refused():
    with pytest.raises(UsageError, match="missing absorption_spread"):
        SynthConfig(lab={k: v for k, v in LAB.items() if k != "absorption_spread"})
    with pytest.raises(UsageError, match="must be positive"):
        SynthConfig(lab={**LAB, "blur_sigma": 0.0})


def test_a_lab_without_the_cell_keys_keeps_the_generators_cells():
    rng_old, rng_none = np.random.default_rng(3), np.random.default_rng(3)
    old = sample_condition("anemic", rng_old, lab=OLD_LAB)
    default = sample_condition("anemic", rng_none, diameter_px=OLD_LAB["cell_diameter_px"])
    assert old == default
    assert (old.aspect_sd, old.pallor_depth, old.density_sd) == (0.1, 0.6, 0.08)
    new = sample_condition("healthy", np.random.default_rng(3), lab=LAB)
    assert (new.pallor_depth, new.pallor_radius, new.density_sd) == (0.5, 0.42, 0.12)
    assert 1 / (1 - 0.6745 * new.aspect_sd) == pytest.approx(LAB["cell_aspect"], abs=1e-3)


def test_the_cell_and_platelet_keys_are_checked():
    with pytest.raises(UsageError, match=r"cell_aspect must lie in \[1.0, 2.0\], found 0.9"):
        SynthConfig(lab={**LAB, "cell_aspect": 0.9})
    with pytest.raises(UsageError, match="pallor_depth must lie in"):
        SynthConfig(lab={**LAB, "pallor_depth": 1.5})
    with pytest.raises(UsageError, match="must be a number"):
        SynthConfig(lab={**LAB, "platelet_density": "many"})
    with pytest.raises(UsageError, match="unknown rim_width"):
        SynthConfig(lab={**LAB, "rim_width": 0.2})
    assert SynthConfig(lab={**LAB, "platelet_density": 0.0}).lab["platelet_density"] == 0.0  # a lab without any


def test_an_older_lab_yaml_and_a_bad_value_through_synth_config(tmp_path):
    config = tmp_path / "old.yaml"
    config.write_text(yaml.safe_dump({"lab": OLD_LAB}))
    args = ("synth", "--config", str(config), "--out", str(tmp_path / "s"), "--n-images", "1", "--no-tiles")
    code, output = run_cli(*args)
    assert code == 0, output
    config.write_text(yaml.safe_dump({"lab": {**OLD_LAB, "cell_aspect": 3.0}}))
    code, output = run_cli(*args[:4], str(tmp_path / "t"), *args[5:])
    assert code == 2 and "cell_aspect must lie in" in output
    assert not (tmp_path / "t").exists()


def test_the_calibrated_config_drives_synth(lab_smears, tmp_path):
    config = tmp_path / "lab.yaml"
    code, output = run_cli("calibrate", str(lab_smears / "AneRBC_dataset"), "--out", str(config))
    assert code == 0 and "synth --config" in output
    assert set(yaml.safe_load(config.read_text())["lab"]) == set(LAB_KEYS) | set(LAB_OPTIONAL_KEYS)
    code, output = run_cli("calibrate", str(lab_smears / "AneRBC_dataset"), "--out", str(config))
    assert code == 2 and "--overwrite" in output
    args = ("synth", "--config", str(config), "--out", str(tmp_path / "s"), "--n-images", "1", "--no-tiles", "-q")
    code, output = run_cli(*args)
    assert code == 0, output
    saved = yaml.safe_load(next((tmp_path / "s").rglob("*config*.yaml")).read_text())
    assert saved["lab"]["blur_sigma"] == yaml.safe_load(config.read_text())["lab"]["blur_sigma"]


def test_the_library_call_refuses_an_existing_output_before_measuring(tmp_path):
    import rbc_dataset as rd

    out = tmp_path / "lab.yaml"
    out.write_text("mine")
    # The folder holds no images: a measurement would fail with a DataError, so the UsageError proves the order.
    with pytest.raises(UsageError, match="pass --overwrite"):
        rd.calibrate(tmp_path / "nowhere-needed", out=out)
    assert out.read_text() == "mine"
