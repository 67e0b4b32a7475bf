"""The training loop: stages, epochs, steps; bf16 autocast, channels-last, optional compile and DDP; checkpoints.

Checkpoints hold tensors and plain values only and are read back with ``torch.load(weights_only=True)``. They are
written after every epoch (to a temporary name, then renamed), so a killed run resumes at the next epoch and, with
the per-epoch data order of ``epoch_order``, continues as if it had never stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from benchmarks.training.augment import AugmentSettings, augment_batch
from benchmarks.training.batches import epoch_order, model_input
from benchmarks.training.presets import Preset
from benchmarks.training.stages import Stage, StageRecord, stage_finished
from rbc_dataset.errors import DataError
from rbc_dataset.progress import track

# validate(model) -> {(task, head): validation balanced accuracy}; computed by the caller on the validation split.
Validate = Callable[[torch.nn.Module], dict[tuple[str, str], float]]


@dataclass(frozen=True)
class TrainContext:
    """Where and how one case (model x seed) trains."""

    device: torch.device
    preset: Preset
    seed: int
    with_mask: bool  # the model takes the mask as a fourth channel
    rank: int = 0  # DDP process index (0 without DDP)
    world_size: int = 1
    show_progress: bool = True
    log: Callable[[str], None] = print

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` through a temporary file, so a kill never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    torch.save(payload, partial)
    os.replace(partial, path)


# What every checkpoint of ``_save`` holds.
CHECKPOINT_KEYS = ("model", "optimizer", "stage_index", "records", "best_state", "best_score", "best_epoch", "cpu_rng")


def load_checkpoint(path: Path) -> dict:
    """A checkpoint written by ``save_checkpoint`` (weights and plain values only).

    Raises:
        DataError: naming the file, for anything else: pickled objects (refused by ``weights_only=True``, so no
            code in the file ever runs), a truncated or corrupt file, or a file without a checkpoint's entries.
    """
    expected = "a checkpoint written by rbc-bench (tensors and plain values, read with torch.load(weights_only=True))"
    fix = _checkpoint_fix(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, OSError, RuntimeError, EOFError, ValueError, TypeError, AttributeError) as error:
        lines = str(error).strip().splitlines()
        reason = next((line.strip() for line in lines if "Unsupported global" in line), lines[0] if lines else "")
        reason = reason.split(". ")[0]  # torch goes on to explain how to allow-list classes: not advice to give
        raise DataError(path, expected, f"a file torch cannot read ({type(error).__name__}: {reason})", fix) from error
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise DataError(path, expected, f"a {type(state).__name__} without {', '.join(missing)}", fix)
    return state


def _checkpoint_fix(path: Path) -> str:
    return f"delete {path} to train this case again from the start (it holds no result yet), or start a new run"


def _restore(model: torch.nn.Module, state: dict, n_stages: int, path: Path) -> list[StageRecord]:
    """Load a checkpoint's weights into ``model`` and return its stage records; DataError when they do not fit."""
    try:
        model.load_state_dict(state["model"])
        records = [_record(r) for r in state["records"]]
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [""])[0]
        raise DataError(
            path,
            "a checkpoint of this model",
            f"one that does not fit it ({type(error).__name__}: {reason})",
            _checkpoint_fix(path),
        ) from error
    if len(records) != n_stages or not 0 <= state["stage_index"] < n_stages:
        found = f"{len(records)} stages"
        raise DataError(path, f"a checkpoint of {n_stages} training stages", found, _checkpoint_fix(path))
    return records


def _record(data: dict) -> StageRecord:
    names = {f.name for f in dataclasses.fields(StageRecord)}
    return StageRecord(**{k: v for k, v in data.items() if k in names})


def _all_reduce(values: list[float], ctx: TrainContext) -> list[float]:
    if ctx.world_size == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=ctx.device if ctx.device.type == "cuda" else "cpu")
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def _broadcast_state(model: torch.nn.Module, ctx: TrainContext) -> None:
    """Give every DDP process rank 0's weights (after rank 0 alone chose an epoch on validation)."""
    if ctx.world_size > 1:
        for tensor in model.state_dict().values():
            torch.distributed.broadcast(tensor, src=0)


def _wrap(model: torch.nn.Module, ctx: TrainContext) -> torch.nn.Module:
    """The module the steps call: DDP around the model when distributed, compiled when the preset says so."""
    net = model
    if ctx.world_size > 1:
        device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        # Heads of other stages are in the graph but not in this stage's loss.
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)
    return torch.compile(net) if ctx.preset.compile else net


