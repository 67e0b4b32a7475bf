"""Generate the README's CLI reference from the live typer apps, so the two never drift apart.

``python -m rbc_dataset.cli_reference --write README.md`` replaces the text between the markers below;
a test fails when the README is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import typer

START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"


def _option_row(param) -> str:
    names = ", ".join(f"`{n}`" for n in param.opts)
    if param.param_type_name == "argument":
        return f"| {names.upper()} | argument | {getattr(param, 'help', '') or ''} |"
    default = param.default
    shown = "" if default in (None, False, ()) or callable(default) else f" (default: `{default}`)"
    flag = " (flag)" if getattr(param, "is_flag", False) else ""
    text = (getattr(param, "help", "") or "").replace("|", "\\|")
    return f"| {names} | option{flag} | {text}{shown} |"


def _command_section(program: str, name: str, command) -> list[str]:
    lines = [f"#### `{program} {name}`", "", (command.help or "").strip().splitlines()[0], ""]
    params = [p for p in command.params if p.name != "help"]
    if params:
        lines += ["| name | kind | meaning |", "|---|---|---|"] + [_option_row(p) for p in params]
    return lines + [""]


def render() -> str:
    """Markdown reference of every registered command of both apps."""
    from cli import bench_app, dataset_app

    lines = [START, ""]
    for program, app in (("rbc-dataset", dataset_app), ("rbc-bench", bench_app)):
        group = typer.main.get_command(app)
        lines += [f"### `{program}`", "", (group.help or "").strip(), ""]
        for name, command in group.commands.items():
            subcommands = getattr(command, "commands", None)  # a command group such as `annotate`
            if subcommands is None:
                lines += _command_section(program, name, command)
                continue
            for sub, subcommand in subcommands.items():
                lines += _command_section(program, f"{name} {sub}", subcommand)
    return "\n".join(lines + [END])


def replace_section(text: str, section: str) -> str:
    """README text with the marked section replaced."""
    if START not in text or END not in text:
        raise ValueError(f"README lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + section + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="README to update in place (default: print)")
    args = parser.parse_args(argv)
    section = render()
    if args.write is None:
        sys.stdout.write(section + "\n")
        return 0
    args.write.write_text(replace_section(args.write.read_text(), section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
