"""The two command-line apps: instant help, exit codes, key phrases, config precedence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cli import bench_app, dataset_app
from tests.helpers import squeezed

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(dataset_app, ["--help"])
    assert result.exit_code == 0 and "synth" in result.output and "ingest" in result.output
    result = runner.invoke(bench_app, ["--help"])
    assert result.exit_code == 0 and "synth-speed" in result.output


def test_help_does_not_import_heavy_libraries() -> None:
    code = "import sys, cli; heavy = {'torch', 'datasets', 'cv2', 'pandas'} & set(sys.modules); print(sorted(heavy))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "[]"


def test_synth_then_ingest(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    result = runner.invoke(dataset_app, ["synth", "--out", str(out), "--n-images", "1", "--no-tiles", "-q"])
    assert result.exit_code == 0, result.output
    assert "2 AneRBC-I images" in result.output
    result = runner.invoke(dataset_app, ["ingest", str(out), "--out", str(tmp_path / "m.parquet"), "-q"])
    assert result.exit_code == 0, result.output
    assert "2 samples" in result.output and (tmp_path / "m.report.json").is_file()


def test_config_file_and_cli_precedence(tmp_path: Path) -> None:
    config = tmp_path / "synth.yaml"
    config.write_text(yaml.safe_dump({"seed": 7, "n_images": 1, "with_tiles": False, "mask_style": "binary"}))
    out = tmp_path / "syn"
    result = runner.invoke(dataset_app, ["synth", "--out", str(out), "--config", str(config), "--seed", "8", "-q"])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((out / "synthetic_truth/synth_config.yaml").read_text())
    assert saved["seed"] == 8 and saved["mask_style"] == "binary" and saved["with_tiles"] is False


def test_unknown_config_key_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "synth.yaml"
    config.write_text("seeds: 3\n")
    result = runner.invoke(dataset_app, ["synth", "--out", str(tmp_path / "o"), "--config", str(config)])
    assert result.exit_code == 2 and "unknown key(s) seeds" in result.output


def test_bad_option_value_exits_2_and_lists_the_choices(tmp_path: Path) -> None:
    result = runner.invoke(dataset_app, ["synth", "--out", str(tmp_path / "o"), "--mask-style", "fancy"])
    assert result.exit_code == 2 and squeezed("'fancy' is not one of 'binary', 'anerbc'") in squeezed(result.output)
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_missing_root_exits_2_and_names_it(tmp_path: Path) -> None:
    result = runner.invoke(dataset_app, ["ingest", str(tmp_path / "absent"), "--out", str(tmp_path / "m.parquet")])
    text = squeezed(result.output)
    assert result.exit_code == 2 and squeezed(f"no such file or folder: {tmp_path / 'absent'}") in text
    assert "Traceback" not in result.output and not (tmp_path / "m.parquet").exists()


def test_data_errors_found_by_ingest_exit_1(tmp_path: Path) -> None:
    root = tmp_path / "data" / "AneRBC-I" / "Healthy_individuals" / "Original_images"
    root.mkdir(parents=True)
    (root / "001_h.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = runner.invoke(dataset_app, ["ingest", str(tmp_path / "data"), "--out", str(tmp_path / "m.parquet"), "-q"])
    assert result.exit_code == 1 and "unreadable_file" in result.output


def test_cli_reference_is_up_to_date() -> None:
    from cli import APPS
    from rbc_dataset.cli_reference import render, replace_section

    reference = Path(__file__).resolve().parents[1] / "docs" / "CLI.md"
    text = reference.read_text()
    assert replace_section(text, render(APPS)) == text, "run `make docs` to regenerate docs/CLI.md"


def test_validate_masks_exit_codes(tmp_path: Path) -> None:
    data = tmp_path / "syn"
    assert (
        runner.invoke(dataset_app, ["synth", "--out", str(data), "--n-images", "1", "--no-tiles", "-q"]).exit_code == 0
    )
    result = runner.invoke(dataset_app, ["validate-masks", str(data), "--out", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output and (tmp_path / "r/validate-masks.json").is_file()
    mask = data / "AneRBC_dataset/AneRBC-I/Healthy_individuals/Binary_segmented/001_h.png"
    mask.unlink()
    result = runner.invoke(dataset_app, ["validate-masks", str(data), "--out", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 1 and "missing_mask" in result.output
    result = runner.invoke(dataset_app, ["validate-masks", str(data), "--remove-specks", "20"])
    assert result.exit_code == 2 and "only apply with --fix" in result.output


def test_audit_exit_codes(tmp_path: Path) -> None:
    data = tmp_path / "syn"
    args = ["synth", "--out", str(data), "--n-images", "3", "--no-tiles", "--shortcut", "mask", "-q"]
    assert runner.invoke(dataset_app, args).exit_code == 0
    result = runner.invoke(dataset_app, ["audit", str(data), "--out", str(tmp_path / "a"), "-q"])
    assert result.exit_code == 1 and "mask_encodes_label" in result.output
    result = runner.invoke(dataset_app, ["audit", str(data), "--out", str(data / "inside"), "-q"])
    assert result.exit_code == 2 and "inside the input" in result.output


def test_every_command_answers_a_full_disk_with_one_message(tmp_path: Path, monkeypatch) -> None:
    import rbc_dataset.ingestion

    def full_disk(*args, **kwargs):
        raise RuntimeError("Can't write data (errno = 28, error message = 'No space left on device')")

    monkeypatch.setattr(rbc_dataset.ingestion, "ingest", full_disk)
    out = tmp_path / "manifest.parquet"
    result = runner.invoke(dataset_app, ["ingest", str(tmp_path), "--out", str(out), "-q"])
    assert result.exit_code == 1 and "full disk" in result.output and str(out) in result.output
    assert "Traceback" not in result.output

    def bug(*args, **kwargs):
        raise RuntimeError("a bug, not a full disk")

    monkeypatch.setattr(rbc_dataset.ingestion, "ingest", bug)
    result = runner.invoke(dataset_app, ["ingest", str(tmp_path), "--out", str(out), "-q"])
    assert isinstance(result.exception, RuntimeError)  # anything else still surfaces as itself
