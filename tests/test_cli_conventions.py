"""What typer/rich users expect of both programs: --version, completion, `~` in paths, missing inputs first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import bench_app, dataset_app
from rbc_dataset import __version__
from tests.helpers import squeezed

PROJECT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.mark.parametrize(("app", "program"), [(dataset_app, "rbc-dataset"), (bench_app, "rbc-bench")])
def test_version_prints_the_package_version(app, program) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"{program} {__version__}"


@pytest.mark.parametrize("app", [dataset_app, bench_app])
def test_help_offers_shell_completion(app) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "--install-completion" in result.output and "--show-completion" in result.output


def _python(code_or_args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *code_or_args], capture_output=True, text=True, cwd=PROJECT, env=env, timeout=120
    )


def test_completion_answers_commands_options_and_choices() -> None:
    """What the shell script asks the program (bash protocol): the words it may complete."""

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_RBC_DATASET_COMPLETE": "complete_bash", "COMP_WORDS": words}
        env["COMP_CWORD"] = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        done = _python(["-c", "import cli; cli.dataset_app(prog_name='rbc-dataset')"], env)
        return done.stdout.split()

    assert "validate-masks" in complete("rbc-dataset val")
    assert "--mask-style" in complete("rbc-dataset synth --mask")
    assert {"binary", "anerbc"} <= set(complete("rbc-dataset synth --mask-style "))


def test_python_cli_py_lists_the_annotate_commands() -> None:
    done = _python(["cli.py", "annotate", "--help"])
    assert done.returncode == 0, done.stderr
    for command in ("propose", "instances", "morphometry", "severity", "coco-export", "agree", "review"):
        assert command in done.stdout


@pytest.mark.parametrize(
    ("app", "args"),
    [
        (dataset_app, ["build", "{missing}", "--out", "{out}"]),
        (dataset_app, ["validate-masks", "{missing}", "--out", "{out}"]),
        (dataset_app, ["show", "{missing}"]),
        (dataset_app, ["annotate", "review", "{missing}", "--a", "{missing}", "--out", "{out}"]),
        (bench_app, ["loader-speed", "--data", "{missing}"]),
        (bench_app, ["report", "{missing}", "--out", "{out}"]),
    ],
)
def test_a_missing_input_is_a_usage_error_before_any_heavy_import(tmp_path: Path, app, args) -> None:
    """`build /nonexistent` said "run ingest first" with exit 1; now exit 2 naming the path, torch never loaded."""
    args = [a.format(missing=tmp_path / "nonexistent", out=tmp_path / "x") for a in args]
    code = (
        "import sys\nfrom typer.testing import CliRunner\nimport cli\n"
        f"r = CliRunner().invoke(cli.{'dataset_app' if app is dataset_app else 'bench_app'}, {args!r})\n"
        "heavy = sorted({'torch', 'datasets', 'cv2', 'pandas', 'h5py'} & set(sys.modules))\n"
        "print(r.exit_code, heavy)\nprint(r.output)\n"
    )
    done = _python(["-c", code])
    first, _, output = done.stdout.partition("\n")
    assert first == "2 []", done.stdout + done.stderr
    assert squeezed(f"no such file or folder: {tmp_path / 'nonexistent'}") in squeezed(output)
    assert "Traceback" not in output and not (tmp_path / "x").exists()


def test_tilde_is_expanded_in_inputs_and_outputs(synthetic_root: Path, tmp_path: Path, monkeypatch) -> None:
    """The shell leaves `~` alone inside quotes: `ingest "~/Downloads/AneRBC dataset (v1.0)"` must work."""
    home = tmp_path / "home"
    data = home / "Downloads" / "AneRBC dataset (v1.0)" / "AneRBC_dataset" / "AneRBC-I"
    shutil.copytree(synthetic_root / "AneRBC_dataset" / "AneRBC-I", data)
    monkeypatch.setenv("HOME", str(home))
    result = runner.invoke(
        dataset_app, ["ingest", "~/Downloads/AneRBC dataset (v1.0)", "--out", "~/out/m.parquet", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert (home / "out" / "m.parquet").is_file() and not Path("~").exists()


def test_renamed_options_still_work_with_a_note(tmp_path: Path) -> None:
    data = tmp_path / "syn"
    assert (
        runner.invoke(dataset_app, ["synth", "--out", str(data), "--n-images", "1", "--no-tiles", "-q"]).exit_code == 0
    )
    result = runner.invoke(dataset_app, ["validate-masks", str(data), "--out-dir", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "validate-masks.json").is_file()
    assert "--out-dir is now --out" in result.output  # the note goes to stderr, which the runner mixes in
    unknown = runner.invoke(dataset_app, ["validate-masks", str(data), "--out-folder", str(tmp_path / "r")])
    assert unknown.exit_code == 2 and "No such option" in unknown.output


def test_validation_summary_says_why_release_style_masks_warn(synthetic_root: Path, tmp_path: Path) -> None:
    """`make demo` printed "742 warnings" on clean data without saying why."""
    data = tmp_path / "d" / "AneRBC_dataset" / "AneRBC-I"
    shutil.copytree(synthetic_root / "AneRBC_dataset" / "AneRBC-I", data)
    result = runner.invoke(dataset_app, ["validate-masks", str(tmp_path / "d"), "--out", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "(4 mask_near_binary" in text and "expected of release-style masks" in text
    assert "near-binary RGB with graded edges, specks and holes by design" in text


def test_validation_summary_of_clean_binary_masks_has_no_such_note(tmp_path: Path) -> None:
    data = tmp_path / "syn"
    args = ["synth", "--out", str(data), "--n-images", "1", "--no-tiles", "--mask-style", "binary", "-q"]
    assert runner.invoke(dataset_app, args).exit_code == 0
    result = runner.invoke(dataset_app, ["validate-masks", str(data), "--out", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 0, result.output
    assert "release-style" not in result.output and "mask_near_binary" not in result.output
