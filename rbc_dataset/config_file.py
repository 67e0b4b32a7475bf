"""Config precedence for every command: CLI option > ``--config file.yaml`` > default."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TypeVar

import yaml

from rbc_dataset.errors import DataError, UsageError

C = TypeVar("C")


def load_config_file(path: Path | None) -> dict:
    """Keys of a YAML config file (empty without a file)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise DataError(path, "a readable YAML config file", f"an error: {exc.strerror}", "check the path") from exc
    except yaml.YAMLError as exc:
        raise DataError(path, "valid YAML", f"a syntax error: {exc}", "fix the YAML syntax") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DataError(
            path, "a mapping of option names to values", f"a {type(data).__name__}", "write `key: value` lines"
        )
    return data


def resolve_config(cls: type[C], config_file: Path | None, cli_values: dict) -> C:
    """Build a frozen config: CLI values that were given win over the file, the file over the defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    from_file = load_config_file(config_file)
    unknown = sorted(set(from_file) - names)
    if unknown:
        raise UsageError(
            f"unknown key(s) {', '.join(unknown)} in {config_file}; valid keys: {', '.join(sorted(names))}"
        )
    values = {**from_file, **{k: v for k, v in cli_values.items() if v is not None}}
    for name, value in values.items():
        if isinstance(value, list):
            values[name] = tuple(value)
    return cls(**values)
