"""Is an ingested AneRBC folder the published release? Names and counts per folder, and checksums where known.

Like MedMNIST checking its downloads: every release folder (kind x class x role) is compared with the
names the release holds (../shared/docs/ANERBC.md, from the paper and the Mendeley release):

- AneRBC-I: per class 500 images ``001_a.png`` .. ``500_a.png`` (``_h`` for healthy) in ``Original_images``,
  ``Binary_segmented`` and ``RGB_segmented``, and 500 reports ``NNN_a.txt`` in ``CBC_reports`` and
  ``Morphology_reports``.
- AneRBC-II: the same five folders; per class 6,000 tiles ``0001_01_a.png`` .. ``0500_12_a.png`` (12 per
  parent) and 500 reports per parent, ``0001_a.txt`` .. ``0500_a.txt``.

Checksums are known for 16 AneRBC-I files only (``KNOWN_SHA256``); a file with a known checksum and other
bytes is reported by name. The verdict is ``complete``, ``partial`` (release names only, some missing),
``modified`` (extra files, or some files differ from the release) or ``not_release`` (a synthetic set, a
folder or CSV layout, or known files that all differ): a fact about the input, never an error.
"""

from __future__ import annotations

from collections import Counter
from pathlib import PurePosixPath

from rbc_dataset.layout import (
    CLASS_FOLDERS,
    DATASET_FOLDER,
    KIND_FOLDERS,
    REPORT_ROLES,
    ROLE_FOLDERS,
    image_stem,
    report_stem,
)

PARENTS = 500  # AneRBC-I images per class (numbers 001..500)
TILES = 12  # AneRBC-II tiles per parent
LISTED = 20  # names listed per folder and kind of difference; the counts are always complete
# SHA-256 of 16 AneRBC-I files, byte-identical to the release as re-hosted in the public repository
# shaunak-badani/Computer-Vision-Project (commit 8a35c3413b5a, data/raw/AneRBC-I/...), as listed with their
# sources in the project's shared realdata MANIFEST.tsv. Key: (kind, class, role, file name).
KNOWN_SHA256 = {
    ("I", "anemic", "image", "001_a.png"): "aeca8ff6c91bf76c0742d2a82f1730bd3881fc4f8cc6a6cf9e7e42fb2adf096e",
    ("I", "anemic", "image", "002_a.png"): "066de086711104d35eacc2f37780a46cdf37fa43ad2c0686dadab87a74bd48b8",
    ("I", "anemic", "image", "003_a.png"): "a9450241e5f6a28170b8829e8f51cc41c79565dcd07038ec5970b6dde0fc626d",
    ("I", "anemic", "image", "004_a.png"): "851eb5272edff701386f1798fc38b438cd665764df7b8b3077e6a03042caffbe",
    ("I", "anemic", "mask", "001_a.png"): "5990d28616c4b631f412c06df46829cef06c1d9b705c16d6f93b1f6985aeda8d",
    ("I", "anemic", "mask", "002_a.png"): "c430a61e1d67d037d2ae3298ce73f78926b42a6124cf0ec77e8f7972b123db22",
    ("I", "anemic", "mask", "003_a.png"): "0d876923213c4039490f355bc73b43acb27e7c736f6dde6628907de25956e480",
    ("I", "anemic", "mask", "004_a.png"): "c1eaa674a00cc19f7f568610e375b12d1cb09c7345acd9417b4ac5f5b1b140d5",
    ("I", "healthy", "image", "001_h.png"): "782fc447c3be6f063d7211a718580db40757a901f6ea8b14f872e8d472834fcf",
    ("I", "healthy", "image", "002_h.png"): "69fd39fd3a0fe6c91322471f564aadb1144216051600bf8ce520f63fb523dc90",
    ("I", "healthy", "image", "003_h.png"): "57c9cdfeb210823cc39e2de7e92da50635774b8d028ba138402a22297922616e",
    ("I", "healthy", "image", "004_h.png"): "a8eac2eef1e98fe6f8d42a16e389e60dba28acb2ec3ad6aa568102a267d7aa81",
    ("I", "healthy", "mask", "001_h.png"): "9b35c331e3d7f0c3e2bed361b5c874fd5abe361914bd2189d3479226685e8aa2",
    ("I", "healthy", "mask", "002_h.png"): "9995400bf48c2923f97f7e348b95c0ff67699df0c241bda604ec2392dd0b383a",
    ("I", "healthy", "mask", "003_h.png"): "d73215b5daf8f87a5395f7b30ea2ffc304633e38b6cbf074f9d532d319b7cc09",
    ("I", "healthy", "mask", "004_h.png"): "d20f969b089e33dd13ef9ca13a80381bdde96b13e8721db5bcbb042b60de4288",
}
REFERENCE = (
    "AneRBC release (Shahzad et al., Database 2024, doi:10.1093/database/baae120; Mendeley Data hms3sjzt7f): "
    f"per class {PARENTS} AneRBC-I images and {PARENTS * TILES} AneRBC-II tiles in Original_images, "
    "Binary_segmented and RGB_segmented, and 500 CBC and morphology reports per kind; "
    f"SHA-256 known for {len(KNOWN_SHA256)} AneRBC-I files"
)
FOLDERS = [(kind, cls, role) for kind in KIND_FOLDERS for cls in CLASS_FOLDERS for role in ROLE_FOLDERS]


