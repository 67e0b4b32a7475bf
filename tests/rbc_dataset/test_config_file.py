"""Every --config file is type-checked before any work: one message naming the file, key, type and value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli import bench_app, dataset_app
from rbc_dataset.config_file import load_config_file, resolve_config
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.synth.config import SynthConfig

runner = CliRunner()

# (app, arguments before --config, YAML text, phrase of the message). Each runs with one wrong value.
CASES = {
    "synth n_images": (dataset_app, ["synth", "--out", "{out}"], "n_images: two\n", "key 'n_images' expects a whole"),
    "synth seed quoted": (dataset_app, ["synth", "--out", "{out}"], 'seed: "3"\n', "found '3' (text)"),
    "synth shortcuts": (dataset_app, ["synth", "--out", "{out}"], "shortcuts: colour\n", "a list of text values"),
    "validate max_pixels": (
        dataset_app,
        ["validate-masks", "{data}", "--out", "{out}"],
        "max_pixels: lots\n",
        "key 'max_pixels' expects a whole number, found 'lots'",
    ),
    "audit hamming_radius": (
        dataset_app,
        ["audit", "{data}", "--out", "{out}"],
        "hamming_radius: [1]\n",
        "key 'hamming_radius' expects a whole number, found [1] (a list)",
    ),
    "audit seed": (dataset_app, ["audit", "{data}", "--out", "{out}"], 'seed: "3"\n', "key 'seed'"),
    "build folds": (
        dataset_app,
        ["build", "{data}", "--out", "{out}"],
        "folds: five\n",
        "key 'folds' expects a whole number, found 'five' (text)",
    ),
    "build split_ratios": (
        dataset_app,
        ["build", "{data}", "--out", "{out}"],
        "split_ratios: 0.8\n",
        "key 'split_ratios' expects a list of 3 numbers, found 0.8 (a number)",
    ),
    "build configs": (
        dataset_app,
        ["build", "{data}", "--out", "{out}"],
        "configs: tiles\n",
        "key 'configs' expects a list of text values, found 'tiles' (text)",
    ),
    "build seed": (dataset_app, ["build", "{data}", "--out", "{out}"], 'seed: "3"\n', "e.g. `seed: 0`"),
    "build audit": (dataset_app, ["build", "{data}", "--out", "{out}"], "audit: maybe\n", "expects true or false"),
    "build ratios nan": (
        dataset_app,
        ["build", "{data}", "--out", "{out}"],
        "split_ratios: [.nan, 0.5, 0.5]\n",
        "key 'split_ratios' expects a list of 3 numbers",
    ),
    "bench epochs": (
        bench_app,
        ["run", "3tier", "--data", "{data}", "--preset", "cpu-smoke", "--out", "{out}"],
        "epochs: one\n",
        "key 'epochs' expects a whole number, found 'one' (text)",
    ),
    "bench seeds": (
        bench_app,
        ["run", "3tier", "--data", "{data}", "--preset", "cpu-smoke", "--out", "{out}"],
        "seeds: 3\n",
        "key 'seeds' expects a list of whole numbers, found 3",
    ),
    "annotate severity": (
        dataset_app,
        ["annotate", "severity", "{data}", "--out", "{out}"],
        None,  # the packaged rule with one number quoted (below)
        "key 'cell.size_tolerance' expects a number, found '0.186' (text)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrong_type_in_any_config_file_is_one_message_before_any_work(synthetic_root, tmp_path, case):
    app, args, text, phrase = CASES[case]
    config = tmp_path / "bad.yaml"
    if text is None:
        from annotation.severity import load_severity_config

        packaged = Path(load_severity_config().path).read_text()
        text = packaged.replace("size_tolerance: 0.186", "size_tolerance: '0.186'")
    config.write_text(text)
    before = sorted(synthetic_root.rglob("*"))
    out = tmp_path / "out"
    filled = [a.format(out=out, data=synthetic_root) for a in args]
    result = runner.invoke(app, [*filled, "--config", str(config)])
    message = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert phrase in message and str(config) in message and "Traceback" not in result.output
    assert not out.exists()  # nothing ran, nothing written
    assert sorted(synthetic_root.rglob("*")) == before


def test_values_of_the_right_type_still_resolve_with_cli_over_file(tmp_path):
    config = tmp_path / "build.yaml"
    config.write_text(yaml.safe_dump({"split_ratios": [1, 0, 0], "folds": 2, "configs": ["model"], "seed": 4}))
    resolved = resolve_config(BuildConfig, config, cli_values={"seed": 9, "folds": None})
    assert resolved.split_ratios == (1.0, 0.0, 0.0) and resolved.configs == ("model",)
    assert resolved.folds == 2 and resolved.seed == 9


def test_a_range_error_says_the_values_came_from_the_config_file(tmp_path):
    config = tmp_path / "synth.yaml"
    config.write_text("n_images: 0\n")
    with pytest.raises(UsageError, match=f"--n-images must be at least 1, got 0 .options read from {config}"):
        resolve_config(SynthConfig, config, cli_values={})


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"[" * 100 + b"\n", "a syntax error"),
        (b"- a\n- b\n", "a list"),
        (b"x: " + b"0" * 1_100_000, "at most 1,000,000 bytes"),
    ],
)
def test_unreadable_config_files_are_data_errors(tmp_path, content, found):
    config = tmp_path / "c.yaml"
    config.write_bytes(content)
    with pytest.raises(DataError, match=found):
        load_config_file(config)


def test_a_cli_list_that_is_not_numbers_is_a_usage_error(tmp_path):
    result = runner.invoke(dataset_app, ["build", str(tmp_path), "--out", str(tmp_path / "o"), "--split-ratios", "a"])
    assert result.exit_code == 2 and "--split-ratios expects comma-separated numbers, got 'a'" in result.output


@pytest.mark.parametrize(
    ("app", "args", "phrase"),
    [
        (dataset_app, ["synth", "--out", "{out}", "--seed", "-1"], "--seed must be a whole number within 0..4294967"),
        (dataset_app, ["audit", "{data}", "--out", "{out}", "--seed", "5000000000"], "got 5000000000"),
        (dataset_app, ["build", "{data}", "--out", "{out}", "--seed", "-1"], "--seed must be a whole number"),
        (dataset_app, ["build", "{data}", "--out", "{out}", "--split-ratios", "nan,0.5,0.5"], "a finite number"),
        (dataset_app, ["build", "{data}", "--out", "{out}", "--split-ratios", "inf,0,0"], "a finite number"),
        (dataset_app, ["validate-masks", "{data}", "--out", "{out}", "--workers", "-1"], "--workers must be 0"),
        (bench_app, ["run", "3tier", "--data", "{data}", "--preset", "cpu-smoke", "--seeds", "0,-1"], "--seeds must"),
    ],
)
def test_out_of_range_option_values_are_usage_errors_before_any_work(synthetic_root, tmp_path, app, args, phrase):
    out = tmp_path / "out"
    result = runner.invoke(app, [a.format(out=out, data=synthetic_root) for a in args])
    assert result.exit_code == 2 and phrase in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output and not out.exists()
