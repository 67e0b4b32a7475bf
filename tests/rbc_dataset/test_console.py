"""Error messages are printed as text: brackets from data ([height, width], file names) are never Rich markup."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli import dataset_app
from tests.helpers import squeezed


def test_an_error_quoting_brackets_prints_them_verbatim(tmp_path: Path) -> None:
    folder = tmp_path / "data[/]x[bold]y"  # a closing tag that matches nothing crashed Rich's markup parser
    for exists in (False, True):  # a missing input (typer's usage error), an empty folder (the toolkit's error)
        if exists:
            folder.mkdir(parents=True)
        result = CliRunner().invoke(dataset_app, ["validate-masks", str(folder), "--out", str(tmp_path / "r")])
        assert result.exit_code == (1 if exists else 2) and "Traceback" not in result.output
        assert "data[/]x[bold]y" in squeezed(result.output)