def expected_names(kind: str, cls: str, *, role: str) -> list[str]:
    """The file names of one release folder, in release order."""
    if role in REPORT_ROLES:
        return [report_stem(kind, cls, number=n) + ".txt" for n in range(1, PARENTS + 1)]
    if kind == "I":
        return [image_stem(kind, cls, number=n) + ".png" for n in range(1, PARENTS + 1)]
    return [
        image_stem(kind, cls, number=n, tile=t) + ".png" for n in range(1, PARENTS + 1) for t in range(1, TILES + 1)
    ]


def _listed(names) -> dict:
    names = sorted(names)
    return {"count": len(names), "names": names[:LISTED]}


def _folder(kind: str, cls: str, role: str, entries: list) -> dict:
    expected = expected_names(kind, cls, role=role)
    found = Counter(PurePosixPath(e.rel).name for e in entries)
    missing = [name for name in expected if name not in found]
    return {
        "folder": f"{DATASET_FOLDER}/{KIND_FOLDERS[kind]}/{CLASS_FOLDERS[cls]}/{ROLE_FOLDERS[role]}",
        "found_in": sorted({str(PurePosixPath(e.rel).parent) for e in entries}),
        "expected": len(expected),
        "found": sum(found.values()),
        "missing": _listed(missing),
        "extra": _listed(set(found) - set(expected)),
        "repeated": _listed(name for name, n in found.items() if n > 1),  # e.g. in two split folders
    }


def _checksums(entries: list, sha_by_rel: dict[str, str]) -> dict:
    compared, mismatched = 0, []
    for entry in entries:
        known = KNOWN_SHA256.get((entry.kind, entry.cls, entry.role, PurePosixPath(entry.rel).name))
        actual = sha_by_rel.get(entry.rel)
        if known is None or actual is None:  # unknown release value, or a file ingest could not read
            continue
        compared += 1
        if actual != known:
            mismatched.append({"file": entry.rel, "release_sha256": known, "found_sha256": actual})
    return {"known": len(KNOWN_SHA256), "compared": compared, "matched": compared - len(mismatched),
            "mismatched": mismatched}  # fmt: skip


def _sha_by_rel(rows: list[dict]) -> dict[str, str]:
    return {
        row[key]: row[key.replace("_path", "_sha256")]
        for row in rows
        for key in row
        if key.endswith("_path") and row[key] and row.get(key.replace("_path", "_sha256"))
    }


def release_check(layout: str, entries: list, *, rows: list[dict]) -> dict:
    """The fingerprint of an ingested folder against the published AneRBC release.

    Args:
        layout: the ingest layout (only ``anerbc`` can be the release).
        entries: the recognised AneRBC files (``ScanResult.entries``; empty for other layouts).
        rows: the manifest rows (their ``*_sha256`` are the files' checksums, already computed by ingest).
    """
    if layout != "anerbc":
        return _not_release(f"a {layout} layout, not the AneRBC release layout")
    if any(row.get("synthetic") for row in rows):
        return _not_release("synthetic data written by `rbc-dataset synth` (it has a synthetic_truth sidecar)")
    groups: dict[tuple, list] = {}
    for entry in entries:
        groups.setdefault((entry.kind, entry.cls, entry.role), []).append(entry)
    folders = [_folder(kind, cls, role, groups.get((kind, cls, role), [])) for kind, cls, role in FOLDERS]
    checksums = _checksums(entries, _sha_by_rel(rows))
    return {"reference": REFERENCE, **_verdict(folders, checksums), "folders": folders, "checksums": checksums}


def _not_release(why: str) -> dict:
    return {"reference": REFERENCE, "verdict": "not_release", "summary": f"not the official release: {why}"}


def _verdict(folders: list[dict], checksums: dict) -> dict:
    present = sum(f["expected"] - f["missing"]["count"] for f in folders)
    expected = sum(f["expected"] for f in folders)
    extra = sum(f["extra"]["count"] + f["repeated"]["count"] for f in folders)
    differ = len(checksums["mismatched"])
    sums = f"{checksums['matched']} of {checksums['compared']} files with a known release checksum match"
    counts = f"{present:,} of {expected:,} release files present, {extra} extra"
    if differ and not checksums["matched"]:
        verdict, text = "not_release", "not the official release: its files differ from the release's"
    elif differ or extra:
        verdict, text = "modified", "modified release"
    elif present < expected:
        verdict, text = "partial", "partial release"
    else:
        verdict, text = "complete", "the complete release"
    return {"verdict": verdict, "summary": f"{text} ({counts}; {sums})"}
