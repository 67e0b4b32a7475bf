"""Does fitting the cell model on a few annotated images beat thresholding on images the fit never saw?

Data: the real AneRBC-I image/mask pairs under ``REALDATA/AneRBC-I`` (masks binarised as grey < 128, as
``annotate_segment`` reads them; cell-class Dice only). Every number is measured on a held-out image:

- **leave one image out**: for each pair, the model is fitted on all the others (starting from ``init``, the
  pretrained model) and scored on it, next to Otsu + fill + speck removal and the training-free ``propose``;
  the missed-cell share (true cell pixels predicted as background) is given per image, the anaemic images'
  pale cells being where thresholds miss most;
- **learning curve**: mean Dice against the number of annotated images the fit saw (0 = ``init`` alone), on
  the first ``curve_folds`` held-out images, each size drawn at random (seeded) from the other images;
- **instances**: with the model fitted on all pairs, BCCD RBC box recall at IoU 0.5 and Chula point recall, each
  with its merge rate, next to the training-free instances;
- **speed**: wall time of the fit on all pairs, and full images proposed per second by the fitted model.

Run: ``rbc-bench annotate-fit --realdata ../shared/realdata --json OUT.json``. Nothing is fitted to the test
image of a fold. Fits use the ``FitSettings`` a user gets: one of the fold's own training images is held back to
choose the epoch (the starting model, epoch 0, included), and half of every batch rehearses 4 synthetic smears
(``rehearsal_smears``, drawn once per benchmark run); no choice is made on a scored image.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from annotation.images import load_rgb
from annotation.learned.fit import AnnotatedImage, FitSettings, fit_cell_model
from annotation.learned.infer import decode_instances, predict_maps
from annotation.learned.targets import targets_from_mask
from annotation.metrics import cell_dice as dice
from annotation.propose import propose_mask
from benchmarks.toolkit.annotate_segment import (
    anerbc_pairs,
    bench_bccd,
    bench_chula,
    otsu_fill_speck,
    training_free_instances,
)
from benchmarks.toolkit.results import format_interval, report
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import read_image
from rbc_dataset.masks import to_gray
from rbc_dataset.stats import pooled_share_interval

METHODS = ("learned", "propose", "otsu_fill_speck")
CURVE_SIZES = (0, 1, 2, 4, 7)
BENCH_SETTINGS = FitSettings()


def real_pairs(realdata: Path) -> list[AnnotatedImage]:
    """The AneRBC-I pairs of ``realdata`` as annotated images (truth: mask grey < 128), named class/file."""
    annotated = []
    for image_path, mask_path in anerbc_pairs(realdata):
        truth = to_gray(read_image(mask_path)) < 128
        name = f"{image_path.parent.parent.name}/{image_path.name}"
        annotated.append(AnnotatedImage(name, load_rgb(image_path), targets_from_mask(truth)))
    return annotated


def missed_share(pred: np.ndarray, true: np.ndarray) -> float:
    """True cell pixels predicted as background, over all true cell pixels."""
    return float((true & ~pred).sum() / max(int(true.sum()), 1))


def score_image(pred: dict[str, np.ndarray], item: AnnotatedImage) -> dict:
    """Dice and missed-cell share of each method's mask on one held-out image."""
    true = item.targets.cell
    row = {"image": item.name, "anaemic": item.name.startswith("Anemic")}
    for method, mask in pred.items():
        row[f"dice_{method}"] = dice(mask, true)
        row[f"missed_{method}"] = missed_share(mask, true)
    return row


def _fit(images: list[AnnotatedImage], *, init, settings: FitSettings, folder: Path, rehearse=None):
    """A fit into a scratch folder, or the ``init`` model itself when there is no image to fit on."""
    from annotation.learned.model_folder import load_model

    if not images:
        return (load_model(init) if init is not None else None), 0.0
    result = fit_cell_model(images, out=folder, init=init, settings=settings, rehearse=rehearse)
    return result.model, result.seconds


def leave_one_out(
    pairs: list[AnnotatedImage], *, init, settings: FitSettings, work: Path, log, rehearse=None
) -> list[dict]:
    """One fold per pair: fit on the others, score the learned mask and both baselines on the pair."""
    rows = []
    for k, held in enumerate(pairs):
        others = [item for j, item in enumerate(pairs) if j != k]
        model, seconds = _fit(others, init=init, settings=settings, folder=work / f"loo{k}", rehearse=rehearse)
        masks = {
            "learned": predict_maps(model, held.image).mask(),
            "propose": propose_mask(held.image),
            "otsu_fill_speck": otsu_fill_speck(held.image),
        }
        rows.append(score_image(masks, held) | {"fit_seconds": round(seconds, 1), "fit_images": len(others)})
        log(f"fold {k + 1}/{len(pairs)} {held.name}: Dice learned {rows[-1]['dice_learned']:.4f}")
    return rows


