"""The segmentation suite of ``rbc-bench``: cell-class Dice / IoU and instance AP on the build's test split.

Protocol (docs/RBC_BENCH.md):

- ``unet``: for each seed, a ``SmallUNet`` is trained on ``train`` (BCE + soft Dice, Adam, random flips) at
  ``input_size`` (images resized by area averaging, masks by nearest neighbour, on the fly). After every epoch the
  pooled cell-class Dice on ``validation`` is computed; the epoch with the best one is kept (the earliest on a
  tie). Selection never looks at the test split.
- ``propose``: ``annotate propose`` on each test image at its native resolution; no training, so one row (seed 0).
- Only once every seed is trained is the test split opened, once, and read in a single pass that scores every
  model on every image. Each selected checkpoint is therefore evaluated exactly once.

Scores are of the cell class (cell = 1), never of the background (the AneRBC paper's Dice 0.983 is the
background's; ANERBC.md). Per model and seed, on test:

- ``dice`` / ``iou``: pooled over all pixels of the split; ``dice_per_image`` / ``iou_per_image``: the mean of the
  per-image scores of ``benchmarks.evaluation.metrics.segmentation_metrics``; an image where truth and prediction
  are both empty scores NaN there and is left out of the mean (NaN if every image is).
- ``ap50`` / ``ap75``: ``TP / (TP + FP + FN)`` at IoU 0.5 / 0.75 (``annotation.metrics.average_precision``) with
  TP, FP and FN summed over the images, on instance maps that ``annotation.instances.split_cells`` makes of the
  true and of the predicted mask.
- Resolution: the U-Net is scored at ``input_size``, against the true mask resized the same way (nearest
  neighbour), and its instances are split there; at small sizes cells are a few pixels wide, so AP mostly
  measures how well touching cells survive the down-sampling. ``dice_native`` / ``iou_native`` score the U-Net's
  logits up-sampled bilinearly to the native size against the native mask. ``propose`` is scored natively.

Outputs under ``out_dir``: ``predictions/<model>/seed<S>_test_masks.npz`` (``masks`` uint8 (N, h, w) 0/1 at the
evaluation resolution, ``sample_ids``; the U-Net's also ``masks_native``) and ``checkpoints/unet/seed<S>.pt``
(the selected weights, a ``state_dict``). One config of a build has one image size, so the masks stack.

On a GPU the U-Net's bilinear up-sampling has a non-deterministic backward pass; on the CPU a seed reproduces a run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from benchmarks.evaluation.metrics import segmentation_metrics
from benchmarks.models.unet import normalise, segmentation_loss
from benchmarks.training.batches import resize_sample
from benchmarks.training.data import SplitView
from rbc_dataset.errors import DataError, UsageError, check_choice

MODELS = ("unet", "propose")
AP_THRESHOLDS = (0.5, 0.75)
MASKS_FIX = "rebuild from masks: `rbc-dataset build ROOT --out DIR` with an input that has Binary_segmented masks"


@dataclass(frozen=True)
class SegmentationSettings:
    """How the segmentation suite trains and evaluates."""

    input_size: int = 64  # side (px) the U-Net sees: images resized by area, masks by nearest neighbour
    epochs: int = 3  # U-Net training epochs; the one with the best validation cell Dice is kept
    batch_size: int = 8  # U-Net batch size (training, validation and test)
    lr: float = 1e-3  # Adam learning rate
    seeds: tuple[int, ...] = (0,)  # one U-Net per seed (propose needs none)
    device: str = "cpu"  # torch device of the U-Net: cpu, cuda, cuda:1, ...
    num_workers: int = 0  # DataLoader worker processes (also run propose and the instance split of the test)
    models: tuple[str, ...] = MODELS  # which of MODELS to run

    def __post_init__(self):
        for name in ("input_size", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"segmentation settings: {name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise UsageError(f"segmentation settings: lr must be > 0, got {self.lr}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise UsageError(f"segmentation settings: seeds must be distinct and at least one, got {self.seeds}")
        if self.num_workers < 0:
            raise UsageError(f"segmentation settings: num_workers must be >= 0, got {self.num_workers}")
        if not self.models:
            raise UsageError(f"segmentation settings: models is empty; valid choices: {', '.join(MODELS)}")
        for name in self.models:
            check_choice("segmentation model", name, choices=MODELS)


@dataclass
class TrainedUNet:
    """The checkpoint selected on validation for one seed."""

    seed: int
    state: dict  # state_dict of the selected epoch, on the CPU
    selected_epoch: int  # 1-based
    validation_dice: float  # pooled cell Dice on validation at that epoch
    history: list = field(default_factory=list)  # (epoch, mean training loss, validation Dice) per epoch


class ResizedPair:
    """Dataset transform for training and validation: the sample's image and mask at ``size`` (a class, so it
    pickles into DataLoader workers)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, sample: dict) -> dict:
        # cv2 (inside resize_sample) wants a contiguous (H, W, 3) array, not a transposed view of (3, H, W).
        image = np.ascontiguousarray(sample["image"].numpy().transpose(1, 2, 0))
        image, mask = resize_sample(image, sample["mask"].numpy()[0], size=self.size)
        return {"image": torch.from_numpy(image.transpose(2, 0, 1).copy()), "mask": torch.from_numpy(mask)[None]}


