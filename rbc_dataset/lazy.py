"""Public names imported on first use (PEP 562), so importing a package stays light (no torch, pandas, cv2)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, homes: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose name ``N`` is ``homes[N]``.

    A home is ``"module"`` (the same name there) or ``"module:name"``. An exported name must differ from the
    package's submodules: importing ``package.N`` would set the attribute ``N`` to the module.
    """

    def __getattr__(name: str):
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = homes[name].partition(":")
        return getattr(importlib.import_module(module), attribute or name)

    def __dir__() -> list[str]:
        return sorted({*vars(importlib.import_module(package)), *homes})

    return __getattr__, __dir__
