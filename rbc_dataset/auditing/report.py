"""The audit's outputs: ``audit.json`` (every finding and table, schema version 1), ``audit.md`` and ``audit.html``.

The Markdown is rendered from the JSON document only, and the HTML page from the Markdown (with raw HTML
turned off, so the entities ``markup.md_text`` wrote for data show as text), so the three never disagree.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from rbc_dataset.fileio import atomic_write_bytes, write_json
from rbc_dataset.manifest import parent_keys
from rbc_dataset.markup import html_text, md_code, md_text

MAX_ROWS = 50  # rows per Markdown table; audit.json has them all


def jsonable(value):
    """Plain JSON types: numpy scalars and arrays unwrapped, NaN/NA as null, tuples and sets as lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else round(value, 6)
    if value is None or value is pd.NA or isinstance(value, (str, bool, int)):
        return None if value is pd.NA else value
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


def _feature_table(rows: pd.DataFrame, frame: pd.DataFrame) -> dict:
    """Per-sample features as a header and one value list per sample (compact for 13,000 samples)."""
    table = frame.drop(columns=["sample_id"]).copy()
    ids = pd.DataFrame(
        {
            "sample_id": rows["sample_id"],
            "class_name": rows["class_name"],
            "parent": parent_keys(rows),
            "group_id": rows["group_id"],
        }
    )
    table = pd.concat([ids.reset_index(drop=True), table.reset_index(drop=True)], axis=1)
    numeric = table.select_dtypes("number").columns
    table[numeric] = table[numeric].round(4)
    return {"columns": list(table.columns), "rows": table.astype(object).to_numpy().tolist()}


def build_report(meta, summary, *, issues, rows, frame, duplicates, probes, cbc, splits, hb_bands) -> dict:
    """The complete JSON document of one audit."""
    tables = {
        "features_unavailable": frame.loc[frame["error"].notna(), ["sample_id", "error"]].to_dict("records"),
        "duplicate_clusters": duplicates.clusters,
        "probes": {name: result.to_dict() for name, result in probes.items()},
        "cbc_shared": cbc.shared,
        "cbc_implausible": cbc.implausible,
        "hb_bands": {"table": meta["config"]["hb_source"], "description": hb_bands.describe()},
        "hb_by_class": cbc.hb_by_class,
        "hb_disagreements": cbc.hb_disagreements,
        "splits": None
        if splits is None
        else {
            "source": splits.source,
            "class_counts": splits.class_counts,
            "leaks": splits.leaks,
            "unknown_ids": splits.unknown_ids,
            "missing_ids": splits.missing_ids,
            "conflicts": splits.conflicts,
        },
        "features": _feature_table(rows, frame),
    }
    document = {**meta, "summary": summary, "issues": [i.to_dict() for i in issues], "tables": tables}
    return jsonable(document)


def write_outputs(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write ``audit.json``, ``audit.md`` and ``audit.html`` into ``out_dir``, each through a temporary name and
    a rename; returns the JSON and Markdown paths (the page lies beside them)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "audit.json", out_dir / "audit.md"
    markdown = render_markdown(report)
    write_json(json_path, report)
    atomic_write_bytes(md_path, markdown.encode())
    atomic_write_bytes(out_dir / "audit.html", render_html(markdown, Path(str(report["source"])).name).encode())
    return json_path, md_path


PAGE_STYLE = (
    "body{font-family:sans-serif;margin:16px;max-width:1400px}table{border-collapse:collapse;margin:8px 0}"
    "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
)


def render_html(markdown: str, source_name: str) -> str:
    """``audit.md`` as a page a browser opens. Raw HTML in the Markdown is shown as text, never run: data only
    reaches the Markdown through ``markup`` (entities), and the renderer escapes whatever else looks like a tag."""
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = renderer.render(markdown)
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>audit: {html_text(source_name)}</title>"
        f"<style>{PAGE_STYLE}</style>\n{body}</html>\n"
    )


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, list):
        shown = ", ".join(_cell(v) for v in value[:6])
        return shown + (f" (+{len(value) - 6})" if len(value) > 6 else "")
    if isinstance(value, dict):
        return ", ".join(f"{md_text(k)}: {_cell(v)}" for k, v in value.items())
    return md_text(value)  # ids, file names and class names come from the data


