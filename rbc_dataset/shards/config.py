"""Settings of ``rbc-dataset build`` (the resolved config is saved as ``build_config.yaml`` in the output)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from rbc_dataset.errors import UsageError, check_choice, check_seed
from rbc_dataset.layout import TILE_COLS, TILE_HEIGHT, TILE_ORDERS, TILE_ROWS, TILE_WIDTH

CONFIG_NAMES = ("full", "tiles", "model")  # see docs/SHARDS.md
FORMATS = ("hdf5", "parquet")
HDF5_CODECS = ("gzip", "blosc-lz4", "none")
SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides a build's content (same input + same config -> same shard contents)."""

    configs: tuple[str, ...] = ()  # dataset configs to write (full, tiles, model); empty = all that apply
    formats: tuple[str, ...] = FORMATS  # shard formats: hdf5, parquet
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train / validation / test share of parent images
    folds: int = 5  # cross-validation folds over train+validation (0 = none)
    seed: int = 0  # decides the split assignment
    stratify_severity: bool = True  # stratify by class x severity when severity is known
    tile_cols: int = TILE_COLS  # tile grid of the tiles config (AneRBC-II: 4 x 3 of 306 x 320)
    tile_rows: int = TILE_ROWS
    tile_width: int = TILE_WIDTH
    tile_height: int = TILE_HEIGHT
    tile_order: str = "auto"  # tile numbering: auto (as detected in the input's AneRBC-II, else row-major)
    model_size: int = 300  # side of the model config's square inputs (3-TierDCFNet: 300)
    hdf5_codec: str = "gzip"  # gzip (portable, level below), blosc-lz4 (fast; readers need hdf5plugin), none
    gzip_level: int = 4  # 1 fastest .. 9 smallest
    parquet_shard_mb: int = 500  # start a new Parquet shard after about this many MB of PNG bytes
    allow_invalid: bool = False  # build despite validation errors (they are recorded in the card)
    audit: bool = True  # run the dataset audit (duplicates and shared CBC reports join split groups)
    workers: int = field(default=0, compare=False)  # processes; 0 = all cores (does not change the output)

    def __post_init__(self) -> None:
        for name in self.configs:
            check_choice("dataset config", name, choices=CONFIG_NAMES)
        if not self.formats:
            raise UsageError(f"--formats needs at least one of {', '.join(FORMATS)}")
        for name in self.formats:
            check_choice("shard format", name, choices=FORMATS)
        check_choice("HDF5 codec", self.hdf5_codec, choices=HDF5_CODECS)
        check_choice("tile order", self.tile_order, choices=("auto", *TILE_ORDERS))
        self._check_ratios()
        check_seed("--seed", self.seed)
        positive = {
            "--folds": self.folds + 1,
            "--tile-cols": self.tile_cols,
            "--tile-rows": self.tile_rows,
            "--tile-width": self.tile_width,
            "--tile-height": self.tile_height,
            "--model-size": self.model_size,
            "--parquet-shard-mb": self.parquet_shard_mb,
        }
        for option, value in positive.items():
            if value < 1:
                raise UsageError(f"{option} must be positive, got {value}")
        if self.folds == 1:
            raise UsageError("--folds must be 0 (no cross-validation) or at least 2, got 1")
        if not 1 <= self.gzip_level <= 9:
            raise UsageError(f"--gzip-level must be within 1..9, got {self.gzip_level}")
        if self.workers < 0:
            raise UsageError(f"--workers must be 0 (all cores) or more, got {self.workers}")

    def _check_ratios(self) -> None:
        ratios = self.split_ratios
        finite = len(ratios) == 3 and all(math.isfinite(r) and r >= 0 for r in ratios)
        if not finite or abs(sum(ratios) - 1.0) > 1e-6 or ratios[0] == 0:
            raise UsageError(
                "--split-ratios must be three non-negative shares for train,validation,test that sum to 1 "
                f"(train > 0), e.g. 0.8,0.1,0.1; got {','.join(str(r) for r in ratios)}"
            )

    def to_dict(self) -> dict:
        """Plain dict for YAML/JSON (workers left out: it does not change the output)."""
        data = asdict(self)
        data.pop("workers")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