def run_epoch(net, model, *, stage: Stage, optimizer, source, order: np.ndarray, ctx: TrainContext, title: str):
    """One pass over ``order``; returns (mean loss, training accuracy) over all processes."""
    model.train()
    autocast = torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=ctx.preset.bf16)
    totals = [0.0, 0.0, 0.0, 0.0]  # loss sum, steps, correct, counted
    steps = math.ceil(len(order) / ctx.preset.batch_size)
    for batch in track(
        source.batches(order, ctx.preset.batch_size), steps, description=title, show=ctx.show_progress and ctx.is_main
    ):
        inputs = training_input(batch, ctx.preset, device=ctx.device, with_mask=ctx.with_mask)
        targets = {key: batch[key].to(ctx.device, non_blocking=True) for key in ("label", "severity")}
        with autocast:
            outputs = net(inputs)
        loss, correct, counted = stage.objective(outputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals = [totals[0] + float(loss.detach()), totals[1] + 1, totals[2] + correct, totals[3] + counted]
    loss_sum, n_steps, correct, counted = _all_reduce(totals, ctx)
    return loss_sum / max(n_steps, 1), (correct / counted if counted else float("nan"))


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, source, *, ctx: TrainContext) -> None:
    """Recompute the running statistics of the BatchNorm layers that train, as exact averages over the training set.

    Running statistics are a moving average that lags behind fast-changing weights: after the few hundred steps of
    a short training, a model that is right in training mode can put every sample in one class in eval mode.
    One forward pass with momentum ``None`` (cumulative average) removes the lag, as ``swa_utils.update_bn`` does
    for averaged weights. Layers of frozen tiers are in eval mode and keep their statistics.
    """
    model.train()
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training]
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    autocast = torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=ctx.preset.bf16)
    # An exact average over a few hundred samples is as good as over all of them, and whole tiles cost more than crops.
    order = epoch_order(len(source), ctx.seed, epoch=0, rank=ctx.rank, world_size=ctx.world_size)
    order = order[: max(1, ctx.preset.bn_samples // ctx.world_size)]
    for batch in source.batches(order, ctx.preset.predict_batch_size):
        with autocast:
            model(
                model_input(
                    batch,
                    ctx.device,
                    size=ctx.preset.input_size,
                    with_mask=ctx.with_mask,
                    channels_last=ctx.preset.channels_last,
                )
            )
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum


def augment_settings(preset: Preset) -> AugmentSettings:
    """The preset's augmentation (recorded in config.yaml with the rest of the preset)."""
    return AugmentSettings(
        crop_size=preset.crop_size,
        flips=preset.flips,
        scale_jitter=preset.scale_jitter,
        colour_jitter=preset.colour_jitter,
    )


def training_input(batch: dict, preset: Preset, *, device: torch.device, with_mask: bool) -> torch.Tensor:
    """A training batch augmented as the preset says (crops, flips, turns, jitter), as model input on ``device``."""
    settings = augment_settings(preset)
    return model_input(
        augment_batch(batch, settings),
        device,
        size=preset.build_size if settings.crop_size else preset.input_size,
        with_mask=with_mask,
        channels_last=preset.channels_last,
    )


def _optimizer(parameters, ctx: TrainContext) -> torch.optim.Optimizer:
    return torch.optim.AdamW(parameters, lr=ctx.preset.lr, weight_decay=ctx.preset.weight_decay)


def _scheduler(optimizer, stage: Stage, ctx: TrainContext):
    """Cosine annealing to 0 over the stage's epochs (stepped once per epoch), or a constant rate."""
    if ctx.preset.lr_schedule == "constant":
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=stage.max_epochs)


def selection_score(stage: Stage, scores: dict) -> tuple[float, str]:
    """(score to maximise, what it is) for ``stage`` from ``validate``'s scores.

    The validation balanced accuracy, or, where it is undefined (one class in the validation split), minus the
    validation loss, which is defined with one class: an epoch is never chosen on NaN.
    """
    key = (stage.select_task, stage.select_head)
    accuracy = scores.get(key, float("nan"))
    if accuracy == accuracy:
        return accuracy, "balanced accuracy"
    return -scores.get((f"{stage.select_task}/loss", stage.select_head), float("nan")), "loss"


def _selection_score(stage: Stage, validate: Validate | None, model, ctx: TrainContext) -> tuple[float, str] | None:
    """Rank 0's validation score, handed to every DDP process: early stopping ends the stage everywhere at once."""
    if stage.select_task is None or validate is None:
        return None
    scored = [selection_score(stage, validate(model)) if ctx.is_main else None]
    if ctx.world_size > 1:
        torch.distributed.broadcast_object_list(scored, src=0)
    return scored[0]


def train_stages(
    model: torch.nn.Module,
    stages: list[Stage],
    *,
    source,
    ctx: TrainContext,
    checkpoint: Path | None = None,
    validate: Validate | None = None,
) -> list[StageRecord]:
    """Train ``model`` through ``stages`` on ``source`` (training split), resuming from ``checkpoint`` if present.

    Returns:
        One record per stage: epochs, training accuracy per epoch, whether a tier reached its threshold, the
        validation score per epoch and the epoch kept where the stage selects on validation.
    """
    state = load_checkpoint(checkpoint) if checkpoint is not None and checkpoint.is_file() else None
    records = [StageRecord(s.name, threshold=s.threshold) for s in stages]
    if state is not None:
        records = _restore(model, state, len(stages), checkpoint)
        ctx.log(f"resumed from {checkpoint} at stage {state['stage_index'] + 1}/{len(stages)}")
    for index, stage in enumerate(stages):
        if records[index].done:
            continue
        resume = state if state is not None and state["stage_index"] == index else None
        _train_stage(
            model,
            stage,
            index=index,
            records=records,
            source=source,
            ctx=ctx,
            checkpoint=checkpoint,
            validate=validate,
            resume=resume,
        )
    return records


def _train_stage(
    model, stage: Stage, *, index, records, source, ctx: TrainContext, checkpoint, validate, resume
) -> None:
    record = records[index]
    optimizer = _optimizer(stage.prepare(model), ctx)
    scheduler = _scheduler(optimizer, stage, ctx)
    best = {"score": -math.inf, "state": None, "epoch": None}
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        if resume.get("scheduler"):
            scheduler.load_state_dict(resume["scheduler"])
        best = {"score": resume["best_score"], "state": resume["best_state"] or None, "epoch": resume["best_epoch"]}
        torch.set_rng_state(resume["cpu_rng"])
    net = _wrap(model, ctx)
    while not stage_finished(stage, record):
        epoch = record.epochs + 1
        order = epoch_order(len(source), ctx.seed * 1000 + index, epoch=epoch, rank=ctx.rank, world_size=ctx.world_size)
        title = f"seed {ctx.seed} {stage.name} epoch {epoch}/{stage.max_epochs}"
        loss, accuracy = run_epoch(
            net, model, stage=stage, optimizer=optimizer, source=source, order=order, ctx=ctx, title=title
        )
        record.learning_rate.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
        record.train_loss.append(loss)
        record.train_accuracy.append(accuracy)
        if stage.select_task is not None or stage_finished(stage, replace(record)):
            recalibrate_batchnorm(model, source, ctx=ctx)  # before the model is judged or the next stage builds on it
        scored = _selection_score(stage, validate, model, ctx)
        if scored is not None:
            score, record.selected_on = scored
            record.validation_score.append(score)
            if score > best["score"]:
                best = {"score": score, "state": copy.deepcopy(model.state_dict()), "epoch": epoch}
        ctx.log(f"{title}: loss {loss:.4f}, training accuracy {accuracy:.3f}" + _scored(scored))
        if ctx.is_main and checkpoint is not None:
            _save(checkpoint, model, optimizer=optimizer, index=index, records=records, best=best, scheduler=scheduler)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
        record.selected_epoch = best["epoch"]
    _broadcast_state(model, ctx)
    record.done = True
    if ctx.is_main and checkpoint is not None:
        _save(
            checkpoint,
            model,
            optimizer=optimizer,
            index=index,
            records=records,
            best={"score": -math.inf, "state": None, "epoch": None},
        )


def _scored(scored: tuple[float, str] | None) -> str:
    if scored is None:
        return ""
    score, basis = scored
    return f", validation {basis} {score if basis != 'loss' else -score:.3f}"


def _save(path: Path, model, *, optimizer, index: int, records: list[StageRecord], best: dict, scheduler=None) -> None:
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "stage_index": index,
        "records": [dataclasses.asdict(r) for r in records],
        "best_state": best["state"] or {},
        "best_score": float(best["score"]),
        "best_epoch": best["epoch"],
        "cpu_rng": torch.get_rng_state(),  # dropout masks continue where they stopped
    }
    save_checkpoint(path, payload)


@torch.no_grad()
def predict(model: torch.nn.Module, source, *, ctx: TrainContext) -> dict[str, np.ndarray]:
    """Probability of class 1 per output head for every sample of ``source``, in order.

    A model returning one logits tensor gives ``{"global": ...}``; a dict of logits gives one entry per key.
    """
    model.eval()
    autocast = torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=ctx.preset.bf16)
    collected: dict[str, list[np.ndarray]] = {}
    for batch in source.batches(np.arange(len(source)), ctx.preset.predict_batch_size):
        inputs = model_input(
            batch,
            ctx.device,
            size=ctx.preset.input_size,
            with_mask=ctx.with_mask,
            channels_last=ctx.preset.channels_last,
        )
        with autocast:
            outputs = model(inputs)
        outputs = outputs if isinstance(outputs, dict) else {"global": outputs}
        for key, logits in outputs.items():
            collected.setdefault(key, []).append(torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy())
    return {key: np.concatenate(parts) for key, parts in collected.items()}
