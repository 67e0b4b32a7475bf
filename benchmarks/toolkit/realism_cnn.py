"""The small CNN of the realism two-sample test: trained from scratch per fold on CPU, deterministic under a seed.

A strided 3x3 convolution (16 channels) and three 3x3 conv blocks (32, 64, 64 channels, batch norm, ReLU,
2x2 max pooling), global average pooling and
one logit (high = synthetic). Crops keep their full resolution, because noise, blur and stain texture are part
of what tells the sides apart; pixels are only scaled to 0..1 (no per-crop normalisation, which would hide the
colour). Training uses flips and 90-degree turns (a smear has no up or left), Adam and a fixed number of epochs.

Each fold trains inside ``torch.random.fork_rng`` seeded from (seed, fold), so the caller's torch generator is
left as it was and the scores do not depend on what ran before. The thread count is whatever the caller set
(``torch.set_num_threads``); nothing here changes it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

BATCH_SIZE = 32
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
CHANNELS = (16, 32, 64, 64)


def small_cnn() -> nn.Module:
    """The discriminator: conv blocks, global average pooling, one logit."""
    # A strided first convolution: a quarter of the cost at full resolution, fine texture still seen.
    layers: list[nn.Module] = [nn.Conv2d(3, CHANNELS[0], 3, stride=2, padding=1, bias=False)]
    layers += [nn.BatchNorm2d(CHANNELS[0]), nn.ReLU()]
    previous = CHANNELS[0]
    for channels in CHANNELS[1:]:
        layers += [nn.Conv2d(previous, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
        layers.append(nn.MaxPool2d(2))
        previous = channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, 1)]
    return nn.Sequential(*layers)


def _as_tensor(crops: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().div_(255.0)


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The same random flip and quarter turn for a whole batch (cheap, and still seeded)."""
    turns = int(torch.randint(0, 4, (1,), generator=generator))
    if bool(torch.randint(0, 2, (1,), generator=generator)):
        batch = batch.flip(3)
    return torch.rot90(batch, turns, dims=(2, 3))


def train_and_score(train_x: torch.Tensor, train_y: torch.Tensor, *, test_x: torch.Tensor, seed: int, epochs: int):
    """Train one CNN on (train_x, train_y) and return its logits on test_x.

    Args:
        train_x: (N, 3, H, W) float crops.
        train_y: (N,) 0 real / 1 synthetic.
        test_x: crops to score.
        seed: seeds the weights, the batch order and the augmentation.
        epochs: passes over the training crops.

    Returns:
        One logit per test crop as a numpy array.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model = small_cnn()
        optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        # Balance the sides: the synthetic side usually has more images than the real one.
        n_positive = float(train_y.sum())
        pos_weight = torch.tensor([(len(train_y) - n_positive) / max(n_positive, 1.0)])
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(train_x), generator=generator)
            for start in range(0, len(order), BATCH_SIZE):
                index = order[start : start + BATCH_SIZE]
                if len(index) < 2:  # batch norm needs two samples
                    continue
                optimiser.zero_grad()
                logits = model(_augment(train_x[index], generator)).squeeze(1)
                loss_fn(logits, train_y[index]).backward()
                optimiser.step()
        model.eval()
        with torch.no_grad():
            logits = [model(test_x[s : s + 128]).squeeze(1) for s in range(0, len(test_x), 128)]
    return torch.cat(logits).numpy().astype(np.float64)


def cnn_scores(crops: np.ndarray, labels: np.ndarray, *, folds: list, seed: int, epochs: int = 8) -> np.ndarray:
    """Out-of-fold CNN logits for every crop, one network per fold.

    Args:
        crops: (N, H, W, 3) uint8.
        labels: (N,) 0 real / 1 synthetic.
        folds: (train, test) index arrays grouped by image.
        seed: base seed; fold ``k`` trains with ``seed * 1000 + k``.
        epochs: passes over each fold's training crops.

    Returns:
        (N,) scores, high = looks synthetic.
    """
    images, targets = _as_tensor(crops), torch.from_numpy(labels.astype(np.float32))
    scores = np.full(len(labels), np.nan)
    for fold, (train, test) in enumerate(folds):
        train_t, test_t = torch.from_numpy(train), torch.from_numpy(test)
        scores[test] = train_and_score(
            images[train_t], targets[train_t], test_x=images[test_t], seed=seed * 1000 + fold, epochs=epochs
        )
    return scores
