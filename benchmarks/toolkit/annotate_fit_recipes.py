"""Several fit recipes compared on the same leave-one-image-out folds, in parallel processes (a GPU run).

``rbc-bench annotate-fit`` measures the one recipe a user gets, on the CPU, one fold after another. Choosing that
recipe needs several measured side by side, which on 2 CPU cores takes hours; on one GPU, with a worker process
per job, minutes. Every job is one fit (a recipe, a held-out image, the images it trains on) followed by:

- the held-out image's cell-class Dice, as ``propose --model`` predicts it, and with the dihedral test-time
  average (the 8 flips and turns of the image, probabilities averaged: ``dihedral_maps``);
- the mean Dice on the fit's own training images (in-sample: tells under-fitting from over-fitting).

Folds: leave one image out over all pairs, then learning-curve fits on 1, 2 and 4 images drawn (seeded) from the
others, for the recipes named in ``--curve-recipes``. Each finished job is appended at once to the rows file
(``--json``'s name with ``.jsonl``), so a run stopped at its time budget keeps what it measured; the summary
table is printed from that file.

Run: ``rbc-bench annotate-fit-recipes --realdata ../shared/realdata --json runs/recipes.json --device cuda
--workers 8 --budget-s 420``. No recipe setting is chosen on a scored image: the numbers are
held-out estimates of each recipe as written below, all of them reported.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from queue import Empty

import numpy as np

from annotation.learned.fit import FitSettings
from benchmarks.toolkit.results import format_interval
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.stats import pooled_share_interval

LONG = FitSettings(epochs=100, validation_images=0)  # 2,000 batches, the last epoch kept


@dataclass(frozen=True)
class Recipe:
    name: str
    init: str | None  # "pretrained" (the packaged model) or None (a new network)
    settings: FitSettings
    why: str


RECIPES = {
    r.name: r
    for r in (
        Recipe("v2", "pretrained", FitSettings(), "today's default: 400 batches, 1 image held back, rehearsal 0.5"),
        Recipe("long", "pretrained", LONG, "5x the batches, no hold-back (last epoch), rehearsal 0.5"),
        Recipe("long-real", "pretrained", replace(LONG, rehearsal=0.0), "as long, every crop from the user's images"),
        Recipe("scratch-real", None, replace(LONG, rehearsal=0.0), "a new network on the user's images alone"),
        Recipe("scratch", None, LONG, "a new network, half of each batch synthetic (trains the centre head too)"),
        Recipe("scratch-wide", None, replace(LONG, base_width=24), "as scratch at twice the width"),
        Recipe("v2-slow", "pretrained", replace(FitSettings(), lr=1e-4), "today's default at a tenth of the rate"),
        Recipe("long-x2", "pretrained", replace(LONG, epochs=200), "as long with twice the batches"),
    )
}
CURVE_SIZES = (1, 2, 4)


@dataclass(frozen=True)
class Job:
    recipe: str
    held: int  # index of the held-out pair
    training: tuple[int, ...]  # indices of the pairs the fit sees
    kind: str  # "loo" or "curve"


def plan_jobs(n_pairs: int, *, recipes: list[str], curve_recipes: list[str], seed: int = 0) -> list[Job]:
    """Leave-one-out jobs of every recipe first, then the learning-curve jobs (one seeded draw per size)."""
    jobs = [Job(name, k, tuple(j for j in range(n_pairs) if j != k), "loo") for name in recipes for k in range(n_pairs)]
    rng = np.random.default_rng(seed)
    draws = {}
    for k in range(n_pairs):
        others = [j for j in range(n_pairs) if j != k]
        for size in CURVE_SIZES:
            if size < len(others):
                draws[k, size] = tuple(sorted(rng.choice(others, size=size, replace=False).tolist()))
    for name in curve_recipes:
        jobs += [Job(name, k, chosen, "curve") for (k, _), chosen in draws.items()]
    return jobs


def dihedral_maps(model, image: np.ndarray) -> np.ndarray:
    """The cell probability averaged over the image's 8 flips and quarter turns (each undone on its map)."""
    from annotation.learned.infer import predict_maps

    total = np.zeros(image.shape[:2], np.float64)
    for flip in (False, True):
        flipped = image[:, ::-1] if flip else image
        for turns in range(4):
            cell = predict_maps(model, np.ascontiguousarray(np.rot90(flipped, turns)), scale=1.0).cell
            cell = np.rot90(cell, -turns)
            total += cell[:, ::-1] if flip else cell
    return total / 8


def run_job(job: Job, *, pairs, rehearse, device: str, max_epochs: int = 0) -> dict:
    """Fit one job's recipe on its training pairs and score the held-out pair (``max_epochs``: a cap, 0: none)."""
    from annotation.learned.fit import fit_cell_model
    from annotation.learned.infer import predict_maps
    from annotation.learned.pretrain import PRETRAINED
    from annotation.metrics import cell_dice

    recipe = RECIPES[job.recipe]
    settings = replace(recipe.settings, epochs=min(recipe.settings.epochs, max_epochs or recipe.settings.epochs))
    init = PRETRAINED if recipe.init == "pretrained" else None
    held = pairs[job.held]
    with tempfile.TemporaryDirectory(prefix="rbc-recipe-") as tmp:
        result = fit_cell_model(
            [pairs[j] for j in job.training],
            out=Path(tmp) / "model",
            init=init,
            settings=settings,
            rehearse=rehearse,
            device=device,
        )
    model = result.model  # on ``device``, in eval mode
    in_sample = [cell_dice(predict_maps(model, pairs[j].image).mask(), pairs[j].targets.cell) for j in job.training]
    return asdict(job) | {
        "image": held.name,
        "annotated": len(job.training),
        "dice": cell_dice(predict_maps(model, held.image).mask(), held.targets.cell),
        "dice_dihedral": cell_dice(dihedral_maps(model, held.image) > 0.5, held.targets.cell),
        "in_sample_dice": float(np.mean(in_sample)),
        "epoch_kept": result.validation["epoch_kept"],
        "fit_seconds": round(result.seconds, 1),
    }


