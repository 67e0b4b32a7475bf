"""``rbc-bench annotate-pretrain``: how the pretraining recipe changes the packaged cell model on real images.

An arm is a pretraining recipe: how the smears are drawn (cell overlap ``synth --cell-overlap``, largest defocus
halo ``--defocus``, rounded cell edges ``--rounded-edge``; 0: as AneRBC, in focus, flat to the outline) and how the
crops are augmented (the colour jitter's largest hue turn ``FitSettings.hue_turn``, None: the fit's default, 0.5:
any hue; the zoom ``FitSettings.zoom``, 0: native size only). For every arm and every synthetic seed: draw the
pretraining smears as ``make pretrained`` does (20 per class, or ``n_images``), pretrain a new cell model on them
with ``PRETRAIN_SETTINGS``, and score that model alone (no fit on real images) on real data it never saw:

- AneRBC-I: cell-class Dice of each shared pair (truth: the release mask at grey < 128), and the predicted cell
  area over the masks' (whether the model draws cells wider or narrower than the annotators);
- BCCD: RBC box recall at IoU 0.5 and the merge rate of its instances;
- Chula: cell points alone in one instance, and the merge rate.

Every score comes with a 95 % interval that resamples whole images, and each row keeps the per-image counts behind
it, so two runs on the same images are compared image by image (``compare_runs``). ``run_score_bench``
(``rbc-bench annotate-score``) scores existing model folders the same way, without pretraining.

The same seed draws the same smears' colours and cell shapes in every arm, so the arms are compared pair by pair
against the first. Several seeds, because a model pretrained on one draw of smears reads BCCD and Chula, stains and
scales it never saw, very differently from a model pretrained on another draw: one seed per setting cannot tell
a setting's effect from that spread.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from annotation.learned.fit import FitSettings
from benchmarks.toolkit.results import format_interval, report
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.stats import pooled_share_interval

PRETRAIN_IMAGES = 20  # smears per class, as `make pretrained` draws them


@dataclass(frozen=True)
class Arm:
    """One pretraining recipe: how the smears are drawn (cell overlap, defocus, rounded cell edges) and how the
    crops are augmented (the colour jitter's largest hue turn, the zoom)."""

    overlap: float
    hue_turn: float | None = None  # None: the fit's default (colour_jitter / 8)
    zoom: float = 0.0
    defocus: float = 0.0
    rounded_edge: float = 0.0

    @property
    def label(self) -> str:
        hue = "default" if self.hue_turn is None else self.hue_turn
        extras = {"zoom": self.zoom, "defocus": self.defocus, "rounded edge": self.rounded_edge}
        return f"overlap {self.overlap}, hue {hue}" + "".join(f", {k} {v}" for k, v in extras.items() if v)

    @property
    def smears_name(self) -> str:
        """What tells this arm's smears apart (arms that differ only in hue or zoom share them)."""
        return f"overlap{self.overlap}_defocus{self.defocus}_edge{self.rounded_edge}"

    @property
    def folder_name(self) -> str:
        return f"{self.smears_name}_hue{self.hue_turn}_zoom{self.zoom}"

    def synth_config(self):
        """The ``SynthConfig`` fields this arm sets (refuses values out of range)."""
        from rbc_dataset.synth.config import SynthConfig

        return SynthConfig(cell_overlap=self.overlap, defocus=self.defocus, rounded_edge=self.rounded_edge)

    def settings(self, base: FitSettings) -> FitSettings:
        """``base`` with this arm's hue turn and zoom (refuses values out of range)."""
        return replace(base, hue_turn=self.hue_turn, zoom=self.zoom)

    @classmethod
    def parse(cls, text: str) -> Arm:
        """``OVERLAP/HUE[/ZOOM[/DEFOCUS[/EDGE]]]``: ``0.35/0.5``, ``0.35/0.5/0.25``, ``0.35/0.5/0/0.8``,
        ``0.35/0.5/0/0/0.12``, ``0/default`` (or just ``0``)."""
        parts = text.strip().split("/")
        if len(parts) <= 5:
            overlap, hue, *rest = parts + [""] * (5 - len(parts))
            try:
                hue_turn = None if hue in ("", "default") else float(hue)
                return cls(float(overlap), hue_turn, *(float(value or 0) for value in rest))
            except ValueError:
                pass
        expected = "OVERLAP/HUE[/ZOOM[/DEFOCUS[/EDGE]]] such as 0.35/0.5, 0.35/0.5/0.25 or 0/default"
        raise UsageError(f"--arms: expected {expected}, got {text!r}")


def score_model(model, realdata: Path) -> dict:
    """A cell model alone on the real images: AneRBC-I Dice per pair, BCCD boxes and Chula points."""
    from annotation.learned.infer import predict_maps
    from annotation.metrics import cell_dice
    from benchmarks.toolkit.annotate_fit import learned_instances, real_pairs
    from benchmarks.toolkit.annotate_segment import bench_bccd, bench_chula

    instances = learned_instances(model, baselines=False)  # the training-free ones are the same for every model
    dice, area_ratio = {}, {}
    for pair in real_pairs(realdata):
        mask = predict_maps(model, pair.image).mask()
        dice[pair.name] = cell_dice(mask, pair.targets.cell)
        area_ratio[pair.name] = float(mask.sum() / max(int(pair.targets.cell.sum()), 1))
    bccd, chula = bench_bccd(realdata, instances=instances), bench_chula(realdata, instances=instances)
    bccd, chula = (part["learned"] if part else {} for part in (bccd, chula))
    return {
        "anerbc_dice": float(np.mean(list(dice.values()))) if dice else None,
        "anerbc_dice_ci95": pooled_share_interval(list(dice.values()), [1] * len(dice)) if dice else None,
        "anerbc_dice_per_image": dice,
        # above 1: the model draws more cell than the masks (wider cells, or filled gaps), below 1: less
        "anerbc_area_ratio": float(np.mean(list(area_ratio.values()))) if area_ratio else None,
        "bccd_recall": bccd.get("recall"),
        "bccd_recall_ci95": bccd.get("recall_ci95"),
        "bccd_merged": bccd.get("merged_share"),
        "bccd_per_image": bccd.get("per_image"),  # {image: [boxes matched, boxes]}
        "chula_one_point": chula.get("one_point_share"),
        "chula_one_point_ci95": chula.get("one_point_share_ci95"),
        "chula_merged": chula.get("merged_share"),
        "chula_per_image": chula.get("per_image"),  # {image: [points alone in one instance, points]}
    }


def run_score_bench(*, realdata: Path, models: list[Path], json_out: Path, log=print) -> dict:
    """Cell-model folders alone on the real images (no fit, no pretraining), each against the first on the same
    images: the scores of ``score_model`` with image-bootstrap intervals, and paired differences with theirs.

    Raises:
        UsageError: no model.
        DataError: a folder that is not a cell model, or ``realdata`` holding none of the three data sets.
    """
    from annotation.learned.model_folder import load_model

    if not models:
        raise UsageError("give at least one --cell-model folder")
    if len({Path(folder).resolve() for folder in models}) < len(models):
        raise UsageError("--cell-model: each folder once (a model against itself differs by nothing)")
    _check_realdata(Path(realdata))
    loaded = [load_model(folder) for folder in models]  # every folder checked before the first is scored
    rows = []
    for folder, model in zip(models, loaded, strict=True):
        rows.append({"arm": str(folder), "seed": 0} | score_model(model, Path(realdata)))
        log(f"{folder}: {rows[-1]['bccd_recall']} BCCD, {rows[-1]['chula_one_point']} Chula")
    summary = summarise(rows)
    result = {"benchmark": "annotation_models", "realdata": str(realdata), "rows": rows, "summary": summary}
    report("cell models alone on real images", _model_rows(rows, summary), result=result, json_out=json_out)
    return result


def compare_runs(*, base: Path, other: Path) -> dict:
    """Two saved ``annotate-pretrain`` runs on the same images, each arm of ``other`` against the same arm and seed
    of ``base`` (a recipe change that is not an arm: smears per class, epochs): ``summarise``'s paired differences,
    with image-bootstrap intervals where both runs kept per-image counts. Arms are named ``<file stem>: <arm>``.

    Raises:
        DataError: a file that is not an ``annotate-pretrain`` result, or no arm and seed the two runs share.
    """
    runs = {}
    for path in (Path(base), Path(other)):
        saved = json.loads(path.read_text()) if path.is_file() else {}
        if saved.get("benchmark") != "annotation_pretrain":
            raise DataError(path, "the JSON of `rbc-bench annotate-pretrain`", "something else", "pass its --json file")
        runs[path] = [r | {"arm": f"{path.stem}: {r['arm']}", "recipe": r["arm"]} for r in saved["rows"]]
    base_rows, other_rows = runs.values()
    shared = {(r["recipe"], r["seed"]) for r in base_rows} & {(r["recipe"], r["seed"]) for r in other_rows}
    if not shared:
        raise DataError(other, f"an arm and seed also in {base}", "none", "compare runs of the same arms and seeds")
    summaries = {}
    for recipe in dict.fromkeys(r["recipe"] for r in other_rows):
        rows = [r for r in base_rows + other_rows if r["recipe"] == recipe and (recipe, r["seed"]) in shared]
        if rows:
            summaries[recipe] = summarise(rows)
    return summaries


def _check_realdata(realdata: Path) -> None:
    if not any((realdata / name).is_dir() for name in ("AneRBC-I", "BCCD_Dataset", "Chula-RBC-12-Dataset")):
        raise DataError(
            realdata, "AneRBC-I/, BCCD_Dataset/ or Chula-RBC-12-Dataset/", "none of them", "pass --realdata"
        )


def pretrain_and_score(
    *, arm: Arm, seed: int, realdata: Path, work: Path, settings: FitSettings, n_images: int
) -> dict:
    """One job: synthetic smears drawn as the arm says with ``seed``, a new model pretrained on them, its scores."""
    from annotation.learned.pretrain import pretrain

    folder = work / f"{arm.folder_name}_seed{seed}"
    synthetic = _smears(work, arm=arm, seed=seed, n_images=n_images)
    start = time.perf_counter()
    result = pretrain(synthetic, out=folder / "model", settings=arm.settings(settings))
    row = {"arm": arm.label, **asdict(arm), "seed": seed}
    row["pretrain_seconds"] = round(time.perf_counter() - start, 1)
    row["synthetic_validation_dice"] = result.validation.get("mean_dice")  # the 2 held-back synthetic smears
    return row | score_model(result.model, realdata)


def _smears(work: Path, *, arm: Arm, seed: int, n_images: int) -> Path:
    """The pretraining smears of one way of drawing them and one seed, drawn once and shared by the arms that
    differ only in hue or zoom."""
    from rbc_dataset.api import synthesize

    folder = work / f"smears_{arm.smears_name}_seed{seed}"
    if not folder.is_dir():
        config = replace(arm.synth_config(), n_images=n_images, seed=seed, with_tiles=False)
        synthesize(folder, config=config)
    return folder


METRICS = ("anerbc_dice", "bccd_recall", "chula_one_point")


def summarise(rows: list[dict]) -> dict:
    """Per arm: the mean and range of each score over seeds; per arm against the first (same seed): the mean
    difference and in how many seeds the score rose."""
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    by = {(r["arm"], r["seed"]): r for r in rows}
    out: dict = {"per_arm": {}, "paired_against": arms[0], "paired": {}}
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        out["per_arm"][arm] = {m: _spread([r[m] for r in mine]) for m in METRICS} | {
            "seeds": sorted(r["seed"] for r in mine)
        }
        if arm != arms[0]:
            pairs = [(r, by[(arms[0], r["seed"])]) for r in mine if (arms[0], r["seed"]) in by]
            out["paired"][arm] = {m: _paired(pairs, m) for m in METRICS}
    return out


def _spread(values: list) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "min": None, "max": None}
    return {"mean": float(np.mean(values)), "min": float(min(values)), "max": float(max(values))}


