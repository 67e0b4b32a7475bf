"""The per-image folder runner that ``annotate propose`` and ``annotate instances`` share.

Each image of a folder (or manifest) is handled by a worker in its own process; the workers write into a
temporary folder that becomes the output only when every image succeeded, with a JSON sidecar that records
the settings and the workers' per-image summaries. An output inside the input, or one that holds it, is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rbc_dataset.fileio import write_json


def check_outside_inputs(out: Path, source: Path, *, items: list) -> None:
    """Refuse an output folder inside the input, or one that holds the input (``--overwrite`` would delete it)."""
    from rbc_dataset.fileio import check_output_outside

    inputs = [source] if source.is_dir() else sorted({item.path.parent for item in items}, key=str)
    check_output_outside(out, inputs, replaced=True)


def run_per_image(
    worker, tasks, *, source, out, overwrite, workers, show_progress, description, sidecar, finish=None
) -> list:
    """Run ``worker((tmp, *task))`` for each task into a temporary folder that becomes ``out`` when all succeed.

    Tasks start with an ``ImageItem``. ``sidecar`` is ``(file name, dict)``: the dict, plus ``images`` (the
    workers' summaries), is written as JSON into the folder before it is renamed; so is whatever
    ``finish(tmp, summaries)`` writes, when given.
    """
    from rbc_dataset.fileio import atomic_directory
    from rbc_dataset.parallel import bounded_map, worker_count
    from rbc_dataset.progress import track

    check_outside_inputs(Path(out), Path(source), items=[task[0] for task in tasks])
    with atomic_directory(Path(out), overwrite) as tmp:
        (tmp / "overlays").mkdir()
        jobs = [(tmp, *task) for task in tasks]
        n_workers = min(worker_count(workers), max(1, len(jobs)))
        results = list(
            track(bounded_map(worker, jobs, workers=n_workers), len(jobs), description=description, show=show_progress)
        )
        name, payload = sidecar
        write_json(tmp / name, {**payload, "images": results}, sort_keys=True, default=str)
        if finish is not None:
            finish(tmp, results)
    return results


def write_image_outputs(tmp: Path, stem: str, *, result: np.ndarray, overlay: np.ndarray) -> None:
    """A worker's two files: ``<stem>.png`` (its mask or labels) and ``overlays/<stem>.png``."""
    from rbc_dataset.fileio import encode_png

    (Path(tmp) / f"{stem}.png").write_bytes(encode_png(result))
    (Path(tmp) / "overlays" / f"{stem}.png").write_bytes(encode_png(overlay))
