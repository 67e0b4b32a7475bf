"""The optional extras: pyproject.toml keeps torch, torchvision and matplotlib out of the base install, and code
that needs them names the extra to install (a UsageError, exit 2) instead of a ModuleNotFoundError traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rbc_dataset import extras
from rbc_dataset.errors import UsageError
from rbc_dataset.extras import EXTRAS, missing_extra, require

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower() for line in requirements}


def test_pyproject_keeps_the_optional_libraries_out_of_the_base_install():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    optional = project["optional-dependencies"]
    assert not _names(project["dependencies"]) & set(EXTRAS)
    for module, names in EXTRAS.items():
        assert all(module in _names(optional[extra]) for extra in (*names, "all")), module
    assert {"torch", "bench", "all", "dev"} <= set(optional)


def test_require_names_the_extra_and_the_pip_command():
    require("json", "yaml", extra="torch", for_what="nothing")  # installed: no error
    with pytest.raises(UsageError) as caught:
        require("json", "no_such_module_rbc", extra="bench", for_what="rbc-bench run")
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert message.startswith("rbc-bench run needs no_such_module_rbc, which is not installed")
    assert 'pip install "rbc-dataset[bench]"' in message and 'pip install -e ".[bench]"' in message


def test_a_missing_optional_module_becomes_the_extra_message_and_others_stay_errors():
    error = missing_extra(ModuleNotFoundError("No module named 'torchvision.ops'", name="torchvision.ops"))
    assert isinstance(error, UsageError) and "needs torchvision" in str(error)
    assert '"rbc-dataset[torch]"' in str(error) and '"rbc-dataset[bench]"' in str(error)
    assert "rbc-dataset[bench]" in str(missing_extra(ModuleNotFoundError("x", name="matplotlib.figure")))
    assert missing_extra(ModuleNotFoundError("No module named 'yaml'", name="yaml")) is None
    assert missing_extra(ValueError("torch")) is None


def test_the_loaders_say_which_extra_they_need(monkeypatch):
    import rbc_dataset.loaders as loaders

    monkeypatch.setattr(extras, "installed", lambda module: module not in ("torch", "torchvision"))
    with pytest.raises(UsageError, match=r"rbc_dataset\.loaders\.HDF5RBCDataset needs torch and torchvision"):
        loaders.HDF5RBCDataset  # noqa: B018 (the attribute access is the import)
    monkeypatch.undo()
    assert loaders.HDF5RBCDataset.__name__ == "HDF5RBCDataset"
