"""A run's trained torch model and its re-initialised twin, fed as training fed them, and the test split they read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmarks.explain.gradcam import CamMaps, grad_cam, last_spatial_layer
from benchmarks.explain.run_reader import RUN_FIX, RunInfo, TorchCase
from benchmarks.training.batches import model_input, resize_sample
from rbc_dataset.errors import DataError
from rbc_dataset.progress import track


class ExplainedModel:
    """The trained model of a case, the same architecture with random weights, and how a tile becomes input."""

    def __init__(self, spec, *, trained: torch.nn.Module, randomised: torch.nn.Module, input_size: int, device):
        self.spec, self.trained, self.randomised = spec, trained, randomised
        self.input_size, self.device = input_size, device
        self.show_progress = False
        self.layer: str | None = None
        self.feature_size: tuple[int, int] = (0, 0)
        self.input_shape: tuple[int, int] = (0, 0)

    def model_input(self, tile: tuple[np.ndarray, np.ndarray | None]) -> torch.Tensor:
        """(1, C, S, S) float: the stored tile resized and normalised as in training (resize_sample, model_input)."""
        image, mask = tile
        with_mask = self.spec.needs_mask
        image, mask = resize_sample(image, mask if with_mask else None, size=self.input_size)
        batch = {"image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]}
        if with_mask:
            batch["mask"] = torch.from_numpy(np.ascontiguousarray(mask))[None, None]
        return model_input(batch, self.device, size=self.input_size, with_mask=with_mask, channels_last=False)

    def choose_layer(self, tile, layer: str | None = None) -> None:
        """The feature map to explain: ``layer``, else the model's last spatial map for this input."""
        inputs = self.model_input(tile)
        self.layer = layer or last_spatial_layer(self.trained, inputs)
        self.input_shape = (int(inputs.shape[-2]), int(inputs.shape[-1]))

    def cam(self, model: torch.nn.Module, tile, *, target: int) -> CamMaps:
        """Grad-CAM of class ``target`` for one tile."""
        targets = torch.tensor([target], dtype=torch.int64, device=self.device)
        maps = grad_cam(model, self.model_input(tile), targets=targets, layer=self.layer)
        self.feature_size = maps.feature_size
        return maps

    def attribute(self, model: torch.nn.Module, tiles: list, *, targets: list[int]) -> list[np.ndarray]:
        """One map per tile at the input's size (the randomisation check's attribution), with a progress bar."""
        which = "trained" if model is self.trained else "re-initialised"
        pairs = track(
            zip(tiles, targets, strict=True),
            len(tiles),
            description=f"{self.spec.name}: {which} maps",
            show=self.show_progress,
        )
        return [self.cam(model, tile, target=target).maps[0] for tile, target in pairs]


def load_models(case: TorchCase, *, run: RunInfo, device, random_seed: int) -> ExplainedModel:
    """The case's model with the run's weights, and a twin initialised by ``random_seed``; both in eval mode.

    Raises:
        DataError: the checkpoint is not one, or does not fit the model the run's settings build.
    """
    from benchmarks.catalog import get_model
    from benchmarks.training.loop import load_checkpoint

    spec = get_model(case.model)
    size = run.preset.build_size
    trained = spec.factory(num_classes=2, input_size=size)
    state = load_checkpoint(case.checkpoint)
    try:
        trained.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as error:
        reason = (str(error).strip().splitlines() or [""])[0]
        found = f"weights that do not fit it ({type(error).__name__}: {reason})"
        raise DataError(case.checkpoint, f"the weights of {case.model} as the run built it", found, RUN_FIX) from error
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_seed)
        randomised = spec.factory(num_classes=2, input_size=size)
    return ExplainedModel(
        spec,
        trained=trained.to(device).eval(),
        randomised=randomised.to(device).eval(),
        input_size=run.preset.input_size,
        device=device,
    )


def open_test_split(run: RunInfo, *, data: str | Path | None, out: Path):
    """The test SplitView the run scored; refused when the build moved (without ``data``), changed, or holds ``out``."""
    from benchmarks.training.data import open_split
    from rbc_dataset.fileio import check_output_outside, sha256_file

    build = Path(data) if data is not None else run.test_build
    config = run.path / "config.yaml"
    if not (build / "dataset.json").is_file():
        raise DataError(
            config,
            f"the build the run read at {build}",
            "no build there (moved or deleted)",
            "pass --data DIR with the same build where it is now",
        )
    digest = sha256_file(build / "dataset.json")
    if run.test_build_sha256 and digest != run.test_build_sha256:
        raise DataError(
            build / "dataset.json",
            f"the build the run read (dataset.json sha256 {run.test_build_sha256[:12]}...)",
            f"another build (sha256 {digest[:12]}...): rebuilt or changed since the run",
            "pass --data with the build the run read, or run the benchmark again on this build",
        )
    check_output_outside(out, [build, Path(run.config["data"])])
    return open_split(
        build, split="test", config=run.config.get("data_config", "model"), fmt=run.config.get("format", "hdf5")
    )
