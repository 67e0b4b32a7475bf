"""``rbc-dataset verify DIR``: recompute what the card promises and report every difference.

Checks the card's own checksums (an edited ``dataset.json``), the checksums of every listed file (shards,
README.md, splits, reports, manifest), that ``data/`` and ``hdf5/`` hold no file the card does not list,
sample counts, per-sample pixel hashes (HDF5's Fletcher-32 chunk checksums are checked by the library on
every read), that every mask holds class indices 0/1 only, class counts, the README's declared configs and
features against ``dataset.json``, that ``datasets`` opens every config with the declared features and streams
exactly the declared rows, and, from the shards themselves, that no parent image appears in two splits.
Nothing is written into DIR.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rbc_dataset.dataset_card import DatasetCard, SplitEntry, read_card
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import sha256_file, write_json
from rbc_dataset.issues import Issue
from rbc_dataset.parallel import process_pool, worker_count
from rbc_dataset.progress import track
from rbc_dataset.shards.hdf5_shards import FORMAT, content_hash
from rbc_dataset.shards.integrity import REBUILD, SHARD_FOLDERS, read_readme_header
from rbc_dataset.shards.samples import pixel_hash


@dataclass(frozen=True)
class VerifyResult:
    """What verify checked and found."""

    folder: Path
    checked: list[dict]  # one row per shard file: config, split, format, samples, status
    issues: list[Issue]
    seconds: float

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)


def _issue(path, expected, found, fix="rebuild with rbc-dataset build --overwrite", code="verify_mismatch") -> dict:
    return Issue(code, "error", path=str(path), expected=expected, found=found, fix=fix).to_dict()


def _check_hdf5(path: Path, deep: bool) -> dict:
    import h5py

    problems, parents = [], []
    try:
        with h5py.File(path, "r") as handle:
            if handle.attrs.get("format") != FORMAT:
                return {"issues": [_issue(path, f"an HDF5 file with format={FORMAT}", "another file")], "parents": []}
            if str(handle.attrs.get("codec", "")).startswith("blosc"):
                import hdf5plugin  # noqa: F401  (registers the filter)
            stored = [h.decode() for h in handle["sha256"][:]]
            parents = [p.decode() if isinstance(p, bytes) else p for p in handle["parent_id"][:]]
            labels = handle["label"][:]
            if deep:
                masks = handle["mask"] if "mask" in handle else None
                for i in range(len(stored)):
                    mask = None if masks is None else masks[i]
                    if mask is not None and (problem := _mask_problem(mask, path, i)):
                        problems.append(problem)
                    actual = pixel_hash(handle["image"][i], mask)
                    if actual != stored[i]:
                        problems.append(_issue(path, f"sample {i} pixels with hash {stored[i][:12]}", actual[:12]))
    except OSError as exc:  # unreadable file, or a chunk whose Fletcher-32 checksum fails
        return {"issues": [_issue(path, "a readable HDF5 shard", f"an error: {exc}")], "parents": []}
    return {"issues": problems, "parents": parents, "hashes": stored, "labels": labels.tolist()}


def _check_parquet(path: Path, deep: bool) -> dict:
    import pyarrow.parquet as pq

    from rbc_dataset.loaders.decode import decode_image, decode_stored_mask  # the loaders' decoding: both agree

    problems, parents, hashes, labels = [], [], [], []
    try:
        reader = pq.ParquetFile(path)
        for group in range(reader.num_row_groups):
            table = reader.read_row_group(group).to_pydict()
            parents += table["parent_id"]
            labels += table["label"]
            if not deep:
                continue
            for k, image in enumerate(table["image"]):
                mask = decode_stored_mask(table["mask"][k]["bytes"], str(path)) if "mask" in table else None
                if mask is not None and (problem := _mask_problem(mask, path, len(hashes))):
                    problems.append(problem)
                hashes.append(pixel_hash(decode_image(image["bytes"], str(path)), mask))
    except (OSError, ValueError, DataError) as exc:
        return {"issues": [_issue(path, "a readable Parquet shard", f"an error: {exc}")], "parents": []}
    return {"issues": problems, "parents": parents, "hashes": hashes, "labels": labels}


def _class_name(card: DatasetCard, label: int) -> str:
    """The name of a label read from a shard; an index the card has no name for is shown as such."""
    return card.class_names[label] if 0 <= label < len(card.class_names) else f"label {label} (no such class)"


def _mask_problem(mask, path: Path, index: int) -> dict | None:
    """A finding when a stored mask is not single-channel 8-bit class indices 0/1 (the loaders' ``check_mask``)."""
    from rbc_dataset.loaders.decode import check_mask

    try:
        check_mask(mask, path)
    except DataError as error:
        return _issue(path, f"sample {index}: {error.expected}", error.found, error.fix, code="verify_mask_values")
    return None


def check_file(task: tuple) -> dict:
    """Verify one shard file (worker entry point): checksum, readability, pixels."""
    folder, fmt, shard, deep = task
    path = Path(folder) / shard.path
    if not path.is_file():
        return {"issues": [_issue(path, "a shard listed in dataset.json", "no such file")], "parents": []}
    issues = []
    if sha256_file(path) != shard.sha256:
        issues.append(_issue(path, f"SHA-256 {shard.sha256[:16]}... (dataset.json)", "another checksum"))
    result = _check_hdf5(path, deep) if fmt == "hdf5" else _check_parquet(path, deep)
    result["issues"] = issues + result["issues"]
    return result


def _readme_configs(folder: Path) -> tuple[dict, list[dict]]:
    """The README's YAML: {config: {split: num_examples}}, and problems reading it."""
    try:
        header = read_readme_header(folder)
    except DataError as exc:
        return {}, [_issue(exc.path, exc.expected, exc.found, exc.fix)]
    declared = {}
    infos = header.get("dataset_info", [])
    try:
        for info in [infos] if isinstance(infos, dict) else infos:  # one config is written as a mapping
            declared[info["config_name"]] = {s["name"]: s["num_examples"] for s in info.get("splits", [])}
    except (KeyError, TypeError, AttributeError) as exc:
        found = f"a dataset_info entry without {exc}" if isinstance(exc, KeyError) else "a malformed dataset_info"
        return {}, [_issue(folder / "README.md", "dataset_info entries with config_name and splits", found)]
    return declared, []


def _card_checks(folder: Path, card: DatasetCard) -> list[dict]:
    """The card's own checksums, and those of every non-shard file it lists (README.md, splits, reports ...)."""
    path = folder / "dataset.json"
    changed, problem = card.edited_fields()
    issues = [_issue(path, "the card's own checksums (integrity.sections)", problem)] if problem else []
    if changed:
        expected = "the content the build wrote (integrity.sections)"
        issues.append(_issue(path, expected, f"edited fields: {', '.join(changed)}", code="verify_card_edited"))
    for name, sha in card.files.items():
        target = folder / name
        if not target.is_file():
            issues.append(_issue(target, f"the file as built (SHA-256 {sha[:16]}...)", "no such file"))
        elif (actual := sha256_file(target)) != sha:
            found = f"a changed file (SHA-256 {actual[:16]}...)"
            issues.append(_issue(target, f"the file as built (SHA-256 {sha[:16]}...)", found))
    return issues


def _unlisted(folder: Path, tasks: list[tuple]) -> list[dict]:
    """Files under data/ and hdf5/ that the card does not list: loaders would read an extra shard as data."""
    listed = {task[4][2].path for task in tasks}
    issues = []
    for top in SHARD_FOLDERS:
        for path in sorted((folder / top).rglob("*")) if (folder / top).is_dir() else []:
            if (path.is_file() or path.is_symlink()) and path.relative_to(folder).as_posix() not in listed:
                issues.append(
                    _issue(
                        path, f"only the shards dataset.json lists under {top}/", "a file the card does not list",
                        f"remove it: it is not part of this build, and a loader may read it as part of a split "
                        f"({REBUILD})",
                        code="verify_unlisted_file",
                    )
                )  # fmt: skip
    return issues


def _tasks(folder: Path, card: DatasetCard, deep: bool) -> list[tuple]:
    tasks = []
    for name, config in card.configs.items():
        for split, entry in config.splits.items():
            if entry.hdf5 is not None:
                tasks.append((name, split, "hdf5", entry, (str(folder), "hdf5", entry.hdf5, deep)))
            for shard in entry.parquet or ():
                tasks.append((name, split, "parquet", entry, (str(folder), "parquet", shard, deep)))
    return tasks


def _compare_split(
    name: str, split: str, *, entry: SplitEntry, results: dict, card: DatasetCard, deep: bool
) -> list[dict]:
    """Counts, class counts and content hashes of one config/split, per format, against the card."""
    issues = []
    where = f"{name}/{split}"
    for fmt, parts in results.items():
        parents = [p for part in parts for p in part["parents"]]
        if len(parents) != entry.num_examples:
            issues.append(_issue(where, f"{entry.num_examples} samples ({fmt})", f"{len(parents)} samples"))
        labels = [label for part in parts for label in part.get("labels", [])]
        classes = {_class_name(card, k): labels.count(k) for k in sorted(set(labels))}
        if classes != entry.classes:
            issues.append(_issue(where, f"class counts {entry.classes} ({fmt})", f"{classes}"))
        if deep:
            hashes = [h for part in parts for h in part.get("hashes", [])]
            if len(hashes) == len(parents) and content_hash(hashes) != entry.content_sha256:
                issues.append(_issue(where, f"content hash {entry.content_sha256[:16]}... ({fmt})", "another"))
    return issues


def _leaks(parents_by_split: dict[str, dict[str, set]]) -> list[dict]:
    """Parents found in the shards of more than one split (per config)."""
    issues = []
    for name, splits in parents_by_split.items():
        seen: dict[str, str] = {}
        for split, parents in splits.items():
            for parent in sorted(parents):
                if parent in seen and seen[parent] != split:
                    issues.append(
                        _issue(
                            f"{name}", f"parent {parent} in one split", f"in {seen[parent]} and {split}",
                            code="verify_split_leak",
                        )
                    )  # fmt: skip
                seen.setdefault(parent, split)
    return issues


def _check_datasets(folder: Path, card: DatasetCard) -> list[dict]:
    """Open every config and split with ``datasets`` (streaming: nothing is cached) and compare features."""
    from datasets import load_dataset

    from rbc_dataset.shards.parquet_shards import hf_features

    expected = hf_features(card.class_names, card.severity_names, cbc_tests=card.cbc_tests, masks=card.has_masks)
    issues = []
    for name, config in card.configs.items():
        if not any(e.parquet is not None for e in config.splits.values()):
            continue
        for split, entry in config.splits.items():
            try:
                stream = load_dataset(str(folder), name, split=split, streaming=True)
                next(iter(stream))
                # Only the id column: every row is counted without decoding an image.
                ids = [row["sample_id"] for row in load_dataset(**_ids_of(folder, name, split))]
            except Exception as exc:  # noqa: BLE001 (any failure to load is the finding)
                issues.append(_issue(folder, f"datasets.load_dataset(DIR, '{name}') to load {split}", repr(exc)))
                continue
            if stream.features != expected:
                issues.append(_issue(folder, f"the declared features for {name}", f"{stream.features}"))
            issues += _stream_counts(folder, f"{name}/{split}", entry.num_examples, ids)
    return issues


def _ids_of(folder: Path, name: str, split: str) -> dict:
    return {"path": str(folder), "name": name, "split": split, "streaming": True, "columns": ["sample_id"]}


def _stream_counts(folder: Path, where: str, expected: int, ids: list[str]) -> list[dict]:
    """What streaming one split yields against the card: as many rows as declared, no sample twice."""
    issues = []
    if len(ids) != expected:
        found = f"{len(ids)} rows (a shard the card does not list, or one missing?)"
        issues.append(_issue(folder, f"{expected} rows streamed from {where} (dataset.json)", found))
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        found = f"{len(repeated)} ids more than once, e.g. {repeated[0]}"
        issues.append(_issue(folder, f"each sample once when streaming {where}", found))
    return issues


def verify(folder: Path, *, deep: bool = True, workers: int = 0, show_progress: bool = True) -> VerifyResult:
    """Verify a built dataset folder against its card.

    Args:
        folder: a folder written by ``rbc-dataset build``.
        deep: also decode every sample and recompute its pixel hash (otherwise checksums and counts only).
        workers: processes (0 = all cores).
        show_progress: draw a progress bar.
    """
    start = time.perf_counter()
    folder = Path(folder)
    card = read_card(folder)  # a card whose fields are not what the build writes is refused here, field by field
    issues = _card_checks(folder, card)
    checked, found = _checks(folder, card, deep=deep, workers=workers, show_progress=show_progress)
    issues += found
    found = [Issue(**{k: v for k, v in i.items() if k in Issue.__dataclass_fields__}) for i in issues]
    return VerifyResult(folder, checked, found, time.perf_counter() - start)


def _checks(
    folder: Path, card: DatasetCard, *, deep: bool, workers: int, show_progress: bool
) -> tuple[list[dict], list]:
    """Every check that reads the card's fields: the README, the shards, counts, leaks, ``datasets``."""
    declared, issues = _readme_configs(folder)
    actual = {n: {s: e.num_examples for s, e in c.splits.items()} for n, c in card.configs.items()}
    if declared and declared != actual:
        issues.append(_issue(folder / "README.md", f"configs and split sizes {actual}", f"{declared}"))
    tasks = _tasks(folder, card, deep)
    issues += _unlisted(folder, tasks)
    results = _run(tasks, workers, show_progress)
    grouped: dict[tuple, dict[str, list]] = {}
    checked, parents_by_split = [], {}
    for (name, split, fmt, _, task), result in zip(tasks, results, strict=True):
        issues += result["issues"]
        grouped.setdefault((name, split), {}).setdefault(fmt, []).append(result)
        parents_by_split.setdefault(name, {}).setdefault(split, set()).update(result["parents"])
        status = "ok" if not result["issues"] else "error"
        checked.append({"config": name, "split": split, "format": fmt, "file": task[2].path, "status": status})
    for (name, split), results_by_format in grouped.items():
        entry = card.configs[name].splits[split]
        issues += _compare_split(name, split, entry=entry, results=results_by_format, card=card, deep=deep)
    issues += _leaks(parents_by_split) + _check_datasets(folder, card)
    return checked, issues


def _run(tasks: list[tuple], workers: int, show_progress: bool) -> list[dict]:
    work = [task[4] for task in tasks]
    workers = min(worker_count(workers), max(len(work), 1))
    if workers == 1:
        return list(track(map(check_file, work), len(work), description="verify shards", show=show_progress))
    with process_pool(workers) as pool:
        return list(track(pool.map(check_file, work), len(work), description="verify shards", show=show_progress))


def write_verify_report(result: VerifyResult, path: Path) -> None:
    """The findings as JSON (schema_version 1)."""

    document = {
        "schema_version": 1,
        "folder": str(result.folder),
        "ok": result.ok,
        "checked": result.checked,
        "issues": [i.to_dict() for i in result.issues],
        "seconds": round(result.seconds, 2),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(path), document)