def learning_curve(
    pairs: list[AnnotatedImage],
    *,
    init,
    settings: FitSettings,
    work: Path,
    sizes,
    folds: int,
    loo: list[dict],
    log,
    rehearse=None,
) -> list[dict]:
    """Dice on each of the first ``folds`` held-out images after fitting on ``size`` images drawn from the rest."""
    rows = []
    rng = np.random.default_rng(settings.seed)
    for k, held in enumerate(pairs[:folds]):
        others = [item for j, item in enumerate(pairs) if j != k]
        for size in sizes:
            if size >= len(others) and loo:  # every other image: the leave-one-out fit of this fold
                rows.append({"image": held.name, "annotated": len(others), "dice": loo[k]["dice_learned"]})
                continue
            chosen = [others[i] for i in sorted(rng.choice(len(others), size=min(size, len(others)), replace=False))]
            model, _ = _fit(chosen, init=init, settings=settings, folder=work / f"curve{k}_{size}", rehearse=rehearse)
            if model is None:  # no image and no init: an untrained network has no curve point
                continue
            dice_value = dice(predict_maps(model, held.image).mask(), held.targets.cell)
            rows.append({"image": held.name, "annotated": len(chosen), "dice": dice_value})
            log(f"curve {held.name}, {len(chosen)} annotated: Dice {dice_value:.4f}")
    return rows


def summarise_loo(rows: list[dict]) -> dict:
    """Means per method with 95 % image-bootstrap intervals, the learned mask minus Otsu + fill (mean and
    interval), the share of images where the learned mask beats Otsu + fill, missed share in anaemia."""
    anaemic = [row for row in rows if row["anaemic"]]
    ones = [1] * len(rows)
    gains = [row["dice_learned"] - row["dice_otsu_fill_speck"] for row in rows]
    return {
        "images": len(rows),
        "mean_dice": {m: float(np.mean([row[f"dice_{m}"] for row in rows])) for m in METHODS},
        "mean_dice_ci95": {m: pooled_share_interval([row[f"dice_{m}"] for row in rows], ones) for m in METHODS},
        "learned_minus_otsu_fill": {"mean": float(np.mean(gains)), "ci95": pooled_share_interval(gains, ones)},
        "share_learned_better_than_otsu_fill": float(
            np.mean([row["dice_learned"] > row["dice_otsu_fill_speck"] for row in rows])
        ),
        "missed_share_anaemic": {
            m: float(np.mean([row[f"missed_{m}"] for row in anaemic])) if anaemic else None for m in METHODS
        },
    }


def summarise_curve(rows: list[dict]) -> dict[int, float]:
    sizes = sorted({row["annotated"] for row in rows})
    return {size: float(np.mean([row["dice"] for row in rows if row["annotated"] == size])) for size in sizes}


def curve_against_start(rows: list[dict]) -> dict[int, dict]:
    """Each curve point minus point 0 (the starting model alone), paired by held-out image: the mean difference
    and its 95 % image-bootstrap interval; {} without a point 0. Whether annotated images help, beyond the noise
    of which images were held out."""
    start = {row["image"]: row["dice"] for row in rows if row["annotated"] == 0}
    out = {}
    for size in sorted({row["annotated"] for row in rows} - {0}):
        gains = [
            row["dice"] - start[row["image"]] for row in rows if row["annotated"] == size and row["image"] in start
        ]
        if gains:
            out[size] = {"mean": float(np.mean(gains)), "ci95": pooled_share_interval(gains, [1] * len(gains))}
    return out


def propose_speed(model, images: list[np.ndarray]) -> dict:
    """Full images per second through the fitted model (maps and mask; the image is already decoded)."""
    start = time.perf_counter()
    for image in images:
        predict_maps(model, image).mask()
    seconds = time.perf_counter() - start
    return {"images": len(images), "seconds": round(seconds, 2), "images_per_s": len(images) / seconds}


def learned_instances(model, *, baselines: bool = True):
    """``instances(image)`` for ``bench_chula`` / ``bench_bccd``: the learned model's, next to the training-free
    ones unless ``baselines`` is False (they do not depend on the model)."""

    def instances(image: np.ndarray) -> dict[str, np.ndarray]:
        learned = {"learned": decode_instances(predict_maps(model, image))}
        return learned | training_free_instances(image) if baselines else learned

    return instances