class ScoringSample:
    """Dataset transform for the test pass: everything each model's scoring needs, computed in the workers.

    Returns ``sample_id``, ``image_small`` (3, s, s) uint8, ``mask_small`` / ``mask`` (s, s) / (H, W) 0/1, and
    the true instance maps at both resolutions; with ``run_propose`` also ``propose`` (its native mask).
    """

    def __init__(self, size: int, run_unet: bool, *, run_propose: bool):
        self.size, self.run_unet, self.run_propose = size, run_unet, run_propose

    def __call__(self, sample: dict) -> dict:
        from annotation.instances import split_cells

        image, mask = np.ascontiguousarray(sample["image"].numpy().transpose(1, 2, 0)), sample["mask"].numpy()[0]
        out = {"sample_id": sample["sample_id"], "mask": mask}
        if self.run_unet:
            image_small, out["mask_small"] = resize_sample(image, mask, size=self.size)
            out["image_small"] = image_small.transpose(2, 0, 1).copy()
            out["instances_small"] = split_cells(out["mask_small"] > 0)
        if self.run_propose:
            from annotation.propose import propose_mask

            out["propose"] = propose_mask(image).astype(np.uint8)
            out["instances"] = split_cells(mask > 0)
        return out


def check_splits(views: Iterable[SplitView]) -> None:
    """Raise a DataError unless every split has samples and carries the canonical masks."""
    for view in views:
        if len(view) == 0:
            raise DataError(
                view.built_dir,
                f"samples in the {view.split} split of config {view.config!r}",
                "an empty split",
                "rebuild with split ratios that give every split at least one parent image",
            )
        if not view.has_masks:
            raise DataError(
                view.built_dir / ("hdf5" if view.fmt == "hdf5" else "data") / view.config,
                f"canonical masks in the {view.split} split (the segmentation suite needs canonical masks)",
                "shards without masks",
                MASKS_FIX,
            )


def random_flips(images: torch.Tensor, masks: torch.Tensor, *, generator: torch.Generator):
    """Flip each sample left-right and up-down with probability 1/2 (smears have no orientation)."""
    for dim in (-1, -2):
        chosen = (torch.rand(images.shape[0], generator=generator) < 0.5).view(-1, 1, 1, 1).to(images.device)
        images = torch.where(chosen, images.flip(dim), images)
        masks = torch.where(chosen, masks.flip(dim), masks)
    return images, masks


