"""``rbc-bench annotate-pretrain``: how the synthetic pretraining set changes the packaged cell model on real images.

For every cell overlap (``synth --cell-overlap``) and every synthetic seed: draw the pretraining smears as
``make pretrained`` does, pretrain a new cell model on them, and score that model alone (no fit on real images)
on real data it never saw:

- AneRBC-I: cell-class Dice of each shared pair (truth: the release mask at grey < 128);
- BCCD: RBC box recall at IoU 0.5 and the merge rate of its instances;
- Chula: cell points alone in one instance, and the merge rate.

The same seed draws the same cells at both overlaps up to where placement differs, so the overlaps are compared
pair by pair. Several seeds, because a model pretrained on one draw of smears reads BCCD and Chula, stains and
scales it never saw, very differently from a model pretrained on another draw: one seed per setting cannot tell
a setting's effect from that spread.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from annotation.learned.fit import FitSettings
from benchmarks.toolkit.results import report
from rbc_dataset.errors import DataError, UsageError

PRETRAIN_IMAGES = 20  # smears per class, as `make pretrained` draws them


def score_model(model, realdata: Path) -> dict:
    """A cell model alone on the real images: AneRBC-I Dice per pair, BCCD boxes and Chula points."""
    from annotation.learned.infer import decode_instances, predict_maps
    from annotation.metrics import cell_dice
    from benchmarks.toolkit.annotate_fit import real_pairs
    from benchmarks.toolkit.annotate_segment import bench_bccd, bench_chula

    def instances(image: np.ndarray) -> dict[str, np.ndarray]:
        return {"learned": decode_instances(predict_maps(model, image))}

    dice = {p.name: cell_dice(predict_maps(model, p.image).mask(), p.targets.cell) for p in real_pairs(realdata)}
    bccd, chula = bench_bccd(realdata, instances=instances), bench_chula(realdata, instances=instances)
    return {
        "anerbc_dice": float(np.mean(list(dice.values()))) if dice else None,
        "anerbc_dice_per_image": dice,
        "bccd_recall": bccd["learned"]["recall"] if bccd else None,
        "bccd_merged": bccd["learned"]["merged_share"] if bccd else None,
        "chula_one_point": chula["learned"]["one_point_share"] if chula else None,
        "chula_merged": chula["learned"]["merged_share"] if chula else None,
    }


def pretrain_and_score(
    *, overlap: float, seed: int, realdata: Path, work: Path, settings: FitSettings | None, n_images: int
) -> dict:
    """One job: synthetic smears at ``overlap`` and ``seed``, a new model pretrained on them, its scores."""
    from annotation.learned.pretrain import pretrain
    from rbc_dataset.api import synthesize

    folder = work / f"overlap{overlap}_seed{seed}"
    synthesize(folder / "synthetic", n_images=n_images, seed=seed, with_tiles=False, cell_overlap=overlap)
    start = time.perf_counter()
    result = pretrain(folder / "synthetic", out=folder / "model", settings=settings)
    row = {"overlap": overlap, "seed": seed, "pretrain_seconds": round(time.perf_counter() - start, 1)}
    row["synthetic_validation_dice"] = result.validation.get("mean_dice")  # the 2 held-back synthetic smears
    return row | score_model(result.model, realdata)


METRICS = ("anerbc_dice", "bccd_recall", "chula_one_point")


def summarise(rows: list[dict]) -> dict:
    """Per overlap: the mean and range of each score over seeds; per overlap against the first, the paired
    differences (same seed) and in how many seeds the score rose."""
    overlaps = sorted({r["overlap"] for r in rows})
    by = {(r["overlap"], r["seed"]): r for r in rows}
    out: dict = {"per_overlap": {}, "paired_against": overlaps[0], "paired": {}}
    for overlap in overlaps:
        mine = [r for r in rows if r["overlap"] == overlap]
        out["per_overlap"][overlap] = {
            m: {
                "mean": _mean([r[m] for r in mine]),
                "min": _min([r[m] for r in mine]),
                "max": _max([r[m] for r in mine]),
            }
            for m in METRICS
        } | {"seeds": sorted(r["seed"] for r in mine)}
        if overlap == overlaps[0]:
            continue
        pairs = [
            (by[(overlap, s)], by[(overlaps[0], s)])
            for s in sorted({r["seed"] for r in mine})
            if (overlaps[0], s) in by
        ]
        out["paired"][overlap] = {
            m: {
                "mean_difference": _mean([a[m] - b[m] for a, b in pairs if a[m] is not None and b[m] is not None]),
                "seeds_up": sum(a[m] > b[m] for a, b in pairs if a[m] is not None and b[m] is not None),
                "seeds": len(pairs),
            }
            for m in METRICS
        }
    return out


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _min(values):
    values = [v for v in values if v is not None]
    return float(min(values)) if values else None


def _max(values):
    values = [v for v in values if v is not None]
    return float(max(values)) if values else None


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _rows(rows: list[dict], summary: dict) -> list[tuple[str, str]]:
    table = [
        (
            f"overlap {r['overlap']}, seed {r['seed']}",
            f"AneRBC Dice {_fmt(r['anerbc_dice'])} | BCCD {_fmt(r['bccd_recall'])} (merged {_fmt(r['bccd_merged'])}) | "
            f"Chula {_fmt(r['chula_one_point'])} (merged {_fmt(r['chula_merged'])})",
        )
        for r in rows
    ]
    for overlap, scores in summary["per_overlap"].items():
        table.append(
            (
                f"overlap {overlap}, mean of {len(scores['seeds'])} seeds",
                " | ".join(f"{m} {_fmt(scores[m]['mean'])}" for m in METRICS),
            )
        )
    for overlap, paired in summary["paired"].items():
        table.append(
            (
                f"overlap {overlap} - {summary['paired_against']}, same seed",
                " | ".join(
                    f"{m} {_fmt(p['mean_difference'])} (up in {p['seeds_up']} of {p['seeds']})"
                    for m, p in paired.items()
                ),
            )
        )
    return table


def run_pretrain_bench(
    *,
    realdata: Path,
    json_out: Path,
    overlaps: list[float],
    seeds: list[int],
    settings: FitSettings | None = None,
    n_images: int = PRETRAIN_IMAGES,
    log=print,
) -> dict:
    """Every overlap x seed job in turn (each uses the cores itself); print the table and write ``json_out``.

    Raises:
        UsageError: no overlap or no seed.
        DataError: ``realdata`` holds none of AneRBC-I, BCCD, Chula (nothing to score on).
    """
    from rbc_dataset.synth.config import SynthConfig

    if not overlaps or not seeds:
        raise UsageError("give at least one --overlaps value and one --synth-seeds value")
    for overlap in overlaps:  # refused before the first job, not after an hour of them
        SynthConfig(cell_overlap=overlap)
    realdata = Path(realdata)
    if not any((realdata / name).is_dir() for name in ("AneRBC-I", "BCCD_Dataset", "Chula-RBC-12-Dataset")):
        raise DataError(
            realdata, "AneRBC-I/, BCCD_Dataset/ or Chula-RBC-12-Dataset/", "none of them", "pass --realdata"
        )
    rows = []
    with tempfile.TemporaryDirectory(prefix="rbc-pretrain-bench-") as tmp:
        for seed in seeds:
            for overlap in overlaps:
                row = pretrain_and_score(
                    overlap=overlap, seed=seed, realdata=realdata, work=Path(tmp), settings=settings, n_images=n_images
                )
                log(f"overlap {overlap} seed {seed}: {row}")
                rows.append(row)
    summary = summarise(rows)
    result = {
        "benchmark": "annotation_pretrain",
        "realdata": str(realdata),
        "synthetic_images_per_class": n_images,
        "settings": (settings.__dict__ if settings else "PRETRAIN_SETTINGS"),
        "rows": rows,
        "summary": summary,
    }
    title = "annotate pretrain: the pretraining set against real images (the model alone)"
    report(title, _rows(rows, summary), result=result, json_out=json_out)
    return result
