"""Fit the cell model on a few annotated images: random native-resolution crops, validation on held-back images.

``fit_cell_model`` is the one training loop; ``fit_folder`` (``rbc-dataset annotate fit``) feeds it a user's
image/mask pairs and ``annotation.learned.pretrain`` synthetic smears with full instance truth.

Training draws random crops at the images' own resolution (cells keep the size they have where the model will
be used), flipped, turned by multiples of 90 degrees and colour-jittered (stain and white balance vary between
labs). The loss is binary cross-entropy plus soft Dice on the cell map, and a cross-entropy on the centre map
where it is known (``annotation.learned.targets``). After every epoch the held-back images are predicted whole
and scored by cell-class Dice; the epoch with the best mean Dice is kept (with no held-back image, the last).
A fit can start from an earlier model folder (``init``): the pretrained model, or the model a person's
corrections should improve. A continued fit scores its starting model first (epoch 0) and keeps it when no epoch
beats it on the held-back images, so a fit never hands back a model worse there than the one it started from.

Rehearsal: fitted on a handful of a user's images alone, the pretrained network forgets what the synthetic smears
taught it (on the shared real AneRBC-I pairs, leave-one-out Dice fell from 0.944 to 0.927, worst on pale anaemic
cells). With ``rehearsal`` > 0 and rehearsal images given, that share of every batch is cropped from synthetic
smears with full truth, as continual-learning practice has it (``annotation.learned.pretrain.rehearsal_smears``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from annotation.learned.infer import predict_maps, resize_smooth
from annotation.learned.model_folder import CellModel, build_network, channels_last, describe, load_model, save_model
from annotation.learned.targets import Targets, as_float
from annotation.metrics import cell_dice
from benchmarks.models.unet import normalise, segmentation_loss
from rbc_dataset.errors import UsageError
from rbc_dataset.fileio import sha256_file


@dataclass(frozen=True)
class FitSettings:
    """How a cell model is fitted."""

    crop_size: int = 192  # px of the random training crops, at native resolution
    batch_size: int = 8
    steps_per_epoch: int = 20
    epochs: int = 20
    lr: float = 1e-3  # AdamW, cosine-annealed to 0 over all steps
    weight_decay: float = 1e-4
    colour_jitter: float = 0.15  # brightness, contrast and saturation factors in [1 - j, 1 + j]
    hue_turn: float | None = None  # largest hue turn, a share of the colour circle (None: j / 8; 0.5: any hue)
    zoom: float = 0.0  # crops resized by a factor in [1 / (1 + z), 1 + z], log-uniform (0: native size only)
    centre_weight: float = 1.0  # weight of the centre-map loss next to the cell-map loss
    validation_images: int = 1  # annotated images held back to choose the epoch (0: keep the last epoch)
    base_width: int = 12  # of a new network (12: a full image in under a second); a continued fit keeps its start's
    max_minutes: float = 0.0  # stop after the epoch that passes this wall time (0: no limit)
    rehearsal: float = 0.5  # share of each batch cropped from rehearsal (synthetic) images when some are given
    seed: int = 0

    def __post_init__(self):
        positive = ("crop_size", "batch_size", "steps_per_epoch", "epochs", "base_width")
        for name in positive:
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "weight_decay", "colour_jitter", "centre_weight", "max_minutes", "validation_images"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.colour_jitter >= 1:
            raise UsageError(f"colour_jitter must be below 1, got {self.colour_jitter}")
        if self.hue_turn is not None and not 0 <= self.hue_turn <= 0.5:
            raise UsageError(f"hue_turn must be in [0, 0.5] (a share of the colour circle), got {self.hue_turn}")
        if not 0 <= self.zoom <= 1:
            raise UsageError(f"zoom must be in [0, 1] (cells resized by up to 1 + zoom either way), got {self.zoom}")
        if not 0 <= self.rehearsal < 1:
            raise UsageError(f"rehearsal must be in [0, 1) (a share of each batch), got {self.rehearsal}")

    def rehearsal_crops(self) -> int:
        """Crops of each batch taken from rehearsal images (at least one crop stays the user's)."""
        return min(self.batch_size - 1, round(self.batch_size * self.rehearsal))


@dataclass(frozen=True)
class AnnotatedImage:
    """One training image and its targets."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    targets: Targets


@dataclass
class FitResult:
    """What ``fit_cell_model`` wrote and measured."""

    out: Path
    validation: dict  # validation.json
    history: pd.DataFrame
    seconds: float
    model: CellModel | None = field(default=None, repr=False)


def hold_back(images: list[AnnotatedImage], *, count: int, seed: int) -> tuple[list, list]:
    """(training, validation): ``count`` images drawn at random (seeded) are held back; at least one trains."""
    if len(images) == 0:
        raise UsageError("no annotated images to fit on")
    count = min(count, len(images) - 1)
    order = np.random.default_rng(seed).permutation(len(images))
    held = set(order[:count].tolist())
    return [a for i, a in enumerate(images) if i not in held], [a for i, a in enumerate(images) if i in held]


class CropSampler:
    """Random augmented crops of the training images as (images uint8 (B, 3, S, S), targets float (B, 3, S, S))."""

    def __init__(self, images: list[AnnotatedImage], *, settings: FitSettings):
        self.images, self.size, self.jitter = images, settings.crop_size, settings.colour_jitter
        self.hue_turn, self.zoom = settings.hue_turn, settings.zoom
        self.rng = np.random.default_rng(settings.seed)
        # Larger images are drawn more often: each pixel is about as likely to be in a crop.
        areas = np.array([a.image.shape[0] * a.image.shape[1] for a in images], np.float64)
        self.weights = areas / areas.sum()

    def _side(self) -> int:
        """Side of the source square a crop is cut from: the crop size, or more or less when zooming.

        No random draw without zoom, so a fit without it draws the crops it drew before zoom existed.
        """
        if self.zoom <= 0:
            return self.size
        factor = float(np.exp(self.rng.uniform(-1, 1) * np.log1p(self.zoom)))
        return max(8, round(self.size / factor))

    def _crop(self, item: AnnotatedImage) -> tuple[np.ndarray, np.ndarray]:
        image, stack = item.image, item.targets.packed
        side = self._side()
        height, width = image.shape[:2]
        pad_h, pad_w = max(0, side - height), max(0, side - width)
        if pad_h or pad_w:  # an image smaller than a crop is mirrored out to the crop size
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
            stack = np.pad(stack, ((0, 0), (0, pad_h), (0, pad_w)), mode="reflect")
            height, width = image.shape[:2]
        top = int(self.rng.integers(0, height - side + 1))
        left = int(self.rng.integers(0, width - side + 1))
        image, stack = image[top : top + side, left : left + side], stack[:, top : top + side, left : left + side]
        if side != self.size:
            image, stack = resized_crop(image, stack, size=self.size)
        image = image.transpose(2, 0, 1)
        turns, flip = int(self.rng.integers(0, 4)), bool(self.rng.integers(0, 2))
        image, stack = np.rot90(image, turns, axes=(1, 2)), np.rot90(stack, turns, axes=(1, 2))
        if flip:
            image, stack = image[:, :, ::-1], stack[:, :, ::-1]
        return np.ascontiguousarray(image), np.ascontiguousarray(stack)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        chosen = self.rng.choice(len(self.images), size=size, p=self.weights)
        crops = [self._crop(self.images[i]) for i in chosen]
        images = torch.from_numpy(np.stack([image for image, _ in crops]))
        if self.jitter > 0 or self.hue_turn:  # None: colour_jitter's default turn, none without jitter
            images = colour_jitter(images, strength=self.jitter, rng=self.rng, hue_turn=self.hue_turn)
        targets = as_float(np.stack([stack for _, stack in crops], axis=1))  # (3, B, S, S)
        return images, torch.from_numpy(targets).transpose(0, 1).contiguous()


def resized_crop(image: np.ndarray, packed: np.ndarray, *, size: int) -> tuple[np.ndarray, np.ndarray]:
    """An (S, S, 3) image and its packed (3, S, S) targets resized to ``size`` (the cell map and centre weight stay
    0/1). The centre map is each cell's distance to its edge over its own largest one: its values need no rescaling."""
    image = resize_smooth(np.ascontiguousarray(image), (size, size))
    # The 0/1 maps are resized like the image and cut at one half: cv2's nearest neighbour samples half a pixel
    # off where the image's resize samples, which would shift every edge against the image.
    cell, centre, weight = (resize_smooth(channel.astype(np.float32), (size, size)) for channel in packed)
    cell, weight = (cell >= 0.5).astype(np.uint8), (weight >= 0.5).astype(np.uint8)
    centre = np.round(centre * cell).astype(np.uint8)  # no centre off the cells
    return image, np.stack([cell, centre, weight])


LUMA = np.array([0.299, 0.587, 0.114])


def colour_matrix(*, brightness: float, saturation: float, hue: float) -> np.ndarray:
    """The 3x3 RGB matrix that turns the hue by ``hue`` (a fraction of the colour circle) about the grey axis,
    scales saturation about each pixel's luma, then brightness."""
    axis = np.ones(3) / np.sqrt(3)
    angle = 2 * np.pi * hue
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.cos(angle) * np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * np.outer(axis, axis)
    saturate = saturation * np.eye(3) + (1 - saturation) * np.outer(np.ones(3), LUMA)
    return brightness * saturate @ rotation


def colour_jitter(
    images: torch.Tensor, *, strength: float, rng: np.random.Generator, hue_turn: float | None = None
) -> torch.Tensor:
    """Random brightness, contrast and saturation factors in [1 - s, 1 + s] and a hue turn of up to ``hue_turn``
    of the colour circle (None: s / 8), per image: float (B, 3, H, W) in 0-255.

    A turn of up to 0.5 (any hue) makes the network read cells by shape and contrast, not by their stain's
    colour (the pretraining recipe, ``annotation.learned.pretrain.PRETRAIN_SETTINGS``).

    One 3x3 colour matrix and one contrast step per image: torchvision's ColorJitter converts every pixel to
    HSV for the hue and took 0.47 s per 192 px crop here, more than the network's training step.
    """
    out = images.to(torch.float32, copy=True)  # float input is not changed in place
    hue_turn = strength / 8 if hue_turn is None else hue_turn
    for k in range(out.shape[0]):
        low, high = 1 - strength, 1 + strength
        matrix = colour_matrix(
            brightness=rng.uniform(low, high), saturation=rng.uniform(low, high), hue=rng.uniform(-1, 1) * hue_turn
        )
        pixels = torch.from_numpy(matrix.astype(np.float32)) @ out[k].reshape(3, -1)
        mean = float(pixels.mean())
        pixels = mean + rng.uniform(low, high) * (pixels - mean)
        out[k] = pixels.reshape(out[k].shape).clamp_(0, 255)
    return out


def fit_loss(logits: torch.Tensor, targets: torch.Tensor, *, centre_weight: float) -> torch.Tensor:
    """Cell map: BCE + soft Dice (``segmentation_loss``); centre map: BCE where its weight is 1."""
    loss = segmentation_loss(logits[:, :1], targets[:, :1])
    known = targets[:, 2:3]
    if centre_weight > 0 and float(known.sum()) > 0:
        per_pixel = F.binary_cross_entropy_with_logits(logits[:, 1:2], targets[:, 1:2], reduction="none")
        loss = loss + centre_weight * (per_pixel * known).sum() / known.sum()
    return loss


def validation_scores(model: CellModel, images: list[AnnotatedImage]) -> dict[str, float]:
    """Cell-class Dice (cell probability > 0.5) of each held-back image, predicted whole."""
    was_training = model.network.training
    model.network.eval()
    scores = {a.name: cell_dice(predict_maps(model, a.image, scale=1.0).mask(), a.targets.cell) for a in images}
    model.network.train(was_training)
    return scores


def training_radius(images: list[AnnotatedImage]) -> float:
    """Median cell radius (px) of the training images' cell maps: the scale the model learned cells at."""
    from annotation.propose import estimate_cell_radius

    return round(float(np.median([estimate_cell_radius(a.targets.cell) for a in images])), 2)


def _start(init: str | Path | None, settings: FitSettings, device: torch.device) -> tuple[torch.nn.Module, dict | None]:
    """The network to train, on ``device``, and what it continues from (None: a new network)."""
    if init is None:
        torch.manual_seed(settings.seed)
        return build_network(base_width=settings.base_width).to(device), None
    start = load_model(init, device=device)
    weights = start.path / "weights.pt"
    parent = {"path": str(start.path.resolve()), "weights_sha256": sha256_file(weights), **start.description}
    return start.network, parent


def inherit_hue_turn(settings: FitSettings, parent: dict | None) -> FitSettings:
    """A continued fit turns hues as far as its starting model learned to, unless ``settings`` say how far.

    A model pretrained at any hue reads stains it never saw; fitted on a few images of one stain with the small
    default turn, it forgets that (BCCD box recall 0.79 before such a fit, 0.49 after, docs/BENCHMARKS.md).
    """
    if settings.hue_turn is not None or not parent:
        return settings
    turn = parent.get("trained", {}).get("settings", {}).get("hue_turn")
    return settings if turn is None else replace(settings, hue_turn=float(turn))


def fit_cell_model(
    images: list[AnnotatedImage],
    *,
    out: str | Path,
    init: str | Path | None = None,
    settings: FitSettings | None = None,
    source: dict | None = None,
    rehearse: list[AnnotatedImage] | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit the cell model on ``images`` and write the model folder ``out`` (atomically).

    Args:
        images: annotated images; ``settings.validation_images`` of them are held back to choose the epoch.
        out: the model folder to write (``annotation.learned.model_folder``).
        init: a model folder to continue from (its width is kept), or None for a new network.
        settings: crops, batches, epochs, learning rate, augmentation, hold-back.
        source: what the images are (recorded in ``model.json``).
        rehearse: images (synthetic smears) that ``settings.rehearsal`` of every batch is cropped from; never
            held back or scored. None or an empty list: every crop is from ``images``.
        overwrite: replace an existing ``out`` (it may be ``init`` itself: that is read before anything is written).
        device: where the network trains: "cpu", "cuda" or "auto" (the GPU when there is one); crops are cut on
            the CPU, and the model is saved for the CPU.
        log: called with one line per epoch.

    Raises:
        UsageError: no images, bad settings, or ``out`` exists without ``overwrite``.
        DataError: ``init`` is not a model folder.
    """
    from benchmarks.training.distributed import pick_device
    from rbc_dataset.fileio import atomic_directory, write_json

    settings = settings or FitSettings()
    started = time.perf_counter()
    training, held = hold_back(images, count=settings.validation_images, seed=settings.seed)
    network, parent = _start(init, settings, pick_device(device))
    settings = inherit_hue_turn(settings, parent)
    base_width = int(parent["base_width"]) if parent else settings.base_width
    model = CellModel(Path(out), network, description={})
    rehearse = list(rehearse or []) if settings.rehearsal_crops() > 0 else []
    history, best = _train(
        model, training, held, rehearse, settings=settings, continued=parent is not None, log=log or (lambda line: None)
    )
    network.load_state_dict(best["state"])
    network.eval()
    validation = {
        "metric": "cell-class Dice, cell probability > 0.5, whole held-back images",
        "epoch_kept": best["epoch"],
        "kept_by": _kept_by(best["epoch"], held=bool(held)),
        "mean_dice": float(np.mean(list(best["scores"].values()))) if held else None,
        "per_image": best["scores"],
        "training_images": [a.name for a in training],
    }
    trained = {
        "settings": asdict(settings) | {"base_width": base_width},
        "source": source or {},
        "continued_from": parent,
        "rehearsal": {"images": len(rehearse), "crops_per_batch": settings.rehearsal_crops() if rehearse else 0},
        "epochs_run": int(len(history)),
        "seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
    }
    # The starting model kept as it is reads cells at the scale it was trained at, not at this fit's images'.
    radius = parent.get("cell_radius_px") if parent and best["epoch"] == 0 else None
    radius = training_radius(training) if radius is None else radius
    description = describe(base_width=base_width, trained=trained) | {"cell_radius_px": radius}
    with atomic_directory(Path(out), overwrite) as tmp:
        save_model(tmp, network, description=description)
        write_json(tmp / "validation.json", validation)
        history.to_csv(tmp / "history.csv", index=False)
    fitted = CellModel(Path(out), network, description)
    return FitResult(Path(out), validation, history, time.perf_counter() - started, model=fitted)


def _kept_by(epoch: int, *, held: bool) -> str:
    if not held:
        return "last epoch (no held-back image)"
    return "the starting model: no epoch beat it on the held-back images" if epoch == 0 else "best mean validation Dice"


def training_batches(training, rehearse, *, settings: FitSettings) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """A function returning one training batch: the user's crops, then the rehearsal images' share."""
    own = CropSampler(training, settings=settings)
    if not rehearse:
        return lambda: own.batch(settings.batch_size)
    replay = CropSampler(rehearse, settings=replace(settings, seed=settings.seed + 1))
    replayed = settings.rehearsal_crops()

    def batch():
        parts = [own.batch(settings.batch_size - replayed), replay.batch(replayed)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    return batch


def _snapshot(network: torch.nn.Module) -> dict:
    return {name: value.detach().clone() for name, value in network.state_dict().items()}


def _epoch(network, next_batch, optimizer, schedule, *, settings: FitSettings) -> float:
    """One epoch of ``settings.steps_per_epoch`` training steps; the mean training loss."""
    device = next(network.parameters()).device
    network.train()
    losses = []
    for _ in range(settings.steps_per_epoch):
        images, targets = next_batch()
        logits = network(channels_last(normalise(images, device)))
        loss = fit_loss(logits, targets.to(device), centre_weight=settings.centre_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses))


def _train(
    model: CellModel, training, held, rehearse, *, settings: FitSettings, continued: bool, log
) -> tuple[pd.DataFrame, dict]:
    """Epochs of random crops; after each, the held-back images' Dice; the best epoch's weights are returned.

    A continued fit with held-back images starts from epoch 0, its starting model scored as it is.
    """
    network = model.network
    next_batch = training_batches(training, rehearse, settings=settings)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    total_steps = settings.epochs * settings.steps_per_epoch
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    started, rows, best = time.perf_counter(), [], None

    def judged(epoch: int) -> dict:  # the held-back images' Dice of the network as it is now
        scores = validation_scores(model, held) if held else {}
        return {
            "epoch": epoch,
            "mean": float(np.mean(list(scores.values()))) if scores else float("nan"),
            "scores": scores,
        }

    if continued and held:
        best = judged(0) | {"state": _snapshot(network)}
        log(f"epoch 0 (the starting model): validation Dice {best['mean']:.4f}")
    for epoch in range(1, settings.epochs + 1):
        loss = _epoch(network, next_batch, optimizer, schedule, settings=settings)
        now, elapsed = judged(epoch), time.perf_counter() - started
        rows.append({"epoch": epoch, "train_loss": loss, "validation_dice": now["mean"], "seconds": elapsed})
        log(f"epoch {epoch}/{settings.epochs}: loss {rows[-1]['train_loss']:.4f}, validation Dice {now['mean']:.4f}")
        if best is None or not held or now["mean"] > best["mean"]:
            best = now | {"state": _snapshot(network)}
        if settings.max_minutes and elapsed > settings.max_minutes * 60:
            log(f"stopped after epoch {epoch}: the {settings.max_minutes:g}-minute limit passed")
            break
    return pd.DataFrame(rows), best
