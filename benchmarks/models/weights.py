"""The one loader of local state-dict files: strict, offline, with a DataError naming the file on any problem.

Every model of ``rbc-bench`` that takes a ``weights_path`` (the torchvision CNNs, 3-TierDCFNet, the U-Net) loads
it through ``load_state_dict_file``, so a missing, unreadable or mismatched file is reported the same way
everywhere. Files are read with ``torch.load(map_location="cpu", weights_only=True)``: no pickled code runs.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from rbc_dataset.errors import DataError

_KEYS_SHOWN = 5  # missing / unexpected keys named in an error message


def with_metadata(entries: OrderedDict, like: Mapping) -> OrderedDict:
    """``entries`` carrying the ``_metadata`` (module versions) of the state dict ``like``, when it has one.

    Args:
        entries: a new state dict built from ``like`` (renamed or completed keys).
        like: the state dict read from the file.

    Returns:
        ``entries`` itself, so that ``load_state_dict`` still sees the versions the file was saved with.
    """
    metadata = getattr(like, "_metadata", None)
    if metadata is not None:
        entries._metadata = metadata
    return entries


def _read_state_dict(path: Path, fix: str) -> Mapping[str, torch.Tensor]:
    """The tensors of a state-dict file; DataError when it is missing, unreadable or not a state dict."""
    expected = "a PyTorch state dict (.pth) readable with torch.load(weights_only=True)"
    if not path.is_file():
        raise DataError(path, expected, "a folder" if path.is_dir() else "no such file", fix)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        found = f"a file torch.load cannot read ({type(error).__name__}: {first_line})"
        raise DataError(path, expected, found, fix) from error
    if not isinstance(state, Mapping):
        raise DataError(path, expected, f"a {type(state).__name__}, not a mapping of names to tensors", fix)
    not_tensors = [key for key, value in state.items() if not isinstance(key, str) or not torch.is_tensor(value)]
    if not_tensors:
        shown = ", ".join(repr(key) for key in not_tensors[:_KEYS_SHOWN])
        raise DataError(
            path, expected, f"{len(not_tensors)} entries that are not named tensors ({shown}); a full checkpoint?", fix
        )
    return state


def _describe_mismatch(model_state: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> str | None:
    """What differs between the model's keys/shapes and the file's, or None when they match."""
    # BatchNorm fills in a missing num_batches_tracked itself; files saved by old PyTorch versions lack it.
    missing = [key for key in model_state if key not in state and not key.endswith("num_batches_tracked")]
    unexpected = [key for key in state if key not in model_state]
    wrong_shape = [
        f"{key} {tuple(state[key].shape)} vs {tuple(model_state[key].shape)}"
        for key in model_state
        if key in state and state[key].shape != model_state[key].shape
    ]
    problems = []
    groups = (("missing keys", missing), ("unexpected keys", unexpected), ("shapes (file vs model)", wrong_shape))
    for label, keys in groups:
        if keys:
            more = f" and {len(keys) - _KEYS_SHOWN} more" if len(keys) > _KEYS_SHOWN else ""
            problems.append(f"{len(keys)} {label}: {', '.join(keys[:_KEYS_SHOWN])}{more}")
    return "; ".join(problems) or None


def load_state_dict_file(
    model: nn.Module,
    path: str | Path,
    *,
    fix: str,
    rename_keys: Callable[[Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]] | None = None,
) -> None:
    """Load a local state-dict file into ``model`` strictly, with a DataError naming the file on any mismatch.

    Args:
        model: the model whose keys and shapes the file must match.
        path: the ``.pth`` file (read with ``torch.load(map_location="cpu", weights_only=True)``).
        fix: what the user should do when the file is missing or does not fit.
        rename_keys: maps legacy key names of the file to the model's, applied before the comparison.

    Raises:
        DataError: the file is missing, unreadable, not a state dict, or its keys/shapes differ from the model's.
    """
    path = Path(path)
    state = _read_state_dict(path, fix)
    if rename_keys is not None:
        state = rename_keys(state)
    mismatch = _describe_mismatch(model.state_dict(), state)
    if mismatch is not None:
        if all(key.startswith("module.") for key in state):
            mismatch += " (every key starts with 'module.': saved from a DDP wrapper; save model.module.state_dict())"
        expected = f"the keys and shapes of a {type(model).__name__} state dict"
        raise DataError(path, expected, mismatch, fix)
    model_state = model.state_dict()
    # Fill in the BatchNorm batch counters that old files lack, so that the strict load below accepts them.
    counters = {key: value for key, value in model_state.items() if key.endswith("num_batches_tracked")}
    counters = {key: value for key, value in counters.items() if key not in state}
    if counters:
        state = with_metadata(OrderedDict({**state, **counters}), state)
    model.load_state_dict(state, strict=True)