def _fold_rows(loo: dict) -> list[tuple[str, str]]:
    m = loo["mean_dice"]
    rows = [
        (
            f"AneRBC-I Dice, leave one image out ({loo['images']} real)",
            f"learned {m['learned']:.4f} | propose {m['propose']:.4f} | Otsu+fill {m['otsu_fill_speck']:.4f}; "
            f"learned better than Otsu+fill on {loo['share_learned_better_than_otsu_fill']:.0%}",
        ),
        (
            "learned minus Otsu+fill, mean Dice [95 % image-bootstrap interval]",
            f"{loo['learned_minus_otsu_fill']['mean']:+.4f} {format_interval(loo['learned_minus_otsu_fill']['ci95'])}",
        ),
    ]
    missed = loo["missed_share_anaemic"]
    if missed["learned"] is not None:
        rows.append(("missed cell pixels, anaemic images", " | ".join(f"{k} {v:.4f}" for k, v in missed.items())))
    return rows


def _rows(result: dict) -> list[tuple[str, str]]:
    rows = _fold_rows(result["leave_one_out"]) if result["leave_one_out"] else []
    curve = result["learning_curve"]["mean_dice"]
    if curve:
        rows.append(("learning curve (annotated images: Dice)", ", ".join(f"{k}: {v:.4f}" for k, v in curve.items())))
    gains = result["learning_curve"].get("minus_start") or {}
    if gains:
        text = ", ".join(f"{k}: {v['mean']:+.4f} {format_interval(v['ci95'])}" for k, v in gains.items())
        rows.append(("curve minus 0 annotated, same held-out image [95 %]", text))
    for name in ("bccd", "chula"):
        part = result[name]
        if part:
            key = "recall" if name == "bccd" else "one_point_share"
            rows.append(
                (
                    f"{name} {key} [95 % image-bootstrap interval] / merged share",
                    " | ".join(
                        f"{k} {part[k][key]:.4f} {format_interval(part[k][key + '_ci95'])} / "
                        f"{part[k]['merged_share']:.4f}"
                        for k in ("learned", "ours")
                    ),
                )
            )
    fit_all = result["fit_all"]
    rows.append(("fit on all pairs", f"{fit_all['seconds'] / 60:.1f} min ({fit_all['images']} images)"))
    speed = result["propose_speed"]
    rows.append(("propose --model", f"{speed['images_per_s']:.2f} full images/s ({speed['images']} images)"))
    return rows


def run_fit_bench(
    realdata: Path,
    json_out: Path,
    *,
    init: Path | None,
    settings: FitSettings = BENCH_SETTINGS,
    curve_sizes: tuple[int, ...] = CURVE_SIZES,
    curve_folds: int = 4,
    folds: bool = True,
    log=print,
) -> dict:
    """Leave-one-out, learning curve, instances on BCCD and Chula, speed; print the table and write ``json_out``.

    ``folds=False`` skips the leave-one-out folds and the learning curve: only the fit on all pairs, its wall
    time, proposal speed and instances are measured (minutes instead of the folds' hour on 2 cores).

    Raises:
        DataError: fewer than two AneRBC-I pairs under ``realdata``.
    """
    from annotation.learned.pretrain import rehearsal_for

    realdata = Path(realdata)
    pairs = real_pairs(realdata)
    if len(pairs) < 2:
        raise DataError(realdata / "AneRBC-I", "at least two image/mask pairs", f"{len(pairs)}", "pass --realdata")
    rehearse = rehearsal_for(settings)
    with tempfile.TemporaryDirectory(prefix="rbc-fit-bench-") as tmp:
        work = Path(tmp)
        loo = leave_one_out(pairs, init=init, settings=settings, work=work, log=log, rehearse=rehearse) if folds else []
        curve = learning_curve(
            pairs,
            init=init,
            settings=settings,
            work=work,
            sizes=curve_sizes,
            folds=curve_folds if folds else 0,
            loo=loo,
            log=log,
            rehearse=rehearse,
        )
        model, seconds = _fit(pairs, init=init, settings=settings, folder=work / "all", rehearse=rehearse)
        result = {
            "benchmark": "annotation_fit",
            "realdata": str(realdata),
            "init": str(init),
            "settings": settings.__dict__,
            "rehearsal_images": len(rehearse),
            "leave_one_out": (summarise_loo(loo) | {"per_image": loo}) if loo else None,
            "learning_curve": {
                "mean_dice": summarise_curve(curve),
                "minus_start": curve_against_start(curve),
                "per_fold": curve,
                "folds": curve_folds,
            },
            "fit_all": {"images": len(pairs), "seconds": round(seconds, 1)},
            "propose_speed": propose_speed(model, [item.image for item in pairs]),
            "bccd": bench_bccd(realdata, instances=learned_instances(model)),
            "chula": bench_chula(realdata, instances=learned_instances(model)),
        }
    title = "annotate fit: learned masks and instances on held-out real images"
    report(title, _rows(result), result=result, json_out=json_out)
    return result
