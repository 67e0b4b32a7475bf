"""``rbc-bench explain RUN``: Grad-CAM of a finished run's torch models on test tiles, checked two ways.

For each trained torch model of the run (one seed), the model is rebuilt with its registry factory and the
run's checkpoint, and its inputs are made as training made them (``resize_sample`` then ``model_input``). Written
into one folder, atomically (default ``RUN/explain``; nothing else of the run is touched):

- ``index.html``: per model and true class, the most confident correct and wrong decisions side by side
  (``gallery.choose_examples``), each tile beside its Grad-CAM overlay; the two sanity numbers on top;
- ``overlays/<model>/<sample id>.jpg``;
- ``explain.json``: the numbers, the examples, the settings and the notes shown on the page.

The tiles are from the test split the run already scored once. Explaining them selects nothing (no model,
epoch or threshold is chosen here) and changes no score; the page says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.explain.gallery import choose_examples, encode_jpeg, overlay, render_html
from benchmarks.explain.models import ExplainedModel, load_models, open_test_split
from benchmarks.explain.run_reader import RunInfo, TorchCase, decisions, read_run, torch_cases
from benchmarks.explain.sanity import RANDOMISATION_THRESHOLD, abnormal_mass, model_randomisation
from benchmarks.explain.truth import NORMAL_TYPE, TileTruth, tile_truth
from benchmarks.training.distributed import pick_device
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import atomic_directory, atomic_write_bytes, path_inside, safe_name, write_json
from rbc_dataset.progress import track

DEFAULT_FOLDER = "explain"  # RUN/explain unless --out says otherwise
RANDOM_INIT_SEED = 20180330  # seed of the re-initialised weights of the randomisation check
PROB_TOLERANCE = 1e-3  # recomputed vs the run's probability: above this the page says they differ


@dataclass(frozen=True)
class ExplainResult:
    """What ``explain_run`` wrote."""

    out: Path  # the gallery folder (index.html, explain.json, overlays/)
    summary: dict  # the content of explain.json
    seconds: float


def explain_run(
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    models: tuple[str, ...] = (),
    seed: int | None = None,
    examples: int = 2,
    max_items: int = 24,
    data: str | Path | None = None,
    device: str = "cpu",
    overwrite: bool = False,
    layers: dict[str, str] | None = None,
    show_progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> ExplainResult:
    """Explain the torch models of a finished run with Grad-CAM; write the gallery and the two sanity numbers.

    Args:
        run_dir: a finished run folder (``runs/<suite>/<timestamp>_<sha>``).
        out: the gallery folder (default ``RUN/explain``; elsewhere, nothing is written into the run).
        models: torch models of the run to explain (default: all of them).
        seed: training seed to explain (default: the lowest the run has).
        examples: tiles of each kind (correct, wrong) per true class and model.
        max_items: test tiles of the sanity checks (half per class, chosen by a fixed seed).
        data: the build, when it has moved since the run (its dataset.json must be the one the run read).
        device: cpu, cuda or auto.
        overwrite: replace an earlier gallery at ``out``.
        layers: model name -> module name of the feature map to explain (default: the last spatial map).
        show_progress: progress bars on stderr.
        log: called with one line per model when it is done.

    Raises:
        DataError: not a finished run, a run of the leaky demonstration (``--protocol leaky-tiles``), no checkpoint
            or predictions of a model, the build missing or changed.
        UsageError: unknown model or seed, bad counts, or an output that would land in the run's files or a build.
    """
    started = time.perf_counter()
    if examples < 1 or max_items < 2:
        raise UsageError(f"--examples must be >= 1 and --max-items >= 2, got {examples} and {max_items}")
    run = read_run(run_dir)
    _refuse_leaky(run)
    cases = torch_cases(run, models=tuple(models), seed=seed)
    out = Path(out) if out is not None else run.path / DEFAULT_FOLDER
    _check_output(out, run_path=run.path)
    view = open_test_split(run, data=data, out=out)
    sanity_ids = sanity_sample(view.table, n=max_items)
    context = _Context(view, device=pick_device(device), sanity_ids=sanity_ids, show=show_progress)
    summary = _summary_head(run, view, cases)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        for case in cases:
            chosen = (layers or {}).get(case.model)
            entry = _explain_case(case, run=run, context=context, tmp=tmp, examples=examples, layer=chosen)
            summary["models"][case.model] = entry
            if log is not None:
                log(_one_line(case.model, entry))
        summary["notes"] += _notes(summary, context.truth)
        summary["seconds"] = round(time.perf_counter() - started, 1)
        write_json(tmp / "explain.json", summary, default=str)
        atomic_write_bytes(tmp / "index.html", render_html(summary).encode("utf-8"))
    return ExplainResult(out, summary, seconds=summary["seconds"])


def _refuse_leaky(run: RunInfo) -> None:
    """A leaky-tiles run's test tiles were drawn from every split of its build: explaining the build's test split
    would show tiles the model trained on as if they were unseen, so such a run is refused."""
    from benchmarks.suite.leaky import LEAKY

    if run.config.get("protocol") == LEAKY:
        raise DataError(
            run.path / "config.yaml",
            "a run of the honest protocol (split by parent), whose test tiles were never trained on",
            f"a run of the leaky demonstration (protocol: {LEAKY}); tiles of its build's test split were in training",
            "explain a run made without --protocol (the default, parents)",
        )


def _check_output(out: Path, *, run_path: Path) -> None:
    """Inside the run, only a new direct sub-folder or an earlier gallery; never the run or a folder holding it."""
    target, run = out.resolve(), run_path.resolve()
    suggestion = run_path / DEFAULT_FOLDER
    if target == run or target in run.parents:
        raise UsageError(
            f"output {out} would replace the run folder {run_path}; choose a new folder such as {suggestion}"
        )
    if run not in target.parents:
        return
    if target.parent != run:
        raise UsageError(
            f"output {out} lies inside a folder of the run {run_path}; choose a new folder such as {suggestion}"
        )
    if out.exists() and not (out / "explain.json").is_file() and (out.is_file() or any(out.iterdir())):
        raise UsageError(
            f"output {out} is part of the run, not an earlier gallery (no explain.json); choose a new folder such as "
            f"{suggestion}"
        )


class _Context:
    """What every model's explanation shares: the test split, its decoded tiles, the truth, the device."""

    def __init__(self, view, *, device, sanity_ids: list[str], show: bool):
        self.view, self.device, self.sanity_ids, self.show = view, device, sanity_ids, show
        self.index = {sample_id: k for k, sample_id in enumerate(view.table["sample_id"])}
        self.dataset = view.dataset(with_mask=view.has_masks)
        self.tiles: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        self._truth, self._looked_up = TileTruth(), set()

    def tile(self, sample_id: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(stored RGB image (H, W, 3), canonical mask (H, W) or None), decoded once."""
        if sample_id not in self.tiles:
            sample = self.dataset[self.index[sample_id]]
            mask = sample["mask"].numpy()[0] if "mask" in sample else None
            self.tiles[sample_id] = (np.ascontiguousarray(sample["image"].numpy().transpose(1, 2, 0)), mask)
        return self.tiles[sample_id]

    @property
    def truth(self) -> TileTruth:
        """Synthetic truth of the sanity tiles and of every tile looked up so far."""
        return self.truth_of(self.sanity_ids)

    def truth_of(self, sample_ids: list[str]) -> TileTruth:
        """Synthetic truth of these tiles, each looked up once and kept for every model."""
        new = [sample_id for sample_id in sample_ids if sample_id not in self._looked_up]
        if new:
            found = tile_truth(self.view, {sample_id: self.tile(sample_id) for sample_id in new})
            self._truth.masks |= found.masks
            self._truth.skipped |= found.skipped
            self._truth.reason = None if self._truth.masks else found.reason
            self._looked_up.update(new)
        return self._truth


def sanity_sample(table, *, n: int) -> list[str]:
    """Up to ``n`` test tiles, half of each class, drawn with a fixed seed (the same tiles for every model)."""
    rng = np.random.default_rng(0)
    labels = table["label"].to_numpy()
    classes = np.unique(labels)
    chosen = []
    for label in classes:
        rows = np.flatnonzero(labels == label)
        chosen += rng.choice(rows, size=min(len(rows), math.ceil(n / len(classes))), replace=False).tolist()
    return [str(table["sample_id"].iloc[k]) for k in sorted(chosen)]


def _summary_head(run, view, cases: list[TorchCase]) -> dict:
    return {
        "run": str(run.path),
        "run_name": run.path.name,
        "test_build": str(view.built_dir),
        "data_config": view.config,
        "class_names": list(view.class_names),
        "n_test_tiles": len(view),
        "input_size": run.preset.input_size,
        "random_init_seed": RANDOM_INIT_SEED,
        "randomisation_threshold": RANDOMISATION_THRESHOLD,
        "abnormal_cells": f"synthetic cell types other than {NORMAL_TYPE} (the generator's normal discocyte)",
        "cases": [{"model": c.model, "seed": c.seed, "fold": c.fold, "checkpoint": c.checkpoint.name} for c in cases],
        "models": {},
        "notes": [
            "These tiles are from the test split the run already scored once (its predictions/*_test.csv). "
            "Explaining them selects nothing (no model, epoch or threshold is chosen here) and changes no score; "
            "do not tune a model on what this page shows and then report its test score again.",
        ],
    }


def _explain_case(case: TorchCase, *, run, context: _Context, tmp: Path, examples: int, layer: str | None) -> dict:
    """Gallery overlays, the randomisation check and the abnormal-cell mass of one model."""
    explained = load_models(case, run=run, device=context.device, random_seed=RANDOM_INIT_SEED)
    explained.show_progress = context.show
    table = decisions(case)
    explained.choose_layer(context.tile(context.sanity_ids[0]), layer)
    shown = choose_examples(table, per_kind=examples)
    entry = {"seed": case.seed, "fold": case.fold, "layer": explained.layer}
    entry["examples"], entry["prob_difference_max"] = _gallery(explained, shown, context=context, tmp=tmp)
    entry["feature_size"], entry["input_shape"] = list(explained.feature_size), list(explained.input_shape)
    entry["tile_shape"] = list(context.tile(context.sanity_ids[0])[0].shape[:2])
    predicted = table.set_index("sample_id")["pred"]
    entry["randomisation"] = model_randomisation(
        explained.attribute,
        trained=explained.trained,
        randomised=explained.randomised,
        inputs=[context.tile(s) for s in context.sanity_ids],
        targets=[int(predicted.get(s, 0)) for s in context.sanity_ids],
    )
    entry["abnormal_mass"] = _abnormal_mass(explained, context)
    return entry


def _gallery(explained: ExplainedModel, shown, *, context: _Context, tmp: Path) -> tuple[list[dict], float | None]:
    """Write one overlay per shown tile; the examples for the page and the largest |recomputed - run's prob|."""
    folder = path_inside(tmp, "overlays", safe_name(explained.spec.name))
    folder.mkdir(parents=True, exist_ok=True)
    truth, entries, differences = context.truth_of(list(shown["sample_id"])), [], []
    rows = track(
        shown.itertuples(index=False), len(shown), description=f"{explained.spec.name}: gallery", show=context.show
    )
    for row in rows:
        tile = context.tile(row.sample_id)
        maps = explained.cam(explained.trained, tile, target=int(row.pred))
        differences.append(abs(float(maps.probs[0, 1]) - float(row.prob)))
        abnormal = truth.masks.get(row.sample_id, (None, None))[0]
        name = f"{safe_name(row.sample_id)}.jpg"
        path_inside(folder, name).write_bytes(encode_jpeg(overlay(tile[0], maps.maps[0], abnormal=abnormal)))
        entries.append(
            {
                "sample_id": row.sample_id,
                "parent_id": row.parent_id,
                "label": int(row.label),
                "pred": int(row.pred),
                "prob": float(row.prob),
                "kind": row.kind,
                "overlay": f"overlays/{folder.name}/{name}",
            }
        )
    return entries, max(differences) if differences else None


def _abnormal_mass(explained: ExplainedModel, context: _Context) -> dict:
    """Mass of the anaemic class's map on abnormal cells of the anaemic sanity tiles, against their area."""
    from benchmarks.suite.split_data import anaemic_label

    anaemic = anaemic_label(context.view.class_names)
    if anaemic is None:
        return {"reason": f"the build names no anaemic class (classes: {', '.join(context.view.class_names)})"}
    truth = context.truth
    if truth.reason is not None:
        return {"reason": truth.reason}
    labels = context.view.table.set_index("sample_id")["label"]
    ids = [s for s in context.sanity_ids if s in truth.masks and int(labels[s]) == anaemic]
    if not ids:
        return {"reason": "no anaemic test tile among the checked ones has usable truth"}
    maps = []
    for sample_id in track(ids, len(ids), description=f"{explained.spec.name}: anaemic tiles", show=context.show):
        image = context.tile(sample_id)[0]
        cam = explained.cam(explained.trained, context.tile(sample_id), target=anaemic).maps[0]
        maps.append(cv2.resize(cam, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR))
    result = abnormal_mass(maps, [truth.masks[s] for s in ids])
    result["class_explained"] = context.view.class_names[anaemic]
    return result


def _notes(summary: dict, truth: TileTruth) -> list[str]:
    notes = []
    for name, entry in summary["models"].items():
        (h, w), (ih, iw), (th, tw) = entry["feature_size"], entry["input_shape"], entry["tile_shape"]
        notes.append(
            f"{name}: the map explained is {entry['layer']}, {h}x{w} for a {ih}x{iw} input, upsampled to the tile; "
            f"one map cell covers about {th / h:.0f}x{tw / w:.0f} pixels of the {th}x{tw} tile shown, so the map "
            "cannot point at anything smaller than that."
        )
        difference = entry["prob_difference_max"]
        if difference is not None and difference > PROB_TOLERANCE:
            notes.append(
                f"{name}: the probabilities recomputed here differ from the run's by up to {difference:.3f} "
                "(another CPU, thread count or bf16 autocast in the run); the captions show the run's."
            )
    if truth.reason is not None:
        notes.append(f"Attribution on abnormal cells is not available: {truth.reason}.")
    elif truth.skipped:
        reasons = "; ".join(sorted(set(truth.skipped.values())))
        notes.append(f"{len(truth.skipped)} tiles shown or checked have no usable truth: {reasons}.")
    return notes


def _one_line(model: str, entry: dict) -> str:
    check, mass = entry["randomisation"], entry["abnormal_mass"]
    rho = "n/a" if check["spearman_mean"] is None else f"{check['spearman_mean']:.3f}"
    verdict = {True: "pass", False: "FAIL", None: "n/a"}[check["passed"]]
    ratio = mass.get("ratio")
    share = "n/a" if ratio is None else f"{mass['mass_on_abnormal']:.3f} on {mass['abnormal_area']:.3f} of the area"
    return f"{model}: randomisation rho {rho} ({verdict}); abnormal cells {share}"