# Each score's per-image counts in a row: {image: [hits, total]} or {image: Dice} (a total of 1)
PER_IMAGE = {
    "anerbc_dice": "anerbc_dice_per_image",
    "bccd_recall": "bccd_per_image",
    "chula_one_point": "chula_per_image",
}


def _paired(pairs: list[tuple[dict, dict]], metric: str) -> dict:
    differences = [a[metric] - b[metric] for a, b in pairs if a[metric] is not None and b[metric] is not None]
    return {
        "mean_difference": float(np.mean(differences)) if differences else None,
        "seeds_up": sum(d > 0 for d in differences),
        "seeds": len(differences),
        "ci95": _paired_interval(pairs, metric),
    }


def _paired_interval(pairs: list[tuple[dict, dict]], metric: str) -> tuple[float, float] | None:
    """95 % image-bootstrap interval of the mean difference over seeds (the same images resampled in every seed):
    how far the difference could move on other images like these, not between retrains. None where a row lacks
    per-image counts (runs saved before they were kept)."""
    key = PER_IMAGE[metric]
    tables = [(a.get(key), b.get(key)) for a, b in pairs]
    if not tables or any(not a or not b or a.keys() != b.keys() for a, b in tables):
        return None
    images = sorted(tables[0][0])
    if any(sorted(a) != images for a, _ in tables):
        return None

    def counts(table: dict, image: str) -> tuple[float, float]:
        value = table[image]
        return (value, 1.0) if np.isscalar(value) else (value[0], value[1])

    hits = [np.mean([counts(a, i)[0] - counts(b, i)[0] for a, b in tables]) for i in images]
    totals = [counts(tables[0][0], i)[1] for i in images]
    return pooled_share_interval(hits, totals)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _fmt_ci(interval) -> str:
    """`` [low, high]`` of a 95 % interval, or nothing where a run has none."""
    return f" {format_interval(interval)}" if interval else ""


