"""Canonical masks are named by a safe slug of the sample id, never by a path from the data (issue 11 §2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rbc_dataset.validate.fix import FixOptions, write_canonical

CELLS = np.zeros((6, 6), bool)
CELLS[2:4, 2:4] = True


def test_an_absolute_source_path_never_leaves_the_output(tmp_path: Path) -> None:
    original = tmp_path / "user" / "mask_a.png"
    original.parent.mkdir()
    original.write_bytes(b"the user's own mask")
    out = tmp_path / "fix"
    entry = write_canonical(
        CELLS,
        str(original),
        source_sha=None,
        polarity="cells_low",
        encoding="binary",
        options=FixOptions(out),
        sample_id="folder_a_mask_a",
    )
    assert original.read_bytes() == b"the user's own mask"
    assert entry["canonical_mask"] == "masks/folder_a_mask_a.png" and entry["source_mask"] == str(original)
    assert (out / entry["canonical_mask"]).is_file()


def test_hostile_sample_ids_stay_inside_the_output(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "fix"
    names = set()
    for sid in ("../../../../X", "<script>alert(1)</script>", "/etc/passwd", "..", "a/../b"):
        entry = write_canonical(
            CELLS,
            "../outside/m.png",
            source_sha=None,
            polarity="cells_low",
            encoding="binary",
            options=FixOptions(out),
            sample_id=sid,
        )
        target = (out / entry["canonical_mask"]).resolve()
        assert out.resolve() / "masks" == target.parent and target.is_file()
        names.add(target.name)
    assert len(names) == 5  # distinct ids never share a file
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(names)


def test_ids_that_differ_only_in_case_are_both_skipped(tmp_path: Path) -> None:
    """On a case-insensitive disk P1 and p1 would share one canonical file: neither is kept."""
    from rbc_dataset.validate.run import _finish_fix

    options = FixOptions(tmp_path)
    results = []
    for sid in ("P1", "p1", "q2"):
        entry = write_canonical(
            CELLS,
            f"{sid}.png",
            source_sha=None,
            polarity="cells_low",
            encoding="binary",
            options=options,
            sample_id=sid,
        )
        results.append({"sample_id": sid, "fix": entry})
    written, skipped = _finish_fix(results, [], options)
    assert written == 1 and {s["sample_id"]: s["reason"] for s in skipped} == {
        "P1": "canonical_name_collision",
        "p1": "canonical_name_collision",
    }
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["q2.png"]
