"""The staged training loop: the tier validation point, selection on validation, checkpoints and resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.training.batches import MemorySource, epoch_order
from benchmarks.training.loop import TrainContext, load_checkpoint, predict, train_stages
from benchmarks.training.presets import PRESETS, Preset, resolve_preset
from benchmarks.training.stages import Stage, StageRecord, label_objective, stage_finished, train_everything
from rbc_dataset.errors import DataError, UsageError

PRESET = dataclasses.replace(PRESETS["cpu-smoke"], input_size=32, batch_size=8, lr=1e-2)


def _stage(threshold=None, max_epochs=3, select=False) -> Stage:
    selection = {"select_task": "module1", "select_head": "global"} if select else {}
    return Stage("s", train_everything, label_objective(None), max_epochs, threshold=threshold, **selection)


@pytest.mark.parametrize(
    ("accuracies", "threshold", "epochs", "reached"),
    [
        ([0.5, 0.7, 0.9], 0.8, 3, True),  # reached at the third epoch
        ([0.9], 0.8, 1, True),  # reached at once
        ([0.5, 0.6, 0.7, 0.75, 0.79], 0.8, 5, False),  # never: stops at max_epochs and says so
        ([0.2, float("nan"), 0.3, 0.4, 0.5], 0.8, 5, False),  # an epoch without counted samples never passes
    ],
)
def test_a_tier_trains_until_its_training_accuracy_reaches_the_threshold(accuracies, threshold, epochs, reached):
    stage, record = _stage(threshold, max_epochs=5), StageRecord("tier1", threshold=threshold)
    for accuracy in accuracies:
        assert not stage_finished(stage, record)
        record.train_accuracy.append(accuracy)
    assert stage_finished(stage, record)
    assert record.epochs == epochs and record.reached_threshold is reached


def test_a_stage_without_threshold_runs_its_epochs_and_reports_no_threshold():
    stage, record = _stage(None, max_epochs=2), StageRecord("classifier")
    record.train_accuracy += [1.0]
    assert not stage_finished(stage, record)  # perfect accuracy does not stop a fixed-epoch stage
    record.train_accuracy += [1.0]
    assert stage_finished(stage, record) and record.reached_threshold is None


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.body(x))


def _source(n=24, seed=0) -> MemorySource:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 100, (n, 3, 32, 32), generator=generator, dtype=torch.uint8)
    images[labels == 1] += 100  # learnable: anaemic samples are brighter
    return MemorySource(images, None, labels, torch.full((n,), -1))


def _context(**kwargs) -> TrainContext:
    values = {"device": torch.device("cpu"), "preset": PRESET, "seed": 0, "with_mask": False, "show_progress": False}
    return TrainContext(**{**values, "log": lambda message: None, **kwargs})


def _trained(stages, source, checkpoint=None, validate=None) -> tuple[TinyNet, list]:
    torch.manual_seed(0)
    model = TinyNet()
    return model, train_stages(model, stages, source=source, ctx=_context(), checkpoint=checkpoint, validate=validate)


def test_training_learns_and_predict_keeps_sample_order():
    source = _source()
    model, records = _trained([_stage(max_epochs=8)], source)
    probs = predict(model, source, ctx=_context())["global"]
    assert probs.shape == (24,)
    assert ((probs >= 0.5) == source.labels.numpy().astype(bool)).mean() >= 0.9
    assert records[0].epochs == 8 and records[0].done


def test_selection_keeps_the_epoch_with_the_best_validation_score():
    scores = iter([0.5, 0.9, 0.6])
    kept = {}

    def validate(model):
        score = next(scores)
        kept[score] = {k: v.clone() for k, v in model.state_dict().items()}
        return {("module1", "global"): score}

    model, records = _trained([_stage(max_epochs=3, select=True)], _source(), validate=validate)
    assert records[0].validation_score == [0.5, 0.9, 0.6] and records[0].selected_epoch == 2
    assert all(torch.equal(model.state_dict()[k], v) for k, v in kept[0.9].items())


class _Interrupt(Exception):
    pass


class _Failing(MemorySource):
    """Raises when epoch ``fail_at`` asks for batches: a run killed between epochs."""

    def __init__(self, base: MemorySource, fail_at: int):
        super().__init__(base.images, base.masks, base.labels, base.severity)
        self.calls, self.fail_at = 0, fail_at

    def batches(self, indices, batch_size):
        self.calls += 1
        if self.calls == self.fail_at:
            raise _Interrupt
        yield from super().batches(indices, batch_size)


def test_a_resumed_training_ends_exactly_where_an_uninterrupted_one_does(tmp_path):
    stages = [_stage(max_epochs=2), dataclasses.replace(_stage(max_epochs=3), name="second")]
    straight, straight_records = _trained(stages, _source(), tmp_path / "straight.pt")
    checkpoint = tmp_path / "resumed.pt"
    with pytest.raises(_Interrupt):
        _trained(stages, _Failing(_source(), fail_at=4), checkpoint)  # dies at epoch 2 of the second stage
    state = load_checkpoint(checkpoint)  # weights_only=True load
    assert state["stage_index"] == 1 and len(state["records"][1]["train_accuracy"]) == 1
    resumed, records = _trained(stages, _source(), checkpoint)
    assert [r.epochs for r in records] == [2, 3]
    assert records[1].train_loss == pytest.approx(straight_records[1].train_loss)
    for key, value in straight.state_dict().items():
        assert torch.allclose(resumed.state_dict()[key], value), key


def test_epoch_order_is_a_permutation_shared_and_dealt_out_over_processes():
    whole = epoch_order(10, seed=1, epoch=3)
    assert sorted(whole) == list(range(10))
    assert np.array_equal(whole, epoch_order(10, seed=1, epoch=3))
    assert not np.array_equal(whole, epoch_order(10, seed=1, epoch=4))
    parts = [epoch_order(10, 1, epoch=3, rank=rank, world_size=3) for rank in range(3)]
    assert {len(p) for p in parts} == {3} and len(set(np.concatenate(parts))) == 9


def test_presets_resolve_cli_over_file_over_preset_and_reject_bad_values():
    preset = resolve_preset("cpu-smoke", {"epochs": 7, "seeds": [4, 5]}, cli_values={"epochs": 2, "device": None})
    assert preset.epochs == 2 and preset.seeds == (4, 5) and preset.device == "cpu"
    with pytest.raises(UsageError, match="valid choices: cpu-image, cpu-native, cpu-smoke, gpu"):
        resolve_preset("fast", {}, cli_values={})
    with pytest.raises(UsageError, match="unknown key.*epoch_count"):
        resolve_preset("cpu-smoke", {"epoch_count": 3}, cli_values={})
    with pytest.raises(UsageError, match="tier_threshold"):
        Preset(name="x", tier_threshold=1.5)


class _Payload:
    """A pickled object: torch.load(weights_only=True) must refuse it without running it."""

    def __reduce__(self):
        return (print, ("code from a checkpoint ran",))


def _good_checkpoint(path):
    stages = [_stage(max_epochs=2)]
    with pytest.raises(_Interrupt):
        _trained(stages, _Failing(_source(), fail_at=2), path)  # one epoch done, checkpoint written
    return stages


@pytest.mark.parametrize(
    ("damage", "found"),
    [
        ("pickle", "Unsupported global"),
        ("truncate", "a file torch cannot read"),
        ("garbage", "a file torch cannot read"),
        ("empty", "a file torch cannot read"),
        ("not_a_checkpoint", "without model, optimizer"),
        ("other_model", "one that does not fit it"),
    ],
)
def test_a_damaged_checkpoint_is_a_data_error_naming_the_file(tmp_path, capsys, damage, found):
    checkpoint = tmp_path / "checkpoints" / "tiny_seed0.pt"
    stages = _good_checkpoint(checkpoint)
    data = checkpoint.read_bytes()
    if damage == "pickle":
        torch.save({"model": _Payload()}, checkpoint)
    elif damage == "truncate":
        checkpoint.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        checkpoint.write_bytes(b"PK\x03\x04 not a zip archive")
    elif damage == "empty":
        checkpoint.write_bytes(b"")
    elif damage == "not_a_checkpoint":
        torch.save({"weights": torch.zeros(2)}, checkpoint)
    else:
        state = load_checkpoint(checkpoint)
        torch.save({**state, "model": {"other.weight": torch.zeros(3)}}, checkpoint)
    with pytest.raises(DataError, match=found) as caught:
        _trained(stages, _source(), checkpoint)
    assert caught.value.path == checkpoint and "delete" in caught.value.fix
    assert "code from a checkpoint ran" not in capsys.readouterr().out


def test_an_intact_checkpoint_still_resumes(tmp_path):
    checkpoint = tmp_path / "tiny_seed0.pt"
    stages = _good_checkpoint(checkpoint)
    assert set(load_checkpoint(checkpoint)) >= {"model", "records", "stage_index"}
    _, records = _trained(stages, _source(), checkpoint)
    assert records[0].epochs == 2


@pytest.mark.parametrize(
    ("from_file", "phrase"),
    [
        ({"epochs": "one"}, "key 'epochs' expects a whole number, found 'one' (text)"),
        ({"seeds": 3}, "key 'seeds' expects a list of whole numbers, found 3"),
        ({"seeds": ["3"]}, "key 'seeds' expects a list of whole numbers, found ['3']"),
        ({"lr": "fast"}, "key 'lr' expects a number"),
        ({"lr": float("nan")}, "key 'lr' expects a number"),
        ({"bf16": "yes"}, "key 'bf16' expects true or false"),
        ({"name": "gpu"}, "unknown key(s) name"),
    ],
)
def test_preset_values_of_the_wrong_type_are_refused_naming_file_key_and_value(from_file, phrase):
    with pytest.raises(UsageError) as caught:
        resolve_preset("cpu-smoke", from_file, cli_values={}, config_file=Path("bench.yaml"))
    assert phrase in str(caught.value) and "bench.yaml" in str(caught.value)


def test_preset_file_values_of_the_right_type_pass():
    preset = resolve_preset(
        "cpu-smoke", {"lr": 1, "seeds": [3, 4], "bf16": True}, cli_values={}, config_file=Path("bench.yaml")
    )
    assert preset.lr == 1.0 and isinstance(preset.lr, float) and preset.seeds == (3, 4) and preset.bf16


def _scripted_validation(scores: list[dict]):
    """A validate() that hands out ``scores`` epoch by epoch (and counts the calls)."""
    stream = iter(scores)
    calls = []

    def validate(model):
        calls.append(1)
        return next(stream)

    return validate, calls


def test_early_stopping_ends_after_patience_epochs_and_keeps_the_best_epoch():
    accuracy = [0.5, 0.9, 0.8, 0.85, 0.95, 0.99]
    validate, calls = _scripted_validation([{("module1", "global"): a} for a in accuracy])
    stage = dataclasses.replace(_stage(max_epochs=6, select=True), patience=2)
    _, records = _trained([stage], _source(), validate=validate)
    assert records[0].epochs == 4 and len(calls) == 4  # epochs 3 and 4 did not beat epoch 2
    assert records[0].stopped_early and records[0].selected_epoch == 2


def test_without_patience_every_epoch_runs():
    validate, _ = _scripted_validation([{("module1", "global"): a} for a in (0.9, 0.5, 0.5, 0.5)])
    _, records = _trained([_stage(max_epochs=4, select=True)], _source(), validate=validate)
    assert records[0].epochs == 4 and not records[0].stopped_early and records[0].selected_epoch == 1


def test_an_undefined_balanced_accuracy_selects_on_validation_loss_not_nan():
    """One class in the validation split: balanced accuracy is undefined, the loss is not."""
    losses = [0.7, 0.3, 0.6]
    validate, _ = _scripted_validation([{("module1/loss", "global"): loss} for loss in losses])
    _, records = _trained([_stage(max_epochs=3, select=True)], _source(), validate=validate)
    assert records[0].selected_epoch == 2 and records[0].selected_on == "loss"
    assert records[0].validation_score == [-0.7, -0.3, -0.6]


def test_cosine_schedule_anneals_and_constant_keeps_the_rate():
    source = _source()
    torch.manual_seed(0)
    cosine = train_stages(TinyNet(), [_stage(max_epochs=4)], source=source, ctx=_context())
    constant_ctx = _context(preset=dataclasses.replace(PRESET, lr_schedule="constant"))
    constant = train_stages(TinyNet(), [_stage(max_epochs=4)], source=source, ctx=constant_ctx)
    rates = cosine[0].learning_rate
    assert rates[0] == PRESET.lr and all(a > b for a, b in zip(rates, rates[1:], strict=False))
    assert constant[0].learning_rate == [PRESET.lr] * 4


def test_validation_scores_give_a_loss_where_one_class_leaves_balanced_accuracy_undefined():
    import pandas as pd

    from benchmarks.suite.cases import validation_scores

    table = pd.DataFrame({"label": [1, 1, 1], "severity": [0, 1, 0]})
    scores = validation_scores({"global": np.array([0.9, 0.8, 0.2])}, table, anaemic=1)
    assert ("module1", "global") not in scores and scores[("module1/loss", "global")] > 0
    both = validation_scores(
        {"global": np.array([0.9, 0.2])}, pd.DataFrame({"label": [1, 0], "severity": [-1, -1]}), anaemic=1
    )
    assert both[("module1", "global")] == 1.0


def test_thread_plan_leaves_the_loader_workers_their_cores(monkeypatch):
    from benchmarks.training import distributed

    monkeypatch.setattr(distributed, "usable_cores", lambda: 8)
    loader = dataclasses.replace(PRESET, data_mode="loader", num_workers=3)
    assert distributed.thread_plan(loader)["torch_threads"] == 5
    assert distributed.thread_plan(PRESET)["torch_threads"] == 8  # memory mode: no loader workers
    assert distributed.thread_plan(PRESET, world_size=2)["torch_threads"] == 4
    chosen = distributed.thread_plan(dataclasses.replace(PRESET, torch_threads=1))
    assert chosen["torch_threads"] == 1 and chosen["chosen"] == "--torch-threads"
    before = torch.get_num_threads()
    with distributed.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    "values, phrase",
    [
        ({"crop_size": 16}, "crop_size must be 0 or >= 32"),
        ({"crop_size": 400}, "larger than input_size"),
        ({"input_size": 0, "crop_size": 0}, "needs a crop_size"),
        ({"colour_jitter": 1.5}, "colour_jitter is a fraction"),
        ({"patience": -1}, "patience must be >= 0"),
        ({"lr_schedule": "step"}, "valid choices: constant, cosine"),
    ],
)
def test_bad_augmentation_and_schedule_values_are_refused(values, phrase):
    with pytest.raises(UsageError, match=phrase):
        dataclasses.replace(PRESETS["cpu-native"], **values)
