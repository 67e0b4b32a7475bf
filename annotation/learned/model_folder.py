"""The folder a fitted cell model lives in, and the one way to read it back.

``MODEL_DIR/``
- ``weights.pt``: the network's state dict (``torch.load(..., weights_only=True)`` reads it; no pickled code);
- ``model.json``: what the network is (format, width, output maps, input normalisation) and how it was made
  (images, masks, settings, the model it continued from, wall time);
- ``validation.json``: cell-class Dice of every held-back image at the kept epoch, and the epoch kept;
- ``history.csv``: one row per epoch (training loss, validation Dice, seconds).

A folder is written whole or not at all (``rbc_dataset.fileio.atomic_directory``), so a folder with
``model.json`` is a finished model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from rbc_dataset.errors import DataError

FORMAT = "rbc-dataset cell model 1"
OUTPUTS = ("cell", "centre")  # channel 0: cell-class logit; channel 1: cell-centre logit (annotation.learned.targets)
FILES = ("model.json", "weights.pt")
FIX = "pass a folder written by `rbc-dataset annotate fit` or `annotate pretrain` (model.json, weights.pt)"


def build_network(*, base_width: int = 16) -> torch.nn.Module:
    """The segmentation suite's U-Net with one output map per entry of ``OUTPUTS``, in channels-last layout.

    Channels-last (with channels-last inputs: ``channels_last``) made a full 1224x960 image's forward pass 2.4x
    and a training step 1.6x faster on 2 CPU cores (oneDNN's convolutions), with the same outputs.
    """
    from benchmarks.models.unet import SmallUNet

    network = SmallUNet(in_channels=3, base_width=base_width, out_channels=len(OUTPUTS))
    return network.to(memory_format=torch.channels_last)


def channels_last(images: torch.Tensor) -> torch.Tensor:
    """A (B, C, H, W) batch in the layout the cell model's network is in (``build_network``)."""
    return images.contiguous(memory_format=torch.channels_last)


@dataclass
class CellModel:
    """A fitted cell model: the network in eval mode and its description."""

    path: Path
    network: torch.nn.Module
    description: dict  # model.json

    @property
    def name(self) -> str:
        return self.path.name


def describe(*, base_width: int, trained: dict) -> dict:
    """The content of ``model.json`` for a network of ``base_width`` made as ``trained`` says."""
    from benchmarks.models.unet import IMAGENET_MEAN, IMAGENET_STD

    return {
        "format": FORMAT,
        "network": "SmallUNet (benchmarks/models/unet.py)",
        "base_width": base_width,
        "outputs": list(OUTPUTS),
        "input": {"channels": "RGB", "scale": "0-1", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "trained": trained,
    }


def save_model(folder: Path, network: torch.nn.Module, *, description: dict) -> None:
    """Write ``weights.pt`` and ``model.json`` into ``folder`` (the caller makes it atomic)."""
    state = {name: value.detach().cpu().contiguous() for name, value in network.state_dict().items()}
    torch.save(state, folder / "weights.pt")
    (folder / "model.json").write_text(json.dumps(description, indent=2, default=str) + "\n", encoding="utf-8")


def read_description(path: str | Path) -> dict:
    """``model.json`` of a model folder.

    Raises:
        DataError: naming the folder or file, when it is not a finished model folder of this format.
    """
    folder = Path(path)
    expected = "a cell-model folder with " + ", ".join(FILES)
    if not folder.is_dir():
        raise DataError(folder, expected, "a file" if folder.exists() else "no such folder", FIX)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        held = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
        raise DataError(folder, expected, f"no {', '.join(missing)} (holds: {held})", FIX)
    try:
        description = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(folder / "model.json", "the JSON a fit writes", f"unreadable JSON ({error})", FIX) from error
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        found = description.get("format") if isinstance(description, dict) else type(description).__name__
        raise DataError(folder / "model.json", f"format {FORMAT!r}", f"format {found!r}", FIX)
    return description


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> CellModel:
    """The fitted model of a model folder, in eval mode on ``device``.

    Raises:
        DataError: not a model folder, or weights that do not fit the network it describes.
    """
    from benchmarks.models.weights import load_state_dict_file

    folder = Path(path)
    description = read_description(folder)
    network = build_network(base_width=int(description.get("base_width", 16)))
    load_state_dict_file(network, folder / "weights.pt", fix=FIX)
    return CellModel(folder, network.to(device).eval(), description)
