"""Training throughput (images/s) fed by the real shard loader against tensors already in memory.

Both paths run the same training steps (forward, loss, backward, AdamW step) of a model at the preset's input size
and batch size; only where batches come from differs:

- ``memory``: every sample decoded and resized once beforehand (``MemorySource``), batches are tensor slices;
- ``loader``: ``HDF5RBCDataset`` (or Parquet) in a ``DataLoader`` with the preset's workers and pinned memory
  (``LoaderSource``), shards decoded and resized per sample in the workers.

The loader is not the bottleneck when ``loader`` reaches at least 90 % of ``memory``. A few warm-up steps (workers
starting, first allocations, compile) are left out of both timings.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.catalog import get_model
from benchmarks.toolkit.results import report
from benchmarks.training.batches import LoaderSource, load_memory_source
from benchmarks.training.data import open_split
from benchmarks.training.distributed import pick_device, thread_plan, torch_threads
from benchmarks.training.loop import training_input
from benchmarks.training.presets import Preset
from rbc_dataset.errors import UsageError
from rbc_dataset.loaders import HDF5RBCDataset

TARGET_RATIO = 0.9  # loader-fed images/s over in-memory images/s
WARMUP_STEPS = 3


def _train_steps(model, batches, *, steps: int, preset: Preset, device, with_mask: bool) -> float:
    """Images/s over ``steps`` training steps after the warm-up (the batches iterator must hold enough)."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=preset.lr)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=preset.bf16)
    model.train()
    images, start = 0, None
    for step, batch in enumerate(batches):
        if step == WARMUP_STEPS:
            if device.type == "cuda":
                torch.cuda.synchronize()
            images, start = 0, time.perf_counter()
        inputs = training_input(batch, preset, device=device, with_mask=with_mask)
        labels = batch["label"].to(device, non_blocking=True)
        with autocast:
            outputs = model(inputs)
        logits = outputs["global"] if isinstance(outputs, dict) else outputs
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        images += len(labels)
        if step + 1 == WARMUP_STEPS + steps:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return images / (time.perf_counter() - start)


def _order(n: int, needed: int, seed: int = 0) -> np.ndarray:
    """``needed`` shuffled indices, cycling through the split as often as it takes."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(n) for _ in range(-(-needed // n))])[:needed]


def _check_torch_model(name: str) -> None:
    spec = get_model(name)
    if spec.family not in ("tiered", "cnn"):
        raise UsageError(f"train-speed measures torch classifiers; {name} is a {spec.family} model")


def _model(name: str, preset: Preset, device):
    spec = get_model(name)
    torch.manual_seed(0)
    model = spec.factory(num_classes=2, input_size=preset.build_size, weights_path=None).to(device)
    if preset.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return torch.compile(model) if preset.compile else model


def measure_model(name: str, memory, *, loader, preset: Preset, device, steps: int, repeats: int = 1, log=None) -> dict:
    """Images/s of one model fed from memory and from the loader (same steps, same batch size, same samples).

    With ``repeats`` > 1 the two sources alternate and the fastest pass of each counts: on a shared machine the
    slower passes measure the neighbours. ``log`` gets one line per pass (a long measurement shows it is alive).
    """
    with_mask = get_model(name).needs_mask
    order = _order(len(memory[with_mask]), (steps + WARMUP_STEPS) * preset.batch_size)
    speeds = {"memory": [], "loader": []}
    for repeat in range(repeats):
        for kind, sources in (("memory", memory), ("loader", loader)):
            model = _model(name, preset, device)
            batches = sources[with_mask].batches(order, preset.batch_size)
            speeds[kind].append(
                _train_steps(model, batches, steps=steps, preset=preset, device=device, with_mask=with_mask)
            )
            if log is not None:
                log(f"{name} {kind} pass {repeat + 1}/{repeats}: {speeds[kind][-1]:.1f} img/s")
    best = {kind: max(values) for kind, values in speeds.items()}
    return {
        "model": name,
        "memory_img_s": best["memory"],
        "loader_img_s": best["loader"],
        "ratio": best["loader"] / best["memory"],
        "passes": speeds,
    }


def _measure_all(data: Path, models, *, preset: Preset, steps: int, repeats: int, fmt: str, progress: bool):
    """(one row per model, device): both sources built once, then every model measured."""
    view = open_split(data, split="train", config="model", fmt=fmt)
    device = pick_device(preset.device)
    masks = sorted({get_model(name).needs_mask for name in models})
    memory = {m: load_memory_source(view, preset.input_size, with_mask=m, show_progress=progress) for m in masks}
    pin = preset.pin_memory and device.type == "cuda"
    loader = {
        m: LoaderSource(view, m, num_workers=preset.num_workers, pin_memory=pin, size=preset.input_size) for m in masks
    }
    log = _stderr_log if progress else None
    rows = [
        measure_model(name, memory, loader=loader, preset=preset, device=device, steps=steps, repeats=repeats, log=log)
        for name in models
    ]
    return rows, device


def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_train_speed(
    data: Path,
    models: tuple[str, ...],
    *,
    preset: Preset,
    steps: int,
    json_out: Path,
    repeats: int = 1,
    fmt: str = "hdf5",
    threads: int = 0,
    progress: bool = False,
) -> dict:
    """Measure every model and write the table and JSON (see the module docstring).

    ``threads`` > 0 sets the training process's threads for the measurement; 0 chooses them as ``rbc-bench run``
    does (the cores left after the loader workers). ``progress`` draws the decoding and logs every timed pass.
    """
    for name in models:
        _check_torch_model(name)
    plan = thread_plan(dataclasses.replace(preset, torch_threads=threads, data_mode="loader"))
    with torch_threads(plan["torch_threads"]):
        rows, device = _measure_all(
            data, models, preset=preset, steps=steps, repeats=repeats, fmt=fmt, progress=progress
        )
        measured_threads = torch.get_num_threads()
    table = [
        (
            f"{r['model']}: memory / loader img/s",
            f"{r['memory_img_s']:.1f} / {r['loader_img_s']:.1f} ({r['ratio']:.0%})",
        )
        for r in rows
    ]
    met = all(r["ratio"] >= TARGET_RATIO for r in rows)
    table.append((f"loader >= {TARGET_RATIO:.0%} of memory for every model", "yes" if met else "no"))
    result = {
        "benchmark": "train_speed",
        "data": str(Path(data).resolve()),
        "split": "train",
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "preset": dataclasses.asdict(preset),
        "steps": steps,
        "repeats": repeats,
        "torch_threads": measured_threads,
        "threads": plan,
        "hdf5_codec": HDF5RBCDataset.from_build(data, config="model", split="train").codec if fmt == "hdf5" else None,
        "warmup_steps": WARMUP_STEPS,
        "rows": rows,
        "target_ratio": TARGET_RATIO,
        "target_met": met,
    }
    report(f"Training throughput, {preset.name} preset on {device}", table, result=result, json_out=json_out)
    return result