def pair_loader(view: SplitView, settings: SegmentationSettings, *, shuffle: bool, seed: int) -> DataLoader:
    """Resized (image, mask) batches of ``view``; shuffled by a generator seeded with ``seed``."""
    dataset = view.dataset(with_mask=True, transform=ResizedPair(settings.input_size))
    return DataLoader(
        dataset,
        batch_size=settings.batch_size,
        shuffle=shuffle,
        num_workers=settings.num_workers,
        generator=torch.Generator().manual_seed(seed),
        pin_memory=torch.device(settings.device).type == "cuda",
    )


@torch.no_grad()
def validation_dice(model: torch.nn.Module, loader: DataLoader, *, device: torch.device) -> float:
    """Pooled cell-class Dice of ``model`` over ``loader`` (logit > 0 = cell); both empty scores 1."""
    model.eval()
    intersection = total = 0
    for batch in loader:
        pred = model(normalise(batch["image"], device)) > 0
        true = batch["mask"].to(device) > 0
        intersection += int((pred & true).sum())
        total += int(pred.sum()) + int(true.sum())
    return 2.0 * intersection / total if total else 1.0


def train_unet(
    train: SplitView, validation: SplitView, *, settings: SegmentationSettings, seed: int, log: Callable[[str], None]
) -> TrainedUNet:
    """Train one U-Net and keep the epoch with the best validation cell Dice (the test split is not touched)."""
    from benchmarks.models.segmentation import build_unet

    device = torch.device(settings.device)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = build_unet(input_size=settings.input_size).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    flips = torch.Generator().manual_seed(seed)
    train_loader = pair_loader(train, settings, shuffle=True, seed=seed)
    val_loader = pair_loader(validation, settings, shuffle=False, seed=seed)
    best: TrainedUNet | None = None
    history = []
    for epoch in range(1, settings.epochs + 1):
        model.train()
        losses = []
        for batch in train_loader:
            images, masks = random_flips(batch["image"], batch["mask"], generator=flips)
            loss = segmentation_loss(model(normalise(images, device)), masks.to(device).float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        dice = validation_dice(model, val_loader, device=device)
        history.append((epoch, float(np.mean(losses)) if losses else float("nan"), dice))
        log(f"unet seed {seed} epoch {epoch}/{settings.epochs}: loss {history[-1][1]:.4f}, validation Dice {dice:.4f}")
        if best is None or dice > best.validation_dice:
            state = {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}
            best = TrainedUNet(seed, state, epoch, dice)
    best.history = history
    log(f"unet seed {seed}: selected epoch {best.selected_epoch} (validation Dice {best.validation_dice:.4f})")
    return best


class ModelScores:
    """Scores and predicted masks of one (model, seed) on the test split, accumulated image by image."""

    def __init__(self, model: str, seed: int, *, resolution: str):
        self.model, self.seed, self.resolution = model, seed, resolution
        self.intersection = self.total = 0
        self.intersection_native = self.total_native = 0
        self.dice_per_image: list[float] = []
        self.iou_per_image: list[float] = []
        self.counts = {kind: np.zeros(len(AP_THRESHOLDS), np.int64) for kind in ("tp", "fp", "fn")}
        self.masks: list[np.ndarray] = []
        self.masks_native: list[np.ndarray] = []
        self.sample_ids: list[str] = []

    def add(self, sample_id: str, pred: np.ndarray, *, true: np.ndarray, true_instances: np.ndarray) -> None:
        """Score one image's predicted 0/1 mask against its true mask and true instance map."""
        from annotation.instances import split_cells
        from annotation.metrics import average_precision

        pred, true = pred.astype(np.uint8), true > 0
        self.sample_ids.append(sample_id)
        self.masks.append(pred)
        # Cell class only: an all-background prediction of an image with cells scores 0; both empty is NaN.
        scores = segmentation_metrics(true, pred)
        self.dice_per_image.append(scores["dice"])
        self.iou_per_image.append(scores["iou"])
        self.intersection += scores["cell_pixels_both"]
        self.total += scores["cell_pixels_true"] + scores["cell_pixels_pred"]
        instance_scores = average_precision(true_instances, split_cells(pred > 0), thresholds=AP_THRESHOLDS)
        for kind in self.counts:
            self.counts[kind] = self.counts[kind] + [instance_scores[f"{kind}@{t:g}"] for t in AP_THRESHOLDS]

    def add_native(self, pred: np.ndarray, true: np.ndarray) -> None:
        """Score a prediction brought back to the native size (pixel scores only)."""
        pred = pred.astype(np.uint8)
        self.masks_native.append(pred)
        scores = segmentation_metrics(true > 0, pred)
        self.intersection_native += scores["cell_pixels_both"]
        self.total_native += scores["cell_pixels_true"] + scores["cell_pixels_pred"]

    def row(self, selected_epoch: int | None, validation_dice: float | None) -> dict:
        """The result row of this (model, seed) (see the module docstring)."""
        dice, iou = _pooled(self.intersection, self.total)
        tp, fp, fn = self.counts["tp"], self.counts["fp"], self.counts["fn"]
        ap = np.where(tp + fp + fn > 0, tp / np.maximum(tp + fp + fn, 1), 1.0)
        row = {
            "model": self.model,
            "seed": self.seed,
            "split": "test",
            "task": "segmentation",
            "dice": dice,
            "iou": iou,
            "dice_per_image": _mean_of_defined(self.dice_per_image),
            "iou_per_image": _mean_of_defined(self.iou_per_image),
            "ap50": float(ap[0]),
            "ap75": float(ap[1]),
            "n": len(self.sample_ids),
            "selected_epoch": selected_epoch,
            "validation_dice": validation_dice,
            "resolution": self.resolution,
        }
        if self.masks_native:
            row["dice_native"], row["iou_native"] = _pooled(self.intersection_native, self.total_native)
        return row

    def save(self, out_dir: Path) -> Path:
        """Write ``predictions/<model>/seed<S>_test_masks.npz`` under ``out_dir``; return its path."""
        path = Path(out_dir) / "predictions" / self.model / f"seed{self.seed}_test_masks.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"masks": np.stack(self.masks), "sample_ids": np.array(self.sample_ids, dtype=str)}
        if self.masks_native:
            arrays["masks_native"] = np.stack(self.masks_native)
        np.savez_compressed(path, **arrays)
        return path


def _mean_of_defined(per_image: list[float]) -> float:
    """Mean of the per-image scores, skipping the NaN of images where truth and prediction are both empty.

    np.nanmean, not np.mean: segmentation_metrics scores an image with no cell in either mask NaN (nothing to
    find), and one such image must neither turn the whole mean into NaN nor count as a perfect 1. NaN when no image
    has a defined score (checked first, as np.nanmean warns on an all-NaN input).
    """
    scores = np.asarray(per_image, dtype=np.float64)
    return float(np.nanmean(scores)) if np.isfinite(scores).any() else float("nan")


def _pooled(intersection: int, total: int) -> tuple[float, float]:
    """Dice and IoU from pooled counts; no cell pixel anywhere scores (1, 1)."""
    if total == 0:
        return 1.0, 1.0
    return 2.0 * intersection / total, intersection / (total - intersection)


def _score_unet_batch(models: dict, scores: dict, batch: list[dict], device: torch.device) -> None:
    """Feed one test batch to every selected U-Net and score it at ``input_size`` and at the native size."""
    images = torch.from_numpy(np.stack([sample["image_small"] for sample in batch]))
    with torch.no_grad():
        inputs = normalise(images, device)
        for seed, model in models.items():
            logits = model(inputs).float()
            for k, sample in enumerate(batch):
                pred = (logits[k, 0] > 0).cpu().numpy()
                scores[seed].add(
                    sample["sample_id"], pred, true=sample["mask_small"], true_instances=sample["instances_small"]
                )
                # Logits, not the thresholded mask, are up-sampled: the cell edge falls between the coarse pixels.
                native = F.interpolate(logits[k : k + 1], size=sample["mask"].shape, mode="bilinear")
                scores[seed].add_native((native[0, 0] > 0).cpu().numpy(), sample["mask"])


def evaluate_test(
    test: SplitView, trained: list[TrainedUNet], *, settings: SegmentationSettings, log: Callable[[str], None]
) -> list[ModelScores]:
    """Open the test split once and score every selected U-Net and ``propose`` in a single pass over it."""
    from benchmarks.models.segmentation import build_unet

    device = torch.device(settings.device)
    models = {}
    for result in trained:
        model = build_unet(input_size=settings.input_size)
        model.load_state_dict(result.state)
        models[result.seed] = model.to(device).eval()
    unet_scores = {
        seed: ModelScores("unet", seed, resolution=f"{settings.input_size}x{settings.input_size}") for seed in models
    }
    run_propose = "propose" in settings.models
    propose_scores = ModelScores("propose", 0, resolution="native")
    dataset = test.dataset(
        with_mask=True, transform=ScoringSample(settings.input_size, bool(models), run_propose=run_propose)
    )
    loader = DataLoader(
        dataset, batch_size=settings.batch_size, num_workers=settings.num_workers, collate_fn=list, shuffle=False
    )
    for batch in loader:
        if models:
            _score_unet_batch(models, unet_scores, batch, device)
        if run_propose:
            for sample in batch:
                propose_scores.add(
                    sample["sample_id"], sample["propose"], true=sample["mask"], true_instances=sample["instances"]
                )
    log(f"test split: {len(dataset)} images scored once ({', '.join(settings.models)})")
    return [*unet_scores.values(), *([propose_scores] if run_propose else [])]


def check_device(device: str) -> None:
    """Raise a UsageError for a device torch does not know or that this machine lacks."""
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise UsageError(f"segmentation settings: unknown device {device!r} ({error}); use cpu or cuda[:N]") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"segmentation settings: device {device!r} asked for, but CUDA is not available; use cpu")


