"""Error types. Every message names the file, what was expected, what was found and the fix."""

from __future__ import annotations

from pathlib import Path


class RBCError(Exception):
    """Base class of every error this toolkit raises on purpose."""

    exit_code = 1


class DataError(RBCError):
    """The data on disk is not what it should be (exit code 1)."""

    def __init__(self, path: str | Path | None, expected: str, found: str, fix: str):
        self.path, self.expected, self.found, self.fix = path, expected, found, fix
        where = f"{path}: " if path is not None else ""
        super().__init__(f"{where}expected {expected}, found {found}. Fix: {fix}")

    def __reduce__(self):
        # Rebuilt from its four parts, so an error raised in a worker process reaches the caller intact.
        return (type(self), (self.path, self.expected, self.found, self.fix))


class UsageError(RBCError):
    """The command was called wrongly: bad option value, output in the wrong place (exit code 2)."""

    exit_code = 2


SEED_MAX = 2**32 - 1  # numpy's RandomState (used for bootstraps and splits) accepts no larger seed


def check_seed(name: str, value: int) -> int:
    """Return ``value`` if it is a usable random seed (0..2**32-1); else a UsageError naming ``name``."""
    if not 0 <= value <= SEED_MAX:
        raise UsageError(f"{name} must be a whole number within 0..{SEED_MAX}, got {value}")
    return value


def check_choice(name: str, value: str, *, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; else raise a UsageError listing them."""
    if value not in choices:
        raise UsageError(f"unknown {name} {value!r}; valid choices: {', '.join(choices)}")
    return value
