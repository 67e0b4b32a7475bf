"""Error messages are printed as text: brackets from data ([height, width], file names) are never Rich markup."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli import dataset_app


def test_an_error_quoting_brackets_prints_them_verbatim(tmp_path: Path) -> None:
    missing = tmp_path / "data[/]x[bold]y"  # a closing tag that matches nothing crashed Rich's markup parser
    result = CliRunner().invoke(dataset_app, ["validate-masks", str(missing), "--out-dir", str(tmp_path / "r")])
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert "data[/]x[bold]y" in "".join(result.output.split())
