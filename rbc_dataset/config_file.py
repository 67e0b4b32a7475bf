"""Config precedence for every command: CLI option > ``--config file.yaml`` > default.

Every value is checked against the type of its field in the frozen config dataclass before any work starts:
pydantic validates each value in strict mode (``seed: "3"`` is text, not a number, and is refused), so a wrong
type is one message naming the file, the key, the type expected and the value found, never a traceback later.
The only conversions are the ones YAML cannot express: a list becomes a tuple, and a whole number is accepted
where a float is expected. Value ranges stay with each dataclass's ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from rbc_dataset.errors import DataError, UsageError

C = TypeVar("C")
COMMAND_LINE = "the command line"
MAX_CONFIG_BYTES = 1_000_000  # a config file is a few hundred bytes; refuse to parse anything huge


def load_config_file(path: Path | None) -> dict:
    """Keys of a YAML config file (empty without a file)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            size = f"{path.stat().st_size:,} bytes"
            raise DataError(path, f"a YAML config file of at most {MAX_CONFIG_BYTES:,} bytes", size, "check the path")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(path, "a readable YAML config file", f"an error: {exc.strerror}", "check the path") from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            path, "a UTF-8 text file", f"bytes that are not UTF-8 ({exc.reason})", "check the path"
        ) from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise DataError(path, "valid YAML", f"a syntax error: {exc}", "fix the YAML syntax") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DataError(
            path, "a mapping of option names to values", f"a {type(data).__name__}", "write `key: value` lines"
        )
    return data


def resolve_config(cls: type[C], config_file: Path | None, *, cli_values: dict) -> C:
    """Build a frozen config: CLI values that were given win over the file, the file over the defaults.

    Raises:
        UsageError: an unknown key, a value of the wrong type (naming the file, key, expected type and value), or
            a value the dataclass refuses (its range checks).
    """
    from_file = load_config_file(config_file)
    values = checked_values(cls, from_file, cli_values=cli_values, config_file=config_file)
    return construct(cls, values, config_file=config_file if from_file else None)


def construct(make: Callable[..., C], values: dict, *, config_file: Path | None = None) -> C:
    """``make(**values)``; a range error of the dataclass says which config file the values came from."""
    try:
        return make(**values)
    except UsageError as exc:
        if config_file is None:
            raise
        raise UsageError(f"{exc} (options read from {config_file} and the command line)") from exc


def checked_values(
    cls: type, from_file: dict, *, cli_values: dict, config_file: Path | None, exclude: tuple[str, ...] = ()
) -> dict:
    """The file's values with the given CLI values over them, each checked against its field's type.

    Args:
        cls: the frozen config dataclass whose fields the keys name.
        from_file: keys of the config file (``load_config_file``).
        cli_values: option values; None means "not given".
        config_file: the file, for messages.
        exclude: fields that a file may not set.

    Raises:
        UsageError: an unknown key, or a value that is not of its field's type.
    """
    hints = field_types(cls)
    names = sorted(set(hints) - set(exclude))
    unknown = sorted(str(key) for key in set(from_file) - set(names))
    if unknown:
        raise UsageError(
            f"unknown key(s) {', '.join(unknown)} in {config_file or 'the config file'}; valid keys: {', '.join(names)}"
        )
    given = {k: v for k, v in cli_values.items() if v is not None}
    values = {}
    for key, value in {**from_file, **given}.items():
        source = COMMAND_LINE if key in given else str(config_file or "the config file")
        values[key] = check_value(source, key, value=value, hint=hints[key], example=_example(cls, key))
    return values


@functools.cache
def field_types(cls: type) -> dict[str, object]:
    """Field name -> resolved type annotation of a dataclass (init fields only)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


@functools.cache
def _adapter(hint):
    from pydantic import ConfigDict, TypeAdapter

    return TypeAdapter(hint, config=ConfigDict(strict=True, allow_inf_nan=False))


def check_value(source: str | Path, key: str, *, value, hint, example: str | None = None):
    """``value`` validated as ``hint`` (strict; a list where a tuple is expected is taken as the tuple).

    Raises:
        UsageError: naming ``source`` (the config file or the command line), the key, the type expected and the
            value found, with an example of a valid line.
    """
    from pydantic import ValidationError

    if isinstance(value, list) and typing.get_origin(hint) is tuple:
        value = tuple(value)
    try:
        return _adapter(hint).validate_python(value)
    except ValidationError as exc:
        shown = list(value) if isinstance(value, tuple) else value
        detail = exc.errors()[0]
        where = "" if not detail["loc"] else f" (item {detail['loc'][0]}: {detail['msg'].lower()})"
        if source == COMMAND_LINE:
            fix = f"pass {describe_type(hint)} (finite, whole where whole numbers are expected)"
        else:
            fix = f"write {key} as {describe_type(hint)}" + (f" (e.g. `{key}: {example}`)" if example else "")
        raise UsageError(
            f"{source}: key {key!r} expects {describe_type(hint)}, found {_short(shown)} ({kind_of(shown)}){where}. "
            f"Fix: {fix}"
        ) from None


def describe_type(hint) -> str:
    """Words for a config field's type: 'a whole number', 'a list of 3 numbers', ..."""
    words = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
    plural = {int: "whole numbers", float: "numbers", bool: "true/false values", str: "text values"}
    if hint in words:
        return words[hint]
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {plural.get(args[0], str(args[0]))}"
        if len(set(args)) == 1:
            return f"a list of {len(args)} {plural.get(args[0], str(args[0]))}"
    return f"a value of type {hint}"


def kind_of(value) -> str:
    """How YAML read a value, in words ('text', 'a number', 'a list', ...)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else f"a {type(value).__name__}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _example(cls: type, key: str) -> str | None:
    """A valid YAML line's value for ``key``: the field's default, when it has one that is not empty."""
    field = next(f for f in dataclasses.fields(cls) if f.name == key)
    default = field.default
    if default is dataclasses.MISSING or default in ((), ""):
        return None
    if isinstance(default, tuple):
        default = list(default)
    return yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip()
