"""rbc-dataset calibrate: measure a lab's look on real smears; the generator draws it (SynthConfig.lab)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import yaml

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.synth.calibrate import calibrate
from rbc_dataset.synth.config import LAB_KEYS, SynthConfig
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
}
# How close calibrating on the generator's own output must come to the settings it drew with.
RELATIVE = {"absorption_r": 0.12, "absorption_g": 0.12, "absorption_b": 0.12, "blur_sigma": 0.2, "noise_channel": 0.15}
ABSOLUTE = {
    "background_r": 5.0,
    "background_g": 5.0,
    "background_b": 5.0,
    "cell_diameter_px": 1.2,
    "foreground_fraction": 0.05,
}


@pytest.fixture(scope="module")
def lab_smears(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lab") / "data"
    synthesize(SynthConfig(n_images=2, seed=5, with_tiles=False, workers=2, lab=LAB), out, show_progress=False)
    return out


def test_calibrating_on_the_generators_output_recovers_its_settings(lab_smears):
    found = calibrate(lab_smears / "AneRBC_dataset").lab
    assert set(found) == set(LAB_KEYS)
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


def test_the_calibrated_config_drives_synth(lab_smears, tmp_path):
    config = tmp_path / "lab.yaml"
    code, output = run_cli("calibrate", str(lab_smears / "AneRBC_dataset"), "--out", str(config))
    assert code == 0 and "synth --config" in output
    assert set(yaml.safe_load(config.read_text())["lab"]) == set(LAB_KEYS)
    code, output = run_cli("calibrate", str(lab_smears / "AneRBC_dataset"), "--out", str(config))
    assert code == 2 and "--overwrite" in output
    args = ("synth", "--config", str(config), "--out", str(tmp_path / "s"), "--n-images", "1", "--no-tiles", "-q")
    code, output = run_cli(*args)
    assert code == 0, output
    saved = yaml.safe_load(next((tmp_path / "s").rglob("*config*.yaml")).read_text())
    assert saved["lab"]["blur_sigma"] == yaml.safe_load(config.read_text())["lab"]["blur_sigma"]