def _scores(r: dict) -> str:
    """One row's scores with their 95 % image-bootstrap intervals."""
    return (
        f"AneRBC Dice {_fmt(r['anerbc_dice'])}{_fmt_ci(r.get('anerbc_dice_ci95'))} | "
        f"BCCD {_fmt(r['bccd_recall'])}{_fmt_ci(r.get('bccd_recall_ci95'))} (merged {_fmt(r['bccd_merged'])}) | "
        f"Chula {_fmt(r['chula_one_point'])}{_fmt_ci(r.get('chula_one_point_ci95'))} (merged {_fmt(r['chula_merged'])})"
    )


def _differences(paired: dict, *, seeds: bool) -> str:
    """Paired mean differences with their image-bootstrap intervals (and in how many seeds the score rose)."""
    return " | ".join(
        f"{m} {_fmt(p['mean_difference'])}{_fmt_ci(p.get('ci95'))}"
        + (f" (up in {p['seeds_up']} of {p['seeds']})" if seeds else "")
        for m, p in paired.items()
    )


def _rows(rows: list[dict], summary: dict) -> list[tuple[str, str]]:
    table = [(f"{r['arm']}, seed {r['seed']}", _scores(r)) for r in rows]
    for arm, scores in summary["per_arm"].items():
        means = " | ".join(f"{m} {_fmt(scores[m]['mean'])}" for m in METRICS)
        table.append((f"{arm}: mean of {len(scores['seeds'])} seeds", means))
    for arm, paired in summary["paired"].items():
        table.append((f"{arm} minus {summary['paired_against']}, same seed", _differences(paired, seeds=True)))
    return table