def _worker(queue, lock, *, realdata: str, device: str, out: str, deadline: float, max_epochs: int) -> None:
    import torch

    from annotation.learned.pretrain import rehearsal_smears
    from benchmarks.toolkit.annotate_fit import real_pairs

    torch.set_num_threads(1)
    pairs = real_pairs(Path(realdata))
    rehearse = rehearsal_smears()
    while time.time() < deadline:
        try:
            job = queue.get_nowait()
        except Empty:  # every job is taken
            return
        row = run_job(job, pairs=pairs, rehearse=rehearse, device=device, max_epochs=max_epochs)
        with lock, open(out, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        print(f"{job.kind} {job.recipe} {row['image']} ({row['annotated']}): Dice {row['dice']:.4f}", flush=True)


def summarise(rows: list[dict]) -> dict:
    """Per recipe: leave-one-out means (plain and dihedral, in-sample) and the learning curve's means."""
    summary = {}
    for name in dict.fromkeys(row["recipe"] for row in rows):
        loo = [row for row in rows if row["recipe"] == name and row["kind"] == "loo"]
        curve = [row for row in rows if row["recipe"] == name and row["kind"] == "curve"]
        summary[name] = {
            "why": RECIPES[name].why,
            "settings": asdict(RECIPES[name].settings),
            "init": RECIPES[name].init,
            "loo_images": len(loo),
            "loo_dice": float(np.mean([r["dice"] for r in loo])) if loo else None,
            # 95 % interval resampling the held-out images (rbc_dataset.stats.pooled_share_interval)
            "loo_dice_ci95": pooled_share_interval([r["dice"] for r in loo], [1] * len(loo)) if loo else None,
            "loo_dice_dihedral": float(np.mean([r["dice_dihedral"] for r in loo])) if loo else None,
            "in_sample_dice": float(np.mean([r["in_sample_dice"] for r in loo])) if loo else None,
            "curve": {
                size: float(np.mean([r["dice"] for r in curve if r["annotated"] == size]))
                for size in sorted({r["annotated"] for r in curve})
            },
        }
    return summary


def check_recipes(names: list[str]) -> None:
    """Raises UsageError naming the known recipes when a name is not one of them."""
    unknown = [name for name in names if name not in RECIPES]
    if unknown:
        raise UsageError(f"unknown recipe {', '.join(unknown)}: choose from {', '.join(RECIPES)}")


def _rows(result: dict) -> list[tuple[str, str]]:
    rows = []
    for name, part in result["recipes"].items():
        if part["loo_images"]:
            value = (
                f"{part['loo_dice']:.4f} {format_interval(part['loo_dice_ci95'])} ({part['loo_images']} images); "
                f"dihedral {part['loo_dice_dihedral']:.4f}; "
                f"in-sample {part['in_sample_dice']:.4f}"
            )
            rows.append((f"{name}: leave-one-out Dice", value))
        if part["curve"]:
            rows.append((f"{name}: curve", ", ".join(f"{k}: {v:.4f}" for k, v in part["curve"].items())))
    rows.append(("jobs done / planned", f"{result['jobs_done']} / {result['jobs_planned']}"))
    return rows


def run_recipes(
    *,
    realdata: Path,
    json_out: Path,
    recipes: list[str],
    curve_recipes: list[str],
    device: str = "cpu",
    workers: int = 1,
    budget_s: float = 3600.0,
    max_epochs: int = 0,
) -> dict:
    """Run the jobs in ``workers`` processes until done or ``budget_s`` passes; print the table, write
    ``json_out`` (the summary) and the rows beside it (``json_out`` with suffix ``.jsonl``).

    Raises:
        UsageError: an unknown recipe name.
        DataError: fewer than two AneRBC-I pairs under ``realdata``.
    """
    from benchmarks.toolkit.annotate_segment import anerbc_pairs
    from benchmarks.toolkit.results import report

    check_recipes(recipes + curve_recipes)
    n_pairs = len(anerbc_pairs(Path(realdata)))
    if n_pairs < 2:
        raise DataError(Path(realdata) / "AneRBC-I", "at least two image/mask pairs", f"{n_pairs}", "pass --realdata")
    lines = Path(json_out).with_suffix(".jsonl")
    lines.parent.mkdir(parents=True, exist_ok=True)
    lines.unlink(missing_ok=True)
    jobs = plan_jobs(n_pairs, recipes=recipes, curve_recipes=curve_recipes)
    context = multiprocessing.get_context("spawn")
    queue, lock = context.Queue(), context.Lock()
    for job in jobs:
        queue.put(job)
    options = {
        "realdata": str(realdata),
        "device": device,
        "out": str(lines),
        "deadline": time.time() + budget_s,
        "max_epochs": max_epochs,
    }
    processes = [context.Process(target=_worker, args=(queue, lock), kwargs=options) for _ in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    rows = [json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()] if lines.exists() else []
    result = {
        "benchmark": "annotation_fit_recipes",
        "realdata": str(realdata),
        "device": device,
        "max_epochs": max_epochs,
        "jobs_planned": len(jobs),
        "jobs_done": len(rows),
        "rows": str(lines),
        "recipes": summarise(rows),
    }
    report("annotate fit: recipes on the same leave-one-out folds", _rows(result), result=result, json_out=json_out)
    return result
