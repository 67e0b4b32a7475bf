"""The toolkit benchmarks as ``rbc-bench`` commands: their own help panel after the model benchmark, clean errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from benchmarks.commands import app as bench_app
from benchmarks.toolkit.commands import COMMANDS, PANEL
from tests.helpers import squeezed

runner = CliRunner()


def test_help_lists_the_model_benchmark_first_and_the_toolkit_in_its_own_panel() -> None:
    result = runner.invoke(bench_app, ["--help"], terminal_width=120)
    assert result.exit_code == 0
    text = result.output
    assert text.index("Model benchmark") < text.index("run ") < text.index(PANEL) < text.index("synth-speed")
    assert all(name in text.split(PANEL, 1)[1] for name, _ in COMMANDS)
    assert "train-speed" in text.split(PANEL, 1)[1] and "report" not in text.split(PANEL, 1)[1]


def test_realism_without_pairs_exits_1_naming_the_folder(tmp_path: Path) -> None:
    args = ["realism", "--real", str(tmp_path), "--synthetic", str(tmp_path), "--json", str(tmp_path / "r.json")]
    result = runner.invoke(bench_app, args)
    assert result.exit_code == 1 and squeezed("no measurable pair") in squeezed(result.output)
    assert "Traceback" not in result.output and not (tmp_path / "r.json").exists()


def test_realism_refuses_max_images_below_one(tmp_path: Path) -> None:
    args = ["realism", "--real", str(tmp_path), "--synthetic", str(tmp_path), "--max-images", "0"]
    result = runner.invoke(bench_app, args)
    assert result.exit_code == 2 and squeezed("--max-images must be at least 1") in squeezed(result.output)
    assert "Traceback" not in result.output
