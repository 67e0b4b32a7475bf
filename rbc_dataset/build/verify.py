"""``rbc-dataset verify DIR``: recompute what the card promises and report every difference.

Checks file checksums, sample counts, per-sample pixel hashes (HDF5's Fletcher-32 chunk checksums are
checked by the library on every read), class counts, the README's declared configs and features against
``dataset.json``, that ``datasets`` opens every config with the declared features, and, from the shards
themselves, that no parent image appears in two splits. Nothing is written into DIR.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from rbc_dataset.build.hdf5_shards import FORMAT, content_hash
from rbc_dataset.build.samples import pixel_hash
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import sha256_file
from rbc_dataset.issues import Issue
from rbc_dataset.parallel import process_pool, worker_count
from rbc_dataset.progress import track


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
    return Issue(code, "error", str(path), expected, found, fix).to_dict()


def _check_hdf5(path: Path, entry: dict, deep: bool) -> dict:
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
                    actual = pixel_hash(handle["image"][i], None if masks is None else masks[i])
                    if actual != stored[i]:
                        problems.append(_issue(path, f"sample {i} pixels with hash {stored[i][:12]}", actual[:12]))
    except OSError as exc:  # unreadable file, or a chunk whose Fletcher-32 checksum fails
        return {"issues": [_issue(path, "a readable HDF5 shard", f"an error: {exc}")], "parents": []}
    return {"issues": problems, "parents": parents, "hashes": stored, "labels": labels.tolist()}


def _check_parquet(path: Path, deep: bool) -> dict:
    import pyarrow.parquet as pq

    from rbc_dataset.loaders.hf import decode_image, decode_mask  # the loader's decoding, so both agree

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
                mask = decode_mask(table["mask"][k]["bytes"], str(path)) if "mask" in table else None
                hashes.append(pixel_hash(decode_image(image["bytes"], str(path)), mask))
    except (OSError, ValueError, DataError) as exc:
        return {"issues": [_issue(path, "a readable Parquet shard", f"an error: {exc}")], "parents": []}
    return {"issues": problems, "parents": parents, "hashes": hashes, "labels": labels}


def check_file(task: tuple) -> dict:
    """Verify one shard file (worker entry point): checksum, readability, pixels."""
    folder, fmt, entry, deep = task
    path = Path(folder) / entry["path"]
    if not path.is_file():
        return {"issues": [_issue(path, "a shard listed in dataset.json", "no such file")], "parents": []}
    issues = []
    if sha256_file(path) != entry["sha256"]:
        issues.append(_issue(path, f"SHA-256 {entry['sha256'][:16]}... (dataset.json)", "another checksum"))
    result = _check_hdf5(path, entry, deep) if fmt == "hdf5" else _check_parquet(path, deep)
    result["issues"] = issues + result["issues"]
    return result


def _read_card(folder: Path) -> dict:
    card = folder / "dataset.json"
    if not card.is_file():
        raise DataError(card, "a folder written by rbc-dataset build", "no dataset.json", "run rbc-dataset build")
    try:
        return json.loads(card.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(card, "valid JSON", f"a syntax error: {exc}", "rebuild the dataset") from exc


def _readme_configs(folder: Path) -> tuple[dict, list[dict]]:
    """The README's YAML: {config: {split: num_examples}}, and problems reading it."""
    path = folder / "README.md"
    text = path.read_text() if path.is_file() else ""
    if not text.startswith("---\n"):
        return {}, [_issue(path, "a dataset card starting with a YAML block", "no YAML block")]
    header = yaml.safe_load(text.split("---\n", 2)[1])
    declared = {}
    infos = header.get("dataset_info", [])
    for info in [infos] if isinstance(infos, dict) else infos:  # one config is written as a mapping
        declared[info["config_name"]] = {s["name"]: s["num_examples"] for s in info.get("splits", [])}
    return declared, []


def _tasks(folder: Path, card: dict, deep: bool) -> list[tuple]:
    tasks = []
    for name, config in card["configs"].items():
        for split, entry in config["splits"].items():
            if "hdf5" in entry:
                tasks.append((name, split, "hdf5", entry, (str(folder), "hdf5", entry["hdf5"], deep)))
            for shard in entry.get("parquet", []):
                tasks.append((name, split, "parquet", entry, (str(folder), "parquet", shard, deep)))
    return tasks


