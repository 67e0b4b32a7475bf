"""Generate docs/CLI.md's reference from the live typer apps, so the two never drift apart.

``python -m rbc_dataset.cli_reference --apps cli:APPS --write docs/CLI.md`` (``make docs``) replaces the text
between the markers below with the option vocabulary and every command's parameters; a test fails when the file
is out of date. ``commands()`` and ``describe()`` are also what tests/test_cli_vocabulary.py walks.

The apps are passed in (``{"rbc-dataset": app, "rbc-bench": app}``, assembled by ``cli.py``): a library module
never imports ``cli``.
"""

from __future__ import annotations

import argparse
import enum
import importlib
import sys
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path

import typer

START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"
KINDS = {Path: "path", bool: "flag", int: "int", float: "float", str: "text"}


Apps = Mapping[str, typer.Typer]  # program name -> its typer app


def commands(apps: Apps) -> Iterator[tuple[str, object]]:
    """``("rbc-dataset annotate propose", click_command)`` for every command of ``apps``, groups walked."""

    def walk(name: str, command) -> Iterator[tuple[str, object]]:
        subcommands = getattr(command, "commands", None)  # a group such as `annotate`
        if subcommands is None:
            yield name, command
            return
        for sub, subcommand in subcommands.items():
            yield from walk(f"{name} {sub}", subcommand)

    for program, app in apps.items():
        yield from walk(program, typer.main.get_command(app))


def app_options(apps: Apps) -> Iterator[tuple[str, object]]:
    """The options of the programs themselves (``--version``, completion)."""
    for program, app in apps.items():
        for param in typer.main.get_command(app).params:
            if param.name != "help":
                yield program, param


def _annotation(param):
    descriptor = getattr(param, "type_descriptor", None)  # typer >= 0.2x keeps the Python annotation
    return descriptor.annotation if descriptor is not None else None


def describe(param) -> tuple[str, tuple[str, ...]]:
    """``(kind, choices)`` of a parameter: kind as in ``cli_options.VOCABULARY``; choices of a fixed set."""
    annotation = _annotation(param)
    repeatable = typing.get_origin(annotation) is list
    if repeatable:
        (annotation,) = typing.get_args(annotation)
    suffix = " (repeatable)" if repeatable and param.param_type_name == "option" else ""
    if typing.get_origin(annotation) is typing.Literal:
        return "choice" + suffix, tuple(str(v) for v in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "choice" + suffix, tuple(str(member.value) for member in annotation)
    if annotation is None:  # older typer: click's own type objects
        choices = tuple(getattr(param.type, "choices", ()) or ())
        if choices:
            return "choice" + suffix, tuple(map(str, choices))
        return ("flag" if getattr(param, "is_flag", False) else param.type.name) + suffix, ()
    return KINDS.get(annotation, getattr(annotation, "__name__", str(annotation))) + suffix, ()


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _param_row(param) -> str:
    kind, choices = describe(param)
    if choices:
        kind = f"{kind}: {', '.join(f'`{c}`' for c in choices)}"
    names = ", ".join(f"`{n}`" for n in param.opts + list(getattr(param, "secondary_opts", [])))
    if param.param_type_name == "argument":
        return f"| {param.name.upper()} | argument, {kind} | {_cell(getattr(param, 'help', '') or '')} |"
    default = param.default
    shown = "" if default in (None, False, ()) or callable(default) else f" (default: `{default}`)"
    return f"| {names} | {kind} | {_cell(getattr(param, 'help', '') or '')}{shown} |"


def _command_section(name: str, command) -> list[str]:
    lines = [f"### `{name}`", "", (command.help or "").strip().splitlines()[0], ""]
    params = [p for p in command.params if p.name != "help"]
    if params:
        lines += ["| name | kind | meaning |", "|---|---|---|"] + [_param_row(p) for p in params]
    return lines + [""]


def _vocabulary(apps: Apps) -> list[str]:
    from rbc_dataset.cli_options import RENAMED_OPTIONS, VOCABULARY

    users: dict[str, list[str]] = {}
    for name, command in commands(apps):
        for param in command.params:
            for opt in param.opts:
                users.setdefault(opt, []).append(name.split(" ", 1)[1])
    lines = [
        "## Option vocabulary",
        "",
        "One meaning per option word, in every command of both programs (checked by `tests/test_cli_vocabulary.py`).",
        "",
        "| option | kind | meaning | commands |",
        "|---|---|---|---|",
    ]
    for option, (kind, meaning) in VOCABULARY.items():
        used = ", ".join(f"`{c}`" for c in users.get(option, [])) or "both programs"
        lines.append(f"| `{option}` | {kind} | {_cell(meaning)} | {used} |")
    renamed = ", ".join(f"`--{old}` (now `--{new}`)" for old, new in RENAMED_OPTIONS.items())
    return lines + ["", f"Old spellings still accepted, with a note on stderr: {renamed}.", ""]


def render(apps: Apps) -> str:
    """Markdown of the option vocabulary and of every registered command of ``apps``."""
    lines = [START, ""] + _vocabulary(apps)
    sections: dict[str, list[str]] = {program: [] for program in apps}
    for name, command in commands(apps):
        sections[name.split(" ", 1)[0]] += _command_section(name, command)
    for program, app in apps.items():
        help_text = (typer.main.get_command(app).help or "").strip()
        lines += [f"## `{program}`", "", help_text, ""] + sections[program]
    return "\n".join(lines + [END])


def replace_section(text: str, section: str) -> str:
    """Document text with the marked section replaced."""
    if START not in text or END not in text:
        raise ValueError(f"the document lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + section + tail


def load_apps(spec: str) -> Apps:
    """The apps named by ``MODULE:ATTRIBUTE`` (e.g. ``cli:APPS``), imported on demand like an entry point."""
    module, _, attribute = spec.partition(":")
    if not module or not attribute:
        raise SystemExit(f"--apps expects MODULE:ATTRIBUTE such as cli:APPS, got {spec!r}")
    return getattr(importlib.import_module(module), attribute)


def main(argv: list[str] | None = None) -> int:
    """``--apps cli:APPS [--write docs/CLI.md]``: print the reference, or replace it in the file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", required=True, help="MODULE:ATTRIBUTE of the apps by program name: cli:APPS")
    parser.add_argument("--write", type=Path, help="Markdown file to update in place: docs/CLI.md (default: print)")
    args = parser.parse_args(argv)
    section = render(load_apps(args.apps))
    if args.write is None:
        sys.stdout.write(section + "\n")
        return 0
    args.write.write_text(replace_section(args.write.read_text(), section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