def run_segmentation(
    train: SplitView,
    validation: SplitView,
    *,
    test: SplitView,
    settings: SegmentationSettings,
    out_dir: str | Path,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Train and select the U-Nets on train / validation, then score them and ``propose`` once on test.

    Args:
        train: the split the U-Nets learn from.
        validation: the split that picks each seed's epoch.
        test: the split scored, opened once after every U-Net is trained.
        settings: sizes, epochs, seeds, device, models.
        out_dir: the run folder; ``predictions/`` and ``checkpoints/`` are written under it.
        log: called with one line per epoch and per stage (None: silent).

    Returns:
        One dict per (model, seed): model, seed, split, task, dice, iou, dice_per_image, iou_per_image, ap50,
        ap75, n, selected_epoch, validation_dice, resolution, and (U-Net) dice_native, iou_native.

    Raises:
        DataError: an empty split, or one without canonical masks.
        UsageError: an unavailable device.
    """
    log = log or (lambda line: None)
    out_dir = Path(out_dir)
    check_splits((train, validation, test))
    check_device(settings.device)
    trained = []
    if "unet" in settings.models:
        for seed in settings.seeds:
            result = train_unet(train, validation, settings=settings, seed=seed, log=log)
            path = out_dir / "checkpoints" / "unet" / f"seed{seed}.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(result.state, path)
            trained.append(result)
    selection = {result.seed: result for result in trained}
    rows = []
    for scores in evaluate_test(test, trained, settings=settings, log=log):
        scores.save(out_dir)
        if scores.model == "unet":
            chosen = selection[scores.seed]
            rows.append(scores.row(chosen.selected_epoch, chosen.validation_dice))
        else:
            rows.append(scores.row(None, None))
        log(f"{scores.model} seed {scores.seed}: test cell Dice {rows[-1]['dice']:.4f}, AP@0.5 {rows[-1]['ap50']:.4f}")
    return rows
