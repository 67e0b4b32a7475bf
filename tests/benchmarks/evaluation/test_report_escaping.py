"""leaderboard.md never carries raw HTML: model and run names, data paths, commands and skip reasons come from
run folders and are escaped (viewers render the HTML inside Markdown)."""

from __future__ import annotations

import json

from benchmarks.evaluation.report import write_report
from tests.helpers.hostile_images import FILE_SAFE_HTML


def test_names_from_run_folders_are_escaped(make_run, tmp_path):
    models = {f"m{FILE_SAFE_HTML}": 0.9, f"shortcut-{FILE_SAFE_HTML}": 0.95, "plain_model": 0.5}
    run = make_run(f"run{FILE_SAFE_HTML}", models)
    (run / "env.json").write_text(
        json.dumps({"device": "<b>cpu</b>", "command": "rbc-bench <script>alert(1)</script>"})
    )
    stage = {"name": "<img src=s onerror=t>", "train_loss": [0.5], "selected_on": "<b>loss</b>", "selected_epoch": 1}
    cases = [{"case": f"m{FILE_SAFE_HTML}/seed0<script>", "stages": [{**stage, "validation_score": [0.5]}]}]
    summary = {"skipped": {"vit<iframe srcdoc=x>": "<img src=y onerror=z>"}, "cases": cases}
    (run / "summary.json").write_text(json.dumps(summary))
    result = write_report([run], tmp_path / "report", shortcut_threshold=0.6)
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    for raw in ("<img", "<script", "<iframe", "<b>"):
        assert raw not in markdown, raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in markdown and "`plain_model`" in markdown
    assert "## Learning curves" in markdown and "&lt;img src=s onerror=t&gt;" in markdown  # a stage name
    errors = [name for name in result["files"] if name.startswith("parent_errors/")]
    assert len(errors) == 3 and all("<" not in name for name in errors)  # file names from model names are slugs
    assert any(FILE_SAFE_HTML in flag for flag in result["shortcuts"])  # report.json keeps the names as they are
