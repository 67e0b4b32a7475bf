"""`rbc-bench run` checks its request before torch loads, and a resumed run must be the experiment it continues."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from benchmarks.catalog import MODEL_TASKS
from benchmarks.suite.request import RunRequest, check_request, run_config
from benchmarks.training.presets import PRESETS
from cli import bench_app
from rbc_dataset.errors import DataError, UsageError
from tests.helpers import squeezed

PRESET = dataclasses.replace(PRESETS["cpu-smoke"], seeds=(0,), input_size=32, epochs=1)
runner = CliRunner()


def test_the_light_model_table_is_the_registry():
    from benchmarks.catalog import list_models

    assert MODEL_TASKS == {spec.name: spec.task for spec in list_models()}


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["3tierx", "--preset", "cpu-smoke"], "'3tierx' is not one of '3tier', 'segmentation'"),
        (["3tier", "--preset", "tpu"], "'tpu' is not one of 'cpu-smoke', 'cpu-native', 'cpu-image', 'gpu'"),
        (["3tier", "--models", "resnet19"], "unknown model 'resnet19'; valid models: 3tier"),
        (["3tier", "--models", "unet"], "unet (segmentation) are not"),
        (["3tier", "--format", "zarr"], "'zarr' is not one of 'hdf5', 'parquet'"),
        (["3tier", "--data-config", "thumbs"], "'thumbs' is not one of 'full', 'tiles', 'model'"),
        (["3tier", "--seeds", "a,b"], "--seeds expects comma-separated whole numbers, got 'a,b'"),
    ],
)
def test_usage_errors_answer_before_torch_loads(tmp_path, args, phrase):
    """In a fresh interpreter: the message comes back fast and torch was never imported."""
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom cli import bench_app\n"
        f"result = CliRunner().invoke(bench_app, {['run', *args, '--data', str(tmp_path)]!r})\n"
        "print(result.exit_code, 'torch' in sys.modules)\nprint(result.output)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[0] == "2 False", done.stdout + done.stderr
    assert squeezed(phrase) in squeezed(done.stdout) and "Traceback" not in done.stdout  # typer's box may wrap it


def test_a_missing_data_folder_is_a_usage_error_before_torch_loads(tmp_path):
    """No --preset: choosing the default asks torch for CUDA, so the path must be checked before that."""
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom cli import bench_app\n"
        f"result = CliRunner().invoke(bench_app, ['run', '3tier', '--data', {str(tmp_path / 'nowhere')!r}])\n"
        "print(result.exit_code, 'torch' in sys.modules)\nprint(result.output)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[0] == "2 False", done.stdout + done.stderr
    output = " ".join(done.stdout.split())
    assert "nowhere" in output and "rbc-dataset build" in output and "Traceback" not in output


@pytest.fixture
def partial_run(bench_build, tmp_path) -> Path:
    """An unfinished run folder as a stopped `rbc-bench run` leaves it: config.yaml and one finished case."""
    partial = tmp_path / "runs" / "3tier" / ".20260101-000000_abc1234.partial"
    (partial / "predictions").mkdir(parents=True)
    request = RunRequest(
        "3tier", bench_build, preset=PRESET, out_dir=tmp_path / "runs", models=("shortcut-cbc", "resnet18")
    )
    (partial / "config.yaml").write_text(yaml.safe_dump(run_config(request), sort_keys=False))
    return partial


def _request(bench_build, partial, **changes) -> RunRequest:
    base = RunRequest(
        "3tier",
        bench_build,
        preset=PRESET,
        out_dir=partial.parents[1],
        models=("shortcut-cbc", "resnet18"),
        resume=partial,
    )
    return dataclasses.replace(base, **changes)


def test_a_resume_with_the_same_request_is_accepted_and_may_change_speed_settings(bench_build, partial_run):
    faster = dataclasses.replace(PRESET, num_workers=3, workers=4, pin_memory=True)
    saved = check_request(_request(bench_build, partial_run, preset=faster))
    assert saved == yaml.safe_load((partial_run / "config.yaml").read_text())


def test_a_moved_build_with_the_same_content_resumes(bench_build, partial_run, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(bench_build, moved)
    check_request(_request(bench_build, partial_run, data=moved))


@pytest.mark.parametrize(
    ("changes", "phrases"),
    [
        ({"models": ("shortcut-cbc",)}, ["models was shortcut-cbc,resnet18, requested shortcut-cbc", "--models"]),
        ({"fmt": "parquet"}, ["format was hdf5, requested parquet", "--format hdf5"]),
        ({"cv": True}, ["protocol was train / validation / test", "no --cv"]),
        ({"preset": dataclasses.replace(PRESET, epochs=3)}, ["preset.epochs was 1, requested 3", "--epochs 1"]),
        ({"preset": dataclasses.replace(PRESET, seeds=(0, 1))}, ["preset.seeds was 0, requested 0,1", "--seeds 0"]),
        ({"preset": dataclasses.replace(PRESET, lr=0.5)}, ["preset.lr was 0.002, requested 0.5", "`lr: 0.002`"]),
        ({"preset": dataclasses.replace(PRESETS["gpu"], device="cpu")}, ["preset.name was cpu-smoke", "--preset"]),
    ],
)
def test_a_resume_that_changes_the_experiment_is_refused_key_by_key(bench_build, partial_run, changes, phrases):
    before = (partial_run / "config.yaml").read_bytes()
    with pytest.raises(UsageError) as caught:
        check_request(_request(bench_build, partial_run, **changes))
    message = str(caught.value)
    assert str(partial_run) in message and "start a new run without --resume" in message
    for phrase in phrases:
        assert phrase in message
    assert (partial_run / "config.yaml").read_bytes() == before  # never rewritten


def test_a_resume_on_another_build_is_refused_naming_both_builds(bench_build, partial_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(bench_build, other)
    card = other / "dataset.json"
    card.write_text(card.read_text() + "\n")  # another build: another fingerprint
    runs = partial_run.parents[1]
    args = ["run", "3tier", "--data", str(other), "--preset", "cpu-smoke", "--models", "shortcut-cbc,resnet18"]
    args += [
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--input-size",
        "32",
        "--out",
        str(runs),
        "--resume",
        str(partial_run),
    ]
    result = runner.invoke(bench_app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"data was {bench_build.resolve()} (dataset.json sha256" in text and f"requested {other.resolve()}" in text
    assert f"--data {bench_build.resolve()}" in text
    assert sorted(p.name for p in partial_run.iterdir()) == ["config.yaml", "predictions"]  # nothing ran


def test_a_partial_folder_without_its_config_cannot_be_resumed(bench_build, partial_run):
    (partial_run / "config.yaml").unlink()
    with pytest.raises(DataError, match="config.yaml.*start a new run"):
        check_request(_request(bench_build, partial_run))


def test_a_dataset_config_the_build_lacks_is_a_data_error(bench_build, tmp_path):
    request = RunRequest("3tier", bench_build, PRESET, tmp_path, config="tiles")
    with pytest.raises(DataError, match="dataset config 'tiles' in the build.*--data-config model"):
        check_request(request)
