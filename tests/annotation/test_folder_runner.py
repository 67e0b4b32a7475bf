"""annotation.folder_runner: the per-image runner behind annotate propose and annotate instances."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from annotation.folder_runner import run_per_image, write_image_outputs
from annotation.images import ImageItem
from rbc_dataset.errors import UsageError


def _square_worker(task: tuple) -> dict:
    """A worker as annotate's are: writes the image's two files and returns its summary."""
    tmp, item, side = task
    square = np.full((side, side), 255, np.uint8)
    write_image_outputs(tmp, item.stem, result=square, overlay=np.dstack([square] * 3))
    return {"stem": item.stem, "side": side}


def _tasks(source: Path) -> list[tuple]:
    source.mkdir(exist_ok=True)
    return [(ImageItem(stem=f"im{k}", path=source / f"im{k}.png"), 4 + k) for k in range(3)]


def test_every_image_and_the_sidecar_arrive_together(tmp_path: Path) -> None:
    source, out = tmp_path / "images", tmp_path / "out"
    sidecar = ("runner_config.json", {"config": {"side": "4+k"}})
    results = run_per_image(
        _square_worker,
        _tasks(source),
        source=source,
        out=out,
        overwrite=False,
        workers=1,
        show_progress=False,
        description="testing",
        sidecar=sidecar,
    )
    assert [r["side"] for r in results] == [4, 5, 6]
    assert sorted(p.name for p in out.glob("*.png")) == ["im0.png", "im1.png", "im2.png"]
    assert len(list((out / "overlays").glob("*.png"))) == 3
    written = json.loads((out / "runner_config.json").read_text())
    assert written == {"config": {"side": "4+k"}, "images": results}


def test_an_output_inside_the_input_is_refused_before_any_work(tmp_path: Path) -> None:
    source = tmp_path / "images"
    tasks = _tasks(source)
    with pytest.raises(UsageError):
        run_per_image(
            _square_worker,
            tasks,
            source=source,
            out=source / "out",
            overwrite=False,
            workers=1,
            show_progress=False,
            description="testing",
            sidecar=("s.json", {}),
        )
    assert not (source / "out").exists()
