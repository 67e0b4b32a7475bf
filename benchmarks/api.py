"""The model benchmark as functions a notebook calls; ``rbc-bench run`` is a thin wrapper over ``run_benchmark``."""

from __future__ import annotations

from pathlib import Path


def run_benchmark(
    suite: str,
    data: str | Path,
    *,
    preset: str | None = None,
    models: tuple[str, ...] = (),
    out_dir: str | Path = "runs",
    data_format: str = "hdf5",
    data_config: str = "model",
    cv: bool = False,
    resume: str | Path | None = None,
    config_file: str | Path | None = None,
    progress: bool = False,
    test_data: str | Path | None = None,
    protocol: str = "parents",
    **preset_values,
):
    """Train and score ``suite`` (``classification``, ``3tier``, ``segmentation``...) on a build's splits.

    Args:
        suite: the suite (``rbc-bench list``).
        data: a folder written by ``rbc-dataset build``.
        preset: ``cpu-smoke``, ``gpu``...; None picks the one for the machine.
        models: models to run (empty: the suite's line-up).
        out_dir: run folders go to ``out_dir/<suite>/``.
        data_format, data_config: the shards to read (``hdf5`` or ``parquet``) and the dataset config.
        cv: k-fold cross-validation over train+validation.
        resume: an unfinished run folder to continue.
        config_file: a YAML of preset keys (keyword values win over it).
        progress: draw progress bars.
        test_data: an external test: score on this build's test split (same classes, no shared parents),
            e.g. a clean build paired with a ``--shortcut`` training build.
        protocol: ``parents`` (the honest split by parent image); ``leaky-tiles``, only by that whole name, redraws
            the build's tiles at random across train, validation and test, a marked demonstration of a leaky split
            (``benchmarks.suite.leaky``).
        preset_values: preset fields (``epochs=3``, ``seeds=(0, 1)``, ``device="cpu"``...).

    Returns:
        The ``RunResult`` (its run folder holds the leaderboard, predictions and reports).

    Names and values are checked before torch loads or anything trains (a UsageError names the wrong one).
    """
    from benchmarks.suite.leaky import check_protocol
    from benchmarks.suite.request import RunRequest, check_names, check_request
    from benchmarks.training.data import check_built_dir
    from benchmarks.training.presets import Preset, default_preset_name, resolve_preset
    from rbc_dataset.config_file import checked_values, load_config_file
    from rbc_dataset.progress import library_bars

    data, models = Path(data), tuple(models)
    config_file = None if config_file is None else Path(config_file)
    check_names(suite, preset, models=models, fmt=data_format, data_config=data_config)
    check_protocol(protocol)
    from_file = load_config_file(config_file)
    checked_values(Preset, from_file, cli_values=preset_values, config_file=config_file, exclude=("name",))
    if preset is None:  # the default preset asks torch for CUDA: a mistyped data folder answers before that
        check_built_dir(data)
    resolved = resolve_preset(preset or default_preset_name(), from_file, cli_values=preset_values,
                              config_file=config_file)  # fmt: skip
    check_built_dir(data)  # the values first, then the data they apply to
    request = RunRequest(
        suite, data, preset=resolved, out_dir=Path(out_dir), models=models, fmt=data_format, config=data_config,
        cv=cv, resume=None if resume is None else Path(resume), show_progress=progress,
        test_data=None if test_data is None else Path(test_data), protocol=protocol,
    )  # fmt: skip
    check_request(request)
    from benchmarks.suite.runner import run_suite

    with library_bars(progress):
        return run_suite(request)
