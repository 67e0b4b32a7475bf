"""Presets of ``rbc-bench run``: how big, how long, on what device, with which speed features.

Precedence as everywhere in the toolkit: CLI option > ``--config file.yaml`` > the preset's value.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

from rbc_dataset.errors import UsageError, check_choice, check_seed

DEVICES = ("auto", "cpu", "cuda")
TIER_MODES = ("freeze", "finetune")
DATA_MODES = ("memory", "loader")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class Preset:
    """Every setting of a benchmark run (saved as the run's config.yaml)."""

    name: str  # preset this started from
    input_size: int = 300  # side the shards are resized to (3-TierDCFNet: 300); 0 keeps their stored size
    crop_size: int = 0  # train on random crops of this side at the input's resolution, predict whole inputs (0: off)
    flips: bool = True  # augmentation: horizontal / vertical flips and 90-degree turns (a smear has no orientation)
    scale_jitter: float = 0.1  # augmentation: crops cover side * s pixels, s in [1 - j, 1 + j], resized back
    colour_jitter: float = 0.2  # augmentation: brightness, contrast, saturation and channel gains +-j, hue +-j/4
    epochs: int = 10  # training epochs of a CNN baseline (and of the 3tier fusion stage)
    batch_size: int = 32  # per process
    eval_batch_size: int = 0  # batch of prediction passes (0: batch_size); smaller for whole 1224x960 images
    lr: float = 1e-3  # AdamW learning rate
    lr_schedule: str = "cosine"  # constant, or cosine annealing to 0 over each stage's epochs
    patience: int = 0  # early stopping: end a stage after this many epochs without a better validation score (0: off)
    weight_decay: float = 1e-4  # AdamW weight decay
    seeds: tuple[int, ...] = (0, 1, 2)  # one training per seed; mean +- std over seeds
    device: str = "auto"  # auto (cuda when available), cpu or cuda
    bf16: bool = False  # bfloat16 autocast for forward passes (GPU)
    channels_last: bool = False  # NHWC memory format (faster convolutions on tensor cores)
    pin_memory: bool = False  # page-locked host batches for asynchronous copies to the GPU
    compile: bool = False  # torch.compile the model (first epoch pays the compile time)
    num_workers: int = 0  # DataLoader worker processes (data_mode loader)
    data_mode: str = "memory"  # memory: decode every split once into tensors; loader: read the shards per batch
    tier_threshold: float = 0.85  # training accuracy a tier must reach before the next tier trains (validation point)
    tier_max_epochs: int = 10  # epochs after which a tier stops anyway (reported as threshold not reached)
    tier_mode: str = "freeze"  # freeze: a trained tier is frozen while later tiers train; finetune: it keeps training
    severity_epochs: int = 5  # epochs of the Module-II learned head (mild vs chronic)
    bootstrap_resamples: int = 1000  # resamples of parent groups for the 95 % confidence intervals
    weights_dir: str = ""  # folder of local ImageNet weights <model>.pth for the CNN baselines ("" = from scratch)
    max_train_samples: int = 0  # cap on training samples (0 = all), a stratified subsample (smoke runs)
    workers: int = 1  # processes for feature extraction of the feature baselines
    torch_threads: int = 0  # intra-op threads of the training process (0: the cores left after the loader workers)
    bn_samples: int = 512  # training samples whose exact statistics recalibrate BatchNorm before validation

    def __post_init__(self):
        check_choice("device", self.device, choices=DEVICES)
        check_choice("tier mode", self.tier_mode, choices=TIER_MODES)
        check_choice("data mode", self.data_mode, choices=DATA_MODES)
        check_choice("learning-rate schedule", self.lr_schedule, choices=LR_SCHEDULES)
        if not self.seeds:
            raise UsageError("at least one seed is needed (--seeds 0,1,2)")
        for seed in self.seeds:
            check_seed("--seeds", seed)
        for minimum, names in ((1, ("batch_size", "tier_max_epochs", "bn_samples")),
                               (0, ("eval_batch_size", "patience", "torch_threads"))):  # fmt: skip
            for name in names:
                if getattr(self, name) < minimum:
                    raise UsageError(f"{name} must be >= {minimum}, got {getattr(self, name)}")
        self._check_sizes()
        for name in ("scale_jitter", "colour_jitter"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UsageError(f"{name} is a fraction in [0, 1), got {getattr(self, name)}")
        if not 0.0 < self.tier_threshold <= 1.0:
            raise UsageError(f"tier_threshold is a training accuracy in (0, 1], got {self.tier_threshold}")

    def _check_sizes(self) -> None:
        for name in ("input_size", "crop_size"):
            value = getattr(self, name)
            if value != 0 and value < 32:
                raise UsageError(f"{name} must be 0 or >= 32 (the CNNs downsample 32x), got {value}")
        if self.input_size == 0 and self.crop_size == 0:
            raise UsageError("input_size 0 (stored size) needs a crop_size: whole images train on random crops")
        if self.input_size and self.crop_size > self.input_size:
            raise UsageError(f"crop_size {self.crop_size} is larger than input_size {self.input_size}")

    @property
    def build_size(self) -> int:
        """The side models are built for: the training crop, else the input size."""
        return self.crop_size or self.input_size

    @property
    def predict_batch_size(self) -> int:
        return self.eval_batch_size or self.batch_size

    def to_dict(self) -> dict:
        """Plain values for YAML."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# Cells at their own size on 2 CPU cores: 96 px crops of the 300 px tiles (a red cell stays about 20 px; a crop holds
# about 11 cells) with every augmentation, cosine schedule, early stopping; whole tiles predicted in one fully
# convolutional pass.
CPU_NATIVE = Preset(
    name="cpu-native",
    input_size=300,
    crop_size=96,
    epochs=10,
    batch_size=32,
    lr=1e-3,
    patience=3,
    seeds=(0, 1, 2),
    device="cpu",
    tier_threshold=0.85,
    tier_max_epochs=4,
    severity_epochs=4,
    workers=2,
    bn_samples=256,
)

PRESETS = {
    # Minutes on 2 CPU cores: 64x64 inputs, a few epochs, two seeds. For tests, `make demo` and CI.
    "cpu-smoke": Preset(
        name="cpu-smoke",
        input_size=64,
        epochs=5,
        batch_size=16,
        lr=2e-3,
        seeds=(0, 1),
        device="cpu",
        tier_threshold=0.8,
        tier_max_epochs=4,
        severity_epochs=3,
        bootstrap_resamples=300,
        max_train_samples=0,
        workers=2,
    ),
    "cpu-native": CPU_NATIVE,
    # The whole-image AneRBC-I task (1224x960, no tiles) on a CPU: stored size, 192 px training crops, whole images
    # predicted four at a time.
    "cpu-image": dataclasses.replace(
        CPU_NATIVE,
        name="cpu-image",
        input_size=0,
        crop_size=192,
        epochs=15,
        batch_size=16,
        eval_batch_size=4,
        patience=5,
        bn_samples=64,
    ),
    # The paper's resolution on one GPU: bf16 autocast, channels-last, pinned memory, loader-fed.
    "gpu": Preset(
        name="gpu",
        input_size=300,
        epochs=8,
        batch_size=64,
        lr=1e-3,
        seeds=(0, 1, 2),
        device="cuda",
        bf16=True,
        channels_last=True,
        pin_memory=True,
        num_workers=8,
        data_mode="loader",
        tier_threshold=0.9,
        tier_max_epochs=6,
        severity_epochs=4,
        workers=8,
    ),
}


def default_preset_name() -> str:
    """The preset used when none is named: ``gpu`` when CUDA is visible, else ``cpu-smoke`` (imports torch)."""
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu-smoke"


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (a UsageError listing the presets otherwise)."""
    check_choice("preset", name, choices=sorted(PRESETS))
    return PRESETS[name]


def resolve_preset(name: str, from_file: dict, *, cli_values: dict, config_file: Path | None = None) -> Preset:
    """The preset with the file's values over it and the given CLI values over those.

    Every value is type-checked first (``rbc_dataset.config_file``): a wrong type is a UsageError naming
    ``config_file``, the key, the type expected and the value found.
    """
    from rbc_dataset.config_file import checked_values, construct

    base = get_preset(name)
    values = checked_values(Preset, from_file, cli_values=cli_values, config_file=config_file, exclude=("name",))
    return construct(
        functools.partial(dataclasses.replace, base), values, config_file=config_file if from_file else None
    )
