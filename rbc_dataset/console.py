"""Console rendering of command results (rich tables); the library returns data, this prints it."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rbc_dataset.errors import RBCError
from rbc_dataset.issues import count_by_severity

console = Console()
err_console = Console(stderr=True)
MAX_ISSUES_SHOWN = 15


def print_error(exc: RBCError) -> None:
    kind = "usage error" if exc.exit_code == 2 else "error"
    from rich.markup import escape

    # escape: messages quote data ("[height, width]", file names with brackets), never Rich markup
    err_console.print(f"[bold red]{kind}:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)


def print_interrupted(exc: KeyboardInterrupt) -> None:
    """One line for Ctrl-C or SIGTERM: what stopped the command and what was (not) written."""
    from rbc_dataset.faults import unfinished_outputs

    how = f"by {exc.args[0]}" if exc.args else "by Ctrl-C (SIGINT)"
    outputs = unfinished_outputs(exc)
    left = (
        f"nothing was written to {', '.join(str(p) for p in outputs)} (its unfinished copy was removed)"
        if outputs
        else "stopped before finishing"
    )
    err_console.print(f"[bold red]interrupted[/] {how}: {left}", highlight=False, soft_wrap=True)


def print_synth_summary(summary) -> None:
    stats = summary.stats
    table = Table(title=f"synthetic AneRBC written to {summary.out}")
    for column in ("class", "severity", "images", "cells/image", "foreground", "abnormal cells"):
        table.add_column(column, justify="right" if column not in ("class", "severity") else "left")
    for (cls, severity), group in stats.fillna({"severity": "-"}).groupby(["class", "severity"]):
        table.add_row(
            cls,
            severity,
            str(len(group)),
            f"{group['n_cells'].mean():.0f}",
            f"{group['foreground_fraction'].mean():.3f}",
            f"{(group['abnormal_cells'] / group['n_cells']).mean():.1%}",
        )
    console.print(table)
    rate = summary.n_full_images / summary.seconds if summary.seconds else 0.0
    console.print(
        f"{summary.n_full_images} AneRBC-I images, {summary.n_tiles} AneRBC-II tiles, "
        f"{summary.n_defects} planted defects in {summary.seconds:.1f} s ({rate:.2f} images/s)"
    )


def _issue_table(issues) -> Table:
    table = Table(title="issues (see the report for all)")
    for column in ("severity", "code", "file", "expected / found / fix"):
        table.add_column(column, overflow="fold")
    order = {"error": 0, "warning": 1, "info": 2}
    for issue in sorted(issues, key=lambda i: order[i.severity])[:MAX_ISSUES_SHOWN]:
        colour = {"error": "red", "warning": "yellow", "info": "cyan"}[issue.severity]
        table.add_row(
            f"[{colour}]{issue.severity}[/]",
            issue.code,
            issue.path or "-",
            f"expected {issue.expected}; found {issue.found}; fix: {issue.fix}",
        )
    return table


def print_ingest_summary(result) -> None:
    table = Table(title=f"manifest {result.manifest_path} ({result.layout} layout)")
    table.add_column("source")
    table.add_column("class")
    table.add_column("samples", justify="right")
    for source, by_class in sorted(result.counts.items()):
        for cls, n in sorted(by_class.items()):
            table.add_row(source, cls, str(n))
    console.print(table)
    if result.tile_order is not None:
        order = result.tile_order
        console.print(
            f"AneRBC-II tile order: {order.order or 'unknown'} ({order.how}; "
            f"{order.parents_checked} parents checked, exact match: {order.exact})"
        )
    if result.issues:
        console.print(_issue_table(result.issues))
    if result.release is not None:  # one line; the report has the per-folder counts and names
        console.print(f"release check: {result.release['summary']}", highlight=False, markup=False)
    counts = count_by_severity(result.issues)
    console.print(
        f"{result.n_samples} samples in {result.seconds:.1f} s; issues: {counts['error']} errors, "
        f"{counts['warning']} warnings, {counts['info']} notes; {result.n_unrecognised} files not used; "
        f"report: {result.report_path}"
    )
    if counts["error"]:
        err_console.print("[red]errors were found: the manifest was written, but fix them before building.[/]")


# Findings that masks made like AneRBC's released Binary_segmented raise by design (`synth --mask-style anerbc`
# mimics them): RGB, near-binary with graded edges, specks and holes. When the masks are near-binary (the first
# code), these counts are expected, not a problem; clean masks may have holes and specks of their own.
RELEASE_STYLE_MASK_CODES = ("mask_near_binary", "mask_channels_disagree", "specks", "holes")


def _count_phrase(n: int, noun: str, by_code: dict, severity: str) -> str:
    """``"148 warnings (52 mask_near_binary, 47 specks, ...: expected of release-style masks; 2 other)"``."""
    phrase = f"{n} {noun}"
    codes = {code: e["count"] for code, e in by_code.items() if e["severity"] == severity}
    expected = {code: k for code, k in codes.items() if code in RELEASE_STYLE_MASK_CODES}
    if not expected or RELEASE_STYLE_MASK_CODES[0] not in by_code:
        return phrase
    listed = ", ".join(f"{k} {code}" for code, k in expected.items())
    others = ", ".join(f"{k} {code}" for code, k in codes.items() if code not in expected)
    return f"{phrase} ({listed}: expected of release-style masks{f'; {others}' if others else ''})"


def _validation_counts_line(result) -> str:
    counts, by_code = result.counts, result.by_code
    return (
        f"{counts['error']} errors, {_count_phrase(counts['warning'], 'warnings', by_code, 'warning')}, "
        f"{_count_phrase(counts['info'], 'notes', by_code, 'info')} in {result.seconds:.1f} s."
    )


def print_validation_summary(result) -> None:
    table = Table(title=f"validate-masks: {result.n_samples} samples")
    for column in ("severity", "code", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    for code, entry in result.by_code.items():
        table.add_row(f"[{colours[entry['severity']]}]{entry['severity']}[/]", code, str(entry["count"]))
    console.print(table)
    console.print(_validation_counts_line(result), highlight=False)
    if RELEASE_STYLE_MASK_CODES[0] in result.by_code:
        console.print(
            "Release-style masks (AneRBC's Binary_segmented, and `synth --mask-style anerbc` made like them) are "
            "near-binary RGB with graded edges, specks and holes by design, so those findings are expected. "
            "--fix writes clean 0/255 masks (as build does for its shards); --remove-specks N and --fill-holes N "
            "also clean specks and holes. Other findings are worth a look in the report.",
            highlight=False,
        )
    console.print(f"Report: {result.report_path} (summary: {result.markdown_path}, {result.html_path})")
    if result.fix_dir is not None:
        console.print(f"canonical masks: {result.n_fixed} written to {result.fix_dir} (provenance.csv, skipped.csv)")


def print_audit_summary(result) -> None:
    summary = result.summary
    table = Table(title=f"audit: {summary['n_samples']} samples")
    for column in ("severity", "code", "file / sample", "found"):
        table.add_column(column, overflow="fold")
    order = {"error": 0, "warning": 1, "info": 2}
    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    for issue in sorted(result.issues, key=lambda i: order[i.severity])[:MAX_ISSUES_SHOWN]:
        table.add_row(
            f"[{colours[issue.severity]}]{issue.severity}[/]",
            issue.code,
            issue.path or issue.sample_id or "-",
            issue.found,
        )
    console.print(table)
    for name in ("mask_encodes_label", "canonical_mask_shortcut", "acquisition_shortcut"):
        probe = summary.get(name)
        if probe and probe.get("auc") is not None:
            console.print(
                f"{name}: AUC {probe['auc']:.3f} (95 % CI {probe['ci_low']:.2f}-{probe['ci_high']:.2f}, "
                f"n = {probe['n']}, {probe['folds']} grouped folds): {probe['status']}"
            )
    counts = summary["issues"]
    console.print(
        f"{counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes. "
        f"Report: {result.report_path} (summary: {result.markdown_path}, {result.html_path})"
    )


def print_tile_summary(result) -> None:
    console.print(
        f"tile: {result.n_tiles} tiles of {result.n_parents} images ({result.order}) written to {result.out} "
        f"in {result.seconds:.1f} s"
    )
    comparison = result.comparison
    if comparison is not None:
        colour = "red" if comparison.mismatched else "green"
        console.print(
            f"[{colour}]release tiles: {comparison.matched} of {comparison.compared} identical to the cut parents, "
            f"{comparison.mismatched} differ[/]"
        )
        for issue in comparison.issues[:MAX_ISSUES_SHOWN]:
            console.print(f"  {issue.message}")


def print_build_summary(result) -> None:
    table = Table(title=f"build: {result.out}")
    for column in ("config", "train", "validation", "test"):
        table.add_column(column, justify="left" if column == "config" else "right")
    for name, splits in result.counts.items():
        table.add_row(name, *(str(splits.get(s, 0)) for s in ("train", "validation", "test")))
    console.print(table)
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    console.print(f"validation errors: {result.validation_errors}; samples left out: {result.excluded}; {stages}")
    console.print(f"card: {result.out / 'README.md'} and {result.out / 'dataset.json'}; check with rbc-dataset verify")


def print_verify_summary(result) -> None:
    table = Table(title=f"verify: {result.folder}")
    for column in ("config", "split", "format", "file", "status"):
        table.add_column(column)
    for row in result.checked:
        colour = "green" if row["status"] == "ok" else "red"
        table.add_row(row["config"], row["split"], row["format"], row["file"], f"[{colour}]{row['status']}[/]")
    console.print(table)
    for issue in result.issues[:MAX_ISSUES_SHOWN]:
        console.print(f"[red]{issue.code}[/]: {issue.message}")
    verdict = "[green]verified[/]" if result.ok else f"[red]{len(result.issues)} differences[/]"
    console.print(f"{verdict} in {result.seconds:.1f} s")


def print_load_back(summary: dict) -> None:
    table = Table(title=f"{summary['folder']}: config '{summary['config']}' loaded back")
    for column in ("split", "card", "datasets.load_dataset", "HDF5RBCDataset", "first sample equal in both"):
        table.add_column(column)
    for row in summary["splits"]:
        cells = (row["card"], row.get("datasets", "-"), row.get("hdf5", "-"), row.get("formats_agree", "-"))
        table.add_row(row["split"], *(str(c) for c in cells))
    console.print(table)
    batch = next((row["batch"] for row in summary["splits"] if "batch" in row), None)
    if batch is not None:
        console.print(f"first PyTorch batch: image {batch['image']}, mask {batch['mask']}, labels {batch['labels']}")
    console.print(f"classes: {', '.join(f'{k} = {n}' for k, n in enumerate(summary['class_names']))}")