def _compare_split(name: str, split: str, entry: dict, results: dict, card: dict, deep: bool) -> list[dict]:
    """Counts, class counts and content hashes of one config/split, per format, against the card."""
    issues = []
    where = f"{name}/{split}"
    for fmt, parts in results.items():
        parents = [p for part in parts for p in part["parents"]]
        if len(parents) != entry["num_examples"]:
            issues.append(_issue(where, f"{entry['num_examples']} samples ({fmt})", f"{len(parents)} samples"))
        labels = [label for part in parts for label in part.get("labels", [])]
        classes = {card["class_names"][k]: labels.count(k) for k in sorted(set(labels))}
        if classes != entry["classes"]:
            issues.append(_issue(where, f"class counts {entry['classes']} ({fmt})", f"{classes}"))
        if deep:
            hashes = [h for part in parts for h in part.get("hashes", [])]
            if len(hashes) == len(parents) and content_hash(hashes) != entry["content_sha256"]:
                issues.append(_issue(where, f"content hash {entry['content_sha256'][:16]}... ({fmt})", "another"))
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


def _check_datasets(folder: Path, card: dict) -> list[dict]:
    """Open every config and split with ``datasets`` (streaming: nothing is cached) and compare features."""
    from datasets import load_dataset

    from rbc_dataset.build.parquet_shards import hf_features

    expected = hf_features(
        tuple(card["class_names"]), tuple(card["severity_names"]), tuple(card["cbc_tests"]), card["has_masks"]
    )
    issues = []
    for name, config in card["configs"].items():
        if not any("parquet" in e for e in config["splits"].values()):
            continue
        for split in config["splits"]:
            try:
                stream = load_dataset(str(folder), name, split=split, streaming=True)
                next(iter(stream))
            except Exception as exc:  # noqa: BLE001 (any failure to load is the finding)
                issues.append(_issue(folder, f"datasets.load_dataset(DIR, '{name}') to load {split}", repr(exc)))
                continue
            if stream.features != expected:
                issues.append(_issue(folder, f"the declared features for {name}", f"{stream.features}"))
    return issues


def verify(folder: Path, deep: bool = True, workers: int = 0, show_progress: bool = True) -> VerifyResult:
    """Verify a built dataset folder against its card.

    Args:
        folder: a folder written by ``rbc-dataset build``.
        deep: also decode every sample and recompute its pixel hash (otherwise checksums and counts only).
        workers: processes (0 = all cores).
        show_progress: draw a progress bar.
    """
    start = time.perf_counter()
    folder = Path(folder)
    card = _read_card(folder)
    declared, issues = _readme_configs(folder)
    actual = {n: {s: e["num_examples"] for s, e in c["splits"].items()} for n, c in card["configs"].items()}
    if declared and declared != actual:
        issues.append(_issue(folder / "README.md", f"configs and split sizes {actual}", f"{declared}"))
    for name, sha in card.get("files", {}).items():
        if not (folder / name).is_file() or sha256_file(folder / name) != sha:
            issues.append(_issue(folder / name, f"SHA-256 {sha[:16]}...", "a missing or changed file"))
    tasks = _tasks(folder, card, deep)
    results = _run(tasks, workers, show_progress)
    grouped: dict[tuple, dict[str, list]] = {}
    checked, parents_by_split = [], {}
    for (name, split, fmt, _, task), result in zip(tasks, results, strict=True):
        issues += result["issues"]
        grouped.setdefault((name, split), {}).setdefault(fmt, []).append(result)
        parents_by_split.setdefault(name, {}).setdefault(split, set()).update(result["parents"])
        status = "ok" if not result["issues"] else "error"
        checked.append({"config": name, "split": split, "format": fmt, "file": task[2]["path"], "status": status})
    for (name, split), results_by_format in grouped.items():
        entry = card["configs"][name]["splits"][split]
        issues += _compare_split(name, split, entry, results_by_format, card, deep)
    issues += _leaks(parents_by_split) + _check_datasets(folder, card)
    found = [Issue(**{k: v for k, v in i.items() if k in Issue.__dataclass_fields__}) for i in issues]
    return VerifyResult(folder, checked, found, time.perf_counter() - start)


def _run(tasks: list[tuple], workers: int, show_progress: bool) -> list[dict]:
    work = [task[4] for task in tasks]
    workers = min(worker_count(workers), max(len(work), 1))
    if workers == 1:
        return list(track(map(check_file, work), len(work), "verify shards", show_progress))
    with process_pool(workers) as pool:
        return list(track(pool.map(check_file, work), len(work), "verify shards", show_progress))


def write_verify_report(result: VerifyResult, path: Path) -> None:
    """The findings as JSON (schema_version 1)."""
    from rbc_dataset.fileio import atomic_write_bytes

    document = {
        "schema_version": 1,
        "folder": str(result.folder),
        "ok": result.ok,
        "checked": result.checked,
        "issues": [i.to_dict() for i in result.issues],
        "seconds": round(result.seconds, 2),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), (json.dumps(document, indent=1) + "\n").encode())
