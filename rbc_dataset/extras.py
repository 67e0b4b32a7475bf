"""Optional dependencies: which extra brings a missing library, and the message that says how to install it.

``pip install rbc-dataset`` is the curation toolkit (synth, ingest, validate-masks, audit, build, verify,
annotate) and needs no PyTorch. The extras in ``pyproject.toml`` add the rest:

- ``rbc-dataset[torch]``: torch and torchvision, for ``rbc_dataset.loaders`` and ``rbc-dataset show``;
- ``rbc-dataset[bench]``: torch, torchvision and matplotlib, for ``rbc-bench`` (training, plots);
- ``rbc-dataset[all]``: everything (``make demo`` and ``make test`` install it).

Code that needs an extra calls ``require`` before its work starts; the CLI's error wrapper turns any other
missing optional library into the same message (``missing_extra``), so no command can end in a traceback.
"""

from __future__ import annotations

import importlib.util

from rbc_dataset.errors import UsageError

# Optional top-level module -> the extras that install it; what each extra is for.
EXTRAS = {"torch": ("torch", "bench"), "torchvision": ("torch", "bench"), "matplotlib": ("bench",)}
EXTRA_USE = {"torch": "the PyTorch datasets and rbc-dataset show", "bench": "rbc-bench", "all": "everything"}
CURATION = "synth, ingest, validate-masks, audit, build, verify, annotate"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (found on the path), without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that fails, or a module left half-imported
        return False


def extra_message(missing: list[str], extras: list[str], *, for_what: str) -> str:
    """The one-paragraph answer: what needs what, why it is not there, the pip command that adds it."""
    names = " and ".join(missing)
    fixes = "; ".join(f'pip install "rbc-dataset[{extra}]" for {EXTRA_USE[extra]}' for extra in extras)
    return (
        f"{for_what} needs {names}, which {'is' if len(missing) == 1 else 'are'} not installed: "
        f"`pip install rbc-dataset` without extras installs the curation commands only ({CURATION}). "
        f'Fix: {fixes} (from a checkout: pip install -e ".[{extras[0]}]"; everything: "rbc-dataset[all]")'
    )


def require(*modules: str, extra: str, for_what: str) -> None:
    """Raise a UsageError (exit 2) naming the extra to install unless every one of ``modules`` is installed.

    Args:
        modules: top-level module names, e.g. ``"torch", "torchvision"``.
        extra: the ``pyproject.toml`` extra that brings them (``torch``, ``bench`` or ``all``).
        for_what: what needs them, as the user called it (``"rbc-dataset show"``, ``"rbc-bench run"``).
    """
    missing = [name for name in modules if not installed(name)]
    if missing:
        raise UsageError(extra_message(missing, [extra], for_what=for_what))


def missing_extra(error: BaseException, for_what: str = "this command") -> UsageError | None:
    """The UsageError for a ModuleNotFoundError of an optional library, or None for any other error."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    root = error.name.partition(".")[0]
    if root not in EXTRAS:
        return None
    return UsageError(extra_message([root], list(EXTRAS[root]), for_what=for_what))
