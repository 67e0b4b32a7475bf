"""Every command of both programs speaks one vocabulary: each option word has one kind and one meaning.

Walks the live click commands (typer -> click, groups recursed) rather than a list, so a new command or
option is checked the moment it is registered.
"""

from __future__ import annotations

import re
import typing

import pytest
from typer.testing import CliRunner

from cli import APPS, bench_app, dataset_app
from rbc_dataset.cli_options import RENAMED_OPTIONS, VOCABULARY, existing_path, expand_path
from rbc_dataset.cli_reference import app_options, commands, describe
from tests.helpers import squeezed

COMMANDS = dict(commands(APPS))
# Commands that draw no progress bar: no --quiet. Every other command must take -q/--quiet.
WITHOUT_PROGRESS = {
    "rbc-dataset annotate coco-export": "one JSON write, no per-image loop shown",
    "rbc-dataset annotate coco-import": "one JSON read, no per-image loop shown",
    "rbc-bench list": "prints a table",
    "rbc-bench score": "re-scores saved predictions, a table",
    "rbc-bench report": "writes tables and plots from run folders",
    "rbc-bench annotate-fit-recipes": "worker processes print one line per finished fit, no bar",
    "rbc-bench synth-speed": "times synth with its bars off",
    "rbc-bench ingest-speed": "times ingest with its bars off",
    "rbc-bench validate-quality": "runs validate-masks with its bars off",
    "rbc-bench validate-speed": "times validate-masks with its bars off",
    "rbc-bench build-speed": "times build with its bars off",
    "rbc-bench annotate-segment": "scores with bars off",
    "rbc-bench annotate-morph": "scores with bars off",
    "rbc-bench realism": "statistics of a few images",
}
# Path parameters that are outputs (any path is fine: ~ expanded), or inputs that may be absent by design.
OUTPUT_PATHS = {"out", "out_dir", "fix", "report", "json_out", "work_dir", "sheet"}
MAY_BE_ABSENT = {
    ("rbc-bench annotate-segment", "realdata"): "parts of the real data are skipped when absent",
    ("rbc-bench run", "data"): "checked by the run itself before torch loads (benchmarks.training.data)",
    ("rbc-bench transfer", "real"): "an absent real folder is a skip, written as such in the JSON",
}
KEBAB = re.compile(r"^--[a-z0-9]+(-[a-z0-9]+)*$")


def _options(command) -> list:
    return [p for p in command.params if p.param_type_name == "option" and p.name != "help"]


def test_the_walk_finds_every_command() -> None:
    assert len(COMMANDS) >= 30 and "rbc-dataset annotate review" in COMMANDS and "rbc-bench run" in COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_in_the_vocabulary_with_its_kind(name: str) -> None:
    for param in _options(COMMANDS[name]):
        long_names = [o for o in param.opts + list(param.secondary_opts) if o.startswith("--")]
        assert long_names, f"{name}: {param.name} has no long option name"
        for option in long_names:
            assert KEBAB.match(option), f"{name}: {option} is not kebab-case"
        word = long_names[0]
        assert word in VOCABULARY, f"{name}: {word} is not in cli_options.VOCABULARY (add it with its meaning)"
        assert describe(param)[0] == VOCABULARY[word][0], (
            f"{name}: {word} is {describe(param)[0]}, not {VOCABULARY[word][0]}"
        )
        short = [o for o in param.opts if not o.startswith("--")]
        assert short in ([], ["-q"]) and (not short or word == "--quiet"), f"{name}: {short} (only -q is short)"


def test_every_vocabulary_word_is_used_and_no_old_spelling_is() -> None:
    used = {o for command in COMMANDS.values() for p in _options(command) for o in p.opts + list(p.secondary_opts)}
    used |= {o for _, p in app_options(APPS) for o in p.opts}
    assert set(VOCABULARY) - used == set(), "VOCABULARY lists words no command uses"
    assert not {f"--{old}" for old in RENAMED_OPTIONS} & used


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_config_is_always_a_yaml_file(name: str) -> None:
    for param in _options(COMMANDS[name]):
        if "--config" in param.opts:
            assert describe(param)[0] == "path" and "YAML" in (param.help or ""), name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_quiet_wherever_a_bar_is_drawn(name: str) -> None:
    quiet = [p for p in _options(COMMANDS[name]) if "--quiet" in p.opts]
    if name in WITHOUT_PROGRESS:
        assert not quiet, f"{name} draws no bar: drop --quiet or remove it from WITHOUT_PROGRESS"
    else:
        assert quiet and quiet[0].opts == ["--quiet", "-q"], f"{name} draws progress bars: give it -q/--quiet"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_path_expands_tilde_and_inputs_must_exist(name: str) -> None:
    for param in COMMANDS[name].params:
        if describe(param)[0].split()[0] != "path":
            continue
        callback = getattr(param.callback, "__wrapped__", param.callback)  # typer wraps the given callback
        if param.name in OUTPUT_PATHS or (name, param.name) in MAY_BE_ABSENT:
            assert callback in (expand_path, existing_path), f"{name}: {param.name} does not expand ~"
        else:
            assert callback is existing_path, f"{name}: input {param.name} is not checked with existing_path"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_choices_are_shown_in_help(name: str) -> None:
    """A fixed set of values is a typer choice (listed by --help), or a comma list whose help lists it."""
    program, *path = name.split()
    app = dataset_app if program == "rbc-dataset" else bench_app
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    shown = "".join(result.output.split())
    for param in COMMANDS[name].params:
        kind, choices = describe(param)
        for choice in choices:
            assert choice in shown, f"{name}: choice {choice} of {param.name} not in --help"
        if param.opts[0] in ("--data-configs", "--formats"):
            from rbc_dataset.shards.config import CONFIG_NAMES, FORMATS

            for choice in CONFIG_NAMES if param.opts[0] == "--data-configs" else FORMATS:
                assert choice in (param.help or ""), f"{name}: {param.opts[0]} help does not list {choice}"
        if param.name in ("layout", "hb_source", "suite", "preset", "device", "data_mode", "fmt", "tile_order"):
            assert kind.startswith("choice"), f"{name}: {param.name} has a fixed set of values but is {kind}"


def test_the_choices_mirrored_for_help_agree_with_the_library() -> None:
    from benchmarks.training.data import FORMATS as READ_FORMATS
    from rbc_dataset.auditing.config import HB_BAND_TABLES
    from rbc_dataset.cli_options import HbSource, Layout
    from rbc_dataset.ingestion import LAYOUTS
    from rbc_dataset.shards.config import FORMATS

    assert typing.get_args(Layout) == LAYOUTS
    assert typing.get_args(HbSource) == tuple(HB_BAND_TABLES)
    assert READ_FORMATS == FORMATS


def test_a_bad_choice_exits_2_naming_the_choices() -> None:
    result = CliRunner().invoke(bench_app, ["run", "3tier", "--data", ".", "--device", "tpu"])
    text = squeezed(result.output)
    assert result.exit_code == 2 and squeezed("'tpu' is not one of 'auto', 'cpu', 'cuda'") in text
    assert "Traceback" not in result.output
