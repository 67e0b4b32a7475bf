"""The README's (and Makefile's) commands work as written: all parse; the quick-start runs on a tiny AneRBC copy.

The first real-data command of the README once failed as written (`~` inside quotes); this keeps every
`rbc-dataset ...` / `rbc-bench ...` line in its shell blocks honest: known commands, known options, valid
choices, required options given. The quick-start's first steps run for real, with `~` as the README has it.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import rbc_dataset.cli_options
from cli import bench_app, dataset_app
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize

PROJECT = Path(__file__).resolve().parents[1]
README = PROJECT / "README.md"
APPS = {"rbc-dataset": dataset_app, "rbc-bench": bench_app}


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def _commands(block: str) -> list[list[str]]:
    """Each line's words from ``rbc-dataset``/``rbc-bench`` on (after torchrun, .venv/bin/ ...), comments dropped."""
    found = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        programs = [i for i, w in enumerate(words) if Path(w).name in APPS]
        if programs:
            words = words[programs[0] :]
            found.append([Path(words[0]).name, *words[1:]])
    return found


README_COMMANDS = [words for block in _shell_blocks(README.read_text()) for words in _commands(block)]
# The Makefile's commands (make demo, make bench), its variables replaced by placeholder paths.
MAKE_VARIABLES = re.compile(r"\$\((\w+)\)")
MAKEFILE_COMMANDS = _commands(
    "\n".join(
        MAKE_VARIABLES.sub(lambda m: {"BIN": ".venv/bin"}.get(m.group(1), m.group(1).lower()), line).rstrip("; \\")
        for line in (PROJECT / "Makefile").read_text().splitlines()
    )
)


def test_the_readme_has_commands_to_check() -> None:
    assert len(README_COMMANDS) >= 25
    assert ["rbc-dataset", "ingest", "~/Downloads/AneRBC dataset (v1.0)", "--out", "anerbc/manifest.parquet"] in (
        README_COMMANDS
    )


def test_the_makefile_has_commands_to_check() -> None:
    assert len(MAKEFILE_COMMANDS) >= 25 and ["rbc-dataset", "show", "demo/dataset", "--data-config", "model"] in (
        MAKEFILE_COMMANDS
    )


@pytest.mark.parametrize("words", README_COMMANDS + MAKEFILE_COMMANDS, ids=lambda words: " ".join(words)[:70])
def test_every_readme_and_makefile_command_parses(words: list[str], monkeypatch) -> None:
    """Parsed by the real command (options, choices, required ones); paths are placeholders, so not checked."""
    monkeypatch.setattr(rbc_dataset.cli_options, "_exists", lambda path: True)
    command = typer.main.get_command(APPS[words[0]])
    args = words[1:]
    while getattr(command, "commands", None) and args and args[0] in command.commands:
        command, args = command.commands[args[0]], args[1:]
    assert not getattr(command, "commands", None), f"{' '.join(words)}: no such command"
    try:
        command.make_context(" ".join(words[:1]), list(args))
    except Exception as exc:  # noqa: BLE001 (the message is the finding)
        pytest.fail(f"README command does not parse: {' '.join(words)}\n{exc}")


def _quick_start() -> list[list[str]]:
    text = README.read_text()
    section = text.split("## Your own AneRBC download", 1)[1]
    return _commands(_shell_blocks(section)[0])


def test_the_quick_start_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    """ingest with `~` inside quotes, validate-masks --fix and audit, on 4 AneRBC-I pairs in ~/Downloads.

    With 4 images the audit's probes find a perfect separator by chance in about half of the draws (seeds 0,
    3, 5, 6, 7 of 0-7) and report it as an error (exit 1); seed 1 is one where they do not. That small-sample
    behaviour is the audit's (issue 16), not what this test is about.
    """
    steps = _quick_start()
    assert [words[1] for words in steps] == ["ingest", "validate-masks", "audit", "build", "verify", "run"]
    home = tmp_path / "home"
    data = home / "Downloads" / "AneRBC dataset (v1.0)" / "AneRBC_dataset" / "AneRBC-I"
    synthesize(SynthConfig(n_images=2, seed=1, with_tiles=False, workers=2), tmp_path / "s", show_progress=False)
    shutil.copytree(tmp_path / "s" / "AneRBC_dataset" / "AneRBC-I", data)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for words in steps[:3]:
        result = runner.invoke(APPS[words[0]], [*words[1:], "-q"])
        assert result.exit_code == 0, f"{' '.join(words)}\n{result.output}"
        assert "Traceback" not in result.output
    assert (tmp_path / "anerbc" / "manifest.parquet").is_file()
    assert (tmp_path / "anerbc" / "reports" / "validate-masks.html").is_file()
    assert (tmp_path / "anerbc" / "reports" / "audit.md").is_file()
    assert len(list((tmp_path / "anerbc" / "canonical_masks").rglob("*.png"))) == 4


@pytest.mark.slow
def test_the_quick_start_builds_and_verifies_as_written(tmp_path: Path, monkeypatch) -> None:
    """The whole quick-start but the training run, on 10 synthetic AneRBC-I images (enough for 80/10/10)."""
    home = tmp_path / "home"
    runner = CliRunner()
    download = home / "Downloads" / "AneRBC dataset (v1.0)"
    synth = ["synth", "--out", str(download), "--n-images", "5", "--no-tiles", "-q"]
    assert runner.invoke(dataset_app, synth).exit_code == 0
    shutil.rmtree(download / "synthetic_truth")  # the release has no sidecar
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for words in _quick_start()[:5]:
        result = runner.invoke(APPS[words[0]], [*words[1:], "-q"])
        assert result.exit_code == 0, f"{' '.join(words)}\n{result.output}"
    assert (tmp_path / "anerbc" / "built" / "dataset.json").is_file()