def _model_rows(rows: list[dict], summary: dict) -> list[tuple[str, str]]:
    table = [(r["arm"], _scores(r)) for r in rows]
    for model, paired in summary["paired"].items():
        table.append((f"{model} minus {summary['paired_against']}", _differences(paired, seeds=False)))
    return table


def run_pretrain_bench(
    *,
    realdata: Path,
    json_out: Path,
    arms: list[Arm],
    seeds: list[int],
    settings: FitSettings | None = None,
    n_images: int = PRETRAIN_IMAGES,
    epochs: int | None = None,
    log=print,
) -> dict:
    """Every arm x seed job in turn (each uses the cores itself); print the table and write ``json_out``.

    ``epochs`` overrides the settings' epochs (None: theirs, ``PRETRAIN_SETTINGS`` as ``make pretrained``).

    Raises:
        UsageError: no arm, no seed, or any of an arm's values out of range (before any job runs).
        DataError: ``realdata`` holds none of AneRBC-I, BCCD, Chula (nothing to score on).
    """
    from annotation.learned.pretrain import PRETRAIN_SETTINGS

    if not arms or not seeds:
        raise UsageError("give at least one --arms value and one --synth-seeds value")
    settings = settings or PRETRAIN_SETTINGS
    settings = settings if epochs is None else replace(settings, epochs=epochs)
    for arm in arms:  # refused before the first job, not after an hour of them
        arm.synth_config()
        arm.settings(settings)
    realdata = Path(realdata)
    _check_realdata(realdata)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rbc-pretrain-bench-") as tmp:
        for seed in seeds:
            for arm in arms:
                job = {"arm": arm, "seed": seed, "realdata": realdata, "work": Path(tmp), "settings": settings}
                rows.append(pretrain_and_score(**job, n_images=n_images))
                log(f"{arm.label}, seed {seed}: {rows[-1]}")
    summary = summarise(rows)
    result = {
        "benchmark": "annotation_pretrain",
        "realdata": str(realdata),
        "synthetic_images_per_class": n_images,
        "settings": settings.__dict__,
        "rows": rows,
        "summary": summary,
    }
    title = "annotate pretrain: pretraining recipes against real images (each model alone)"
    report(title, _rows(rows, summary), result=result, json_out=json_out)
    return result