def _table(records: list[dict], columns: list[str]) -> list[str]:
    if not records:
        return ["(none)", ""]
    lines = ["| " + " | ".join(map(md_text, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in records[:MAX_ROWS]]
    if len(records) > MAX_ROWS:
        lines.append(f"\n{len(records) - MAX_ROWS} more rows in audit.json")
    return [*lines, ""]


def _header(report: dict) -> list[str]:
    s = report["summary"]
    counts = s["issues"]
    classes = ", ".join(f"{md_text(k)} {v}" for k, v in s["classes"].items())
    return [
        "# Dataset audit",
        "",
        f"- source: {md_code(Path(str(report['source'])).name)} ({md_text(report['source_kind'])}); "
        f"{s['n_samples']} samples, {s['n_parents']} parents; classes: {classes}",
        f"- splits: {md_text(report['splits'] or (s['splits'] or {}).get('source') or 'none')}",
        f"- findings: errors {counts['error']}, warnings {counts['warning']}, info {counts['info']}",
        f"- time: {s['seconds']['total']} s (feature pass {s['seconds']['features']} s); tool {report['tool']}",
        "",
    ]


def _findings(report: dict) -> list[str]:
    by_code: dict[tuple[str, str], int] = {}
    for issue in report["issues"]:
        key = (issue["severity"], issue["code"])
        by_code[key] = by_code.get(key, 0) + 1
    order = {"error": 0, "warning": 1, "info": 2}
    records = [
        {"severity": s, "code": c, "count": n} for (s, c), n in sorted(by_code.items(), key=lambda x: order[x[0][0]])
    ]
    return ["## Findings by code", "", *_table(records, ["severity", "code", "count"])]


def _duplicates(report: dict) -> list[str]:
    d = report["summary"]["duplicates"]
    radius = report["config"]["hamming_radius"]
    return [
        "## Exact and near-duplicate images",
        "",
        f"{d['clusters']} clusters across parents ({d['across_classes']} span classes, {d['across_groups']} span "
        f"groups) from {d['exact_pairs']} identical-file pairs and {d['near_pairs']} pairs within {radius} of 64 "
        "hash bits; pairs within one parent (tiles of one image) are not duplicates and are ignored.",
        "",
        *_table(
            report["tables"]["duplicate_clusters"],
            ["cluster_id", "severity", "kind", "n_members", "classes", "groups", "min_distance", "sample_ids"],
        ),
    ]


def _probe(report: dict, name: str, title: str, explanation: str = "") -> list[str]:
    p = report["tables"]["probes"].get(name)
    if p is None:  # an audit.json written before this probe existed
        return []
    lines = [f"## {title}", "", *([explanation, ""] if explanation else [])]
    if p["status"] == "not_enough_samples":
        return [*lines, f"Not run: not enough samples ({md_text(p['reason'])}).", ""]
    lines += [
        f"**{p['status']}**: out-of-fold ROC AUC {p['auc']:.3f} (95 % CI {p['ci_low']:.3f}-{p['ci_high']:.3f}, "
        f"bootstrap over groups), n = {p['n']} samples in {p['n_groups']} groups, {p['folds']} folds, "
        f"{p['n_excluded']} left out (missing features). 0.5 = no shortcut; thresholds: warning "
        f"{report['config']['probe_auc_warning']}, error {report['config']['probe_auc_error']}.",
        "",
        "Per-class medians of each feature, most telling first (auc: the feature alone):",
        "",
    ]
    table = p["feature_table"]
    columns = ["feature", *[k for k in (table[0] if table else {}) if k.startswith("median_")], "auc"]
    return lines + _table(table, columns)


def _cbc(report: dict) -> list[str]:
    c, t = report["summary"]["cbc"], report["tables"]
    if c["report_units"] == 0:
        return ["## CBC reports", "", "No CBC reports in this dataset: nothing to check.", ""]
    lines = [
        "## CBC reports",
        "",
        f"{c['report_units']} report units (AneRBC-II tiles count with their parent), {c['distinct_reports']} "
        f"distinct reports; {c['shared_reports']} reports shared by {c['units_in_shared_reports']} units, "
        f"{c['shared_across_classes']} of them across classes. CBC reports are not per-image truth and not "
        "patient ids.",
        "",
        "### Shared reports",
        "",
        *_table(t["cbc_shared"], ["report_id", "severity", "n_units", "classes", "hgb", "distinct_texts", "units"]),
        "### Implausible or inconsistent values",
        "",
        *_table(t["cbc_implausible"], ["unit", "class_name", "severity", "codes", "values"]),
        "### Hb band vs label",
        "",
        f"Bands: {md_text(t['hb_bands']['description'])}.",
        "",
        *_table(t["hb_by_class"], ["class_name", "band", "units"]),
        "Disagreements (healthy label with an anaemia band, anaemic label with no anaemia):",
        "",
        *_table(t["hb_disagreements"], ["unit", "class_name", "hgb", "band", "n_samples"]),
    ]
    return lines


def _splits(report: dict) -> list[str]:
    s = report["tables"]["splits"]
    if s is None:
        return ["## Splits", "", "No splits given (pass --splits FILE) and none in the manifest.", ""]
    leaks = [{**leak, "members": None} for leak in s["leaks"]]
    return [
        f"## Splits ({md_text(s['source'])})",
        "",
        f"{len(s['unknown_ids'])} unknown ids, {len(s['missing_ids'])} samples without a split, "
        f"{len(s['conflicts'])} samples in several splits.",
        "",
        *_table(s["class_counts"], ["split", "class_name", "samples", "parents"]),
        "### Leaks (units with members in more than one split)",
        "",
        *_table(leaks, ["kind", "unit", "splits"]),
    ]


CANONICAL_TEXT = (
    "The canonical masks are what a model gets: the raw masks cut into cell and background as "
    "`validate-masks --fix` cuts them. They carry no intensity, but a cut that moves with the raw mask's darkness "
    "would draw one class's cells a pixel wider. This probe looks for that in the image itself: the canonical "
    "masks' cell share minus that of an Otsu cut of the image, and where their 1-px inner and outer rims sit on "
    "the image's edge (0 = the cells' core level, 1 = the background's). None of these should tell the classes "
    "apart."
)


def render_markdown(report: dict) -> str:
    """The human summary of an audit document."""
    lines = _header(report) + _findings(report) + _duplicates(report)
    lines += _probe(report, "mask_encodes_label", "Does the raw mask encode the label?")
    lines += _probe(report, "canonical_mask_shortcut", "Do the canonical masks still encode the label?", CANONICAL_TEXT)
    lines += _probe(
        report, "acquisition_shortcut", "Does acquisition (background colour, illumination) encode the label?"
    )
    lines += _cbc(report) + _splits(report)
    unavailable = report["tables"]["features_unavailable"]
    if unavailable:
        lines += ["## Samples without features", "", *_table(unavailable, ["sample_id", "error"])]
    return "\n".join(lines).rstrip() + "\n"
