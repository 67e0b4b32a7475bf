"""``rbc-dataset synth``: write a synthetic dataset in the exact AneRBC layout, with its full ground truth.

One job draws one AneRBC-I image and writes it, its masks, reports, the 12 AneRBC-II tiles cut from it
and the sidecar truth. Every job seeds its own generator from (seed, class, number), so the output is
byte-identical whatever the number of processes or the order in which jobs finish.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from rbc_dataset import __version__
from rbc_dataset.fileio import atomic_directory, write_json, write_png
from rbc_dataset.layout import (
    CLASS_LABEL,
    ROLE_FOLDERS,
    SYNTH_CONFIG_FILE,
    TRUTH_FOLDER,
    TRUTH_ROLE_FOLDERS,
    image_stem,
    report_stem,
    role_folder,
    sample_id,
    tile_boxes,
    truth_folder,
)
from rbc_dataset.parallel import opencv_single_thread, process_pool, worker_count
from rbc_dataset.progress import track
from rbc_dataset.report_writer import format_cbc_report, format_morphology_report
from rbc_dataset.synth import defects, truth
from rbc_dataset.synth.cells import CELL_TYPES, sample_condition
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.render import Smear, render_smear, sample_acquisition, sample_defocus

CLASSES = ("anemic", "healthy")
CBC_QUIRK_RATE = 0.03  # share of reports with a lost decimal point or a column shift, as in the release
WARM_SHARE = 0.3  # acquisitions with a beige white balance; the others a small tint of any hue
STREAMS = ("cells", "acquisition", "mask", "reports")


@dataclass(frozen=True)
class SynthSummary:
    """What a synth run wrote."""

    out: Path
    n_full_images: int
    n_tiles: int
    n_defects: int
    seconds: float
    stats: pd.DataFrame  # one row per AneRBC-I image: class, severity, cells, foreground fraction


def image_streams(seed: int, cls: str, *, number: int) -> dict[str, np.random.Generator]:
    """Independent random streams per image, one per part of it.

    One stream per image makes the output independent of scheduling. One stream per part (the cells and
    everything rendered with them, the acquisition, the released mask's quirks, the reports) makes the shortcut
    variants paired: ``--shortcut colour`` changes only what the acquisition stream draws and ``--shortcut mask``
    only the mask's darkness, so the same seed keeps the same cells at the same positions with the same reports.
    """
    children = np.random.SeedSequence([seed, CLASS_LABEL[cls], number]).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children, strict=True)}


def _make_folders(root: Path, with_tiles: bool) -> None:
    for kind in ("I", "II") if with_tiles else ("I",):
        for cls in CLASSES:
            for role in ROLE_FOLDERS:
                role_folder(root, kind, cls=cls, role=role).mkdir(parents=True, exist_ok=True)
            for role in TRUTH_ROLE_FOLDERS:
                truth_folder(root, kind, cls=cls, role=role).mkdir(parents=True, exist_ok=True)


def _masks(smear: Smear, config: SynthConfig, cls: str, rng: np.random.Generator):
    """Binary_segmented in the configured style, RGB_segmented, and the darkness used."""
    if config.mask_style == "binary":
        mask = truth.binary_mask(smear.instances)
        return mask, truth.rgb_segmented(smear.image, mask > 0), None
    darkness = truth.mask_darkness(cls, config.shortcuts, rng=rng)
    # The release's masks are thresholded images: whatever is dark enough is foreground, platelets, white-cell
    # nuclei and stain precipitate included.
    mask, foreground = truth.anerbc_mask(
        smear.image, smear.instances, platelets=smear.platelets | smear.dark_objects, darkness=darkness, rng=rng
    )
    return mask, truth.rgb_segmented(smear.image, foreground), darkness


def _regime(cls: str, config: SynthConfig, rng: np.random.Generator) -> str:
    """White-balance regime: random, or tied to the class with the "colour" shortcut."""
    draw = rng.uniform()  # drawn either way, so the shortcut variant draws the rest of the acquisition alike
    if "colour" in config.shortcuts:
        return "warm" if cls == "anemic" else "cool"
    return "warm" if draw < WARM_SHARE else "neutral"


@opencv_single_thread()
def generate_image(root: Path, config: SynthConfig, *, cls: str, number: int) -> dict:
    """Draw and write AneRBC-I image ``number`` of ``cls`` and its AneRBC-II tiles; return its statistics."""
    streams = image_streams(config.seed, cls, number=number)
    lab, cells_rng, acquisition_rng = config.lab, streams["cells"], streams["acquisition"]
    condition = sample_condition(cls, cells_rng, lab=lab)
    acquisition = sample_acquisition(_regime(cls, config, acquisition_rng), acquisition_rng, lab=lab)
    if config.defocus:  # a child generator: the draws above and every other stream stay as they were
        acquisition |= sample_defocus(acquisition_rng.spawn(1)[0], largest=config.defocus)
    smear = render_smear(
        condition, acquisition, rng=cells_rng, overlap=config.cell_overlap, rounded_edge=config.rounded_edge
    )
    mask, rgb, darkness = _masks(smear, config, cls, streams["mask"])
    reports_rng = streams["reports"]
    report_cells, report_condition = truth.report_patient(smear.cells, condition, rng=reports_rng)
    cbc = truth.cbc_values(
        report_cells, report_condition, n_platelet_blobs=smear.params["n_platelet_blobs"], rng=reports_rng
    )
    cbc_text, quirks = format_cbc_report(cbc, reports_rng, quirk_rate=CBC_QUIRK_RATE)
    morphology = format_morphology_report(
        truth.morphology_findings(smear.cells), reports_rng, note=truth.morphology_note(condition)
    )
    meta = {
        "generator": f"rbc-dataset {__version__}",
        "seed": config.seed,
        "stream": [config.seed, CLASS_LABEL[cls], number],  # the SeedSequence whose children are STREAMS
        "class": cls,
        "label": CLASS_LABEL[cls],
        "severity": condition.severity,
        "pattern": condition.pattern,
        "strength": round(condition.strength, 4),
        "abnormal_share": round(condition.abnormal_share, 4),
        "normal_diameter_px": round(condition.normal_diameter, 3),
        "size_cv": round(condition.size_cv, 4),
        "acquisition": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in smear.params.items()},
        "mask_style": config.mask_style,
        "mask_darkness": None if darkness is None else round(darkness, 3),
        "shortcuts": list(config.shortcuts),
        "cbc_quirks": quirks,
        "cbc_patient_class": report_condition.cls,  # the other class for the reports filed with another patient
        "cell_type_counts": {t: int((smear.cells["type"] == t).sum()) for t in CELL_TYPES},
    }
    arrays = {"image": smear.image, "mask": mask, "rgb_mask": rgb, "instances": smear.instances}
    reports = {"cbc": cbc_text, "morphology": morphology}
    _write_sample(
        root,
        "I",
        cls=cls,
        number=number,
        tile=None,
        arrays=arrays,
        reports=reports,
        cells=smear.cells,
        meta={**meta, "sample_id": sample_id("I", cls, number=number)},
    )
    if config.with_tiles:
        _write_tiles(root, config, cls=cls, number=number, arrays=arrays, reports=reports, cells=smear.cells, meta=meta)
    return {
        "sample_id": sample_id("I", cls, number=number),
        "class": cls,
        "severity": condition.severity,
        "pattern": condition.pattern,
        "n_cells": len(smear.cells),
        "foreground_fraction": float((smear.instances > 0).mean()),
        "abnormal_cells": int((smear.cells["type"] != "normocyte").sum()),
    }


def _write_sample(root, kind, *, cls, number, tile, arrays, reports, cells, meta) -> None:
    stem = image_stem(kind, cls, number=number, tile=tile)
    for role in ("image", "mask", "rgb_mask"):
        write_png(role_folder(root, kind, cls=cls, role=role) / f"{stem}.png", arrays[role])
    if tile in (None, 1):  # reports exist once per AneRBC-I image, in both AneRBC-I and -II
        for role, text in reports.items():
            (role_folder(root, kind, cls=cls, role=role) / f"{report_stem(kind, cls, number=number)}.txt").write_text(
                text, encoding="utf-8"
            )
    write_png(truth_folder(root, kind, cls=cls, role="instances") / f"{stem}.png", arrays["instances"])
    cells.to_csv(truth_folder(root, kind, cls=cls, role="cells") / f"{stem}.csv", index=False)
    write_json(truth_folder(root, kind, cls=cls, role="meta") / f"{stem}.json", meta, sort_keys=True)


def _write_tiles(root, config, *, cls, number, arrays, reports, cells, meta) -> None:
    """Cut the 12 AneRBC-II tiles in the configured order; the cell table keeps the cells visible in a tile."""
    for box in tile_boxes(config.tile_order):
        window = (slice(box.y, box.y + box.height), slice(box.x, box.x + box.width))
        crops = {role: array[window] for role, array in arrays.items()}
        visible = np.unique(crops["instances"])
        tile_cells = cells[cells["cell_id"].isin(visible[visible > 0])].copy()
        tile_cells["cx"] = (tile_cells["cx"] - box.x).round(2)
        tile_cells["cy"] = (tile_cells["cy"] - box.y).round(2)
        tile_meta = {
            **meta,
            "sample_id": sample_id("II", cls, number=number, tile=box.index),
            "parent_id": sample_id("I", cls, number=number),
            "tile": {
                "index": box.index,
                "row": box.row,
                "col": box.col,
                "x": box.x,
                "y": box.y,
                "width": box.width,
                "height": box.height,
                "order": config.tile_order,
            },
            "cell_type_counts": {t: int((tile_cells["type"] == t).sum()) for t in CELL_TYPES},
        }
        _write_sample(
            root,
            "II",
            cls=cls,
            number=number,
            tile=box.index,
            arrays=crops,
            reports=reports,
            cells=tile_cells,
            meta=tile_meta,
        )


def _run_jobs(root: Path, config: SynthConfig, show_progress: bool) -> list[dict]:
    jobs = [(cls, number) for number in range(1, config.n_images + 1) for cls in CLASSES]
    workers = worker_count(config.workers)
    if workers == 1:
        results = (generate_image(root, config, cls=cls, number=number) for cls, number in jobs)
        return list(track(results, len(jobs), description="synth images", show=show_progress))
    with process_pool(min(workers, len(jobs))) as pool:
        futures = [pool.submit(generate_image, root, config, cls=cls, number=number) for cls, number in jobs]
        done = track((f.result() for f in futures), len(jobs), description="synth images", show=show_progress)
        return list(done)


def synthesize(config: SynthConfig, out: Path, *, overwrite: bool = False, show_progress: bool = True) -> SynthSummary:
    """Write a synthetic AneRBC dataset into ``out`` (atomically: all of it or nothing).

    Args:
        config: what to draw; the same config gives byte-identical files.
        out: output folder; receives ``AneRBC_dataset/`` and the sidecar ``synthetic_truth/``.
        overwrite: replace an existing non-empty ``out``.
        show_progress: draw a progress bar.
    """
    start = time.perf_counter()
    with atomic_directory(Path(out), overwrite) as root:
        _make_folders(root, config.with_tiles)
        rows = _run_jobs(root, config, show_progress)
        reused = defects.reuse_cbc_reports(root, config)
        planted = defects.inject_defects(root, config)
        (root / TRUTH_FOLDER / SYNTH_CONFIG_FILE).write_text(yaml.safe_dump(config.to_dict(), sort_keys=True))
        stats = pd.DataFrame(rows).sort_values("sample_id", ignore_index=True)
        stats.to_csv(root / TRUTH_FOLDER / "images.csv", index=False)
        reused.to_csv(root / TRUTH_FOLDER / "cbc_reuse.csv", index=False)
        planted.to_csv(root / TRUTH_FOLDER / "defects.csv", index=False)
    n_tiles = 12 * len(rows) if config.with_tiles else 0
    return SynthSummary(
        Path(out), len(rows), n_tiles=n_tiles, n_defects=len(planted), seconds=time.perf_counter() - start, stats=stats
    )
