"""The toolkit benchmarks' commands of ``rbc-bench`` (synth-speed ... train-speed), in their own help panel.

Each command runs one module of this package, named after it (``loader-speed`` runs ``loader_speed.py``), and
writes a JSON result; the figures are in docs/BENCHMARKS.md. ``benchmarks.commands`` registers them after the
model benchmark's commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from benchmarks.training.presets import PRESETS, default_preset_name
from rbc_dataset.cli_options import (
    DataConfig,
    LoaderWorkersOption,
    MaskStyle,
    QuietOption,
    SourcePart,
    SplitName,
    csv_list,
    existing_path,
    expand_path,
    fail_cleanly,
    print_text,
)

PANEL = "Toolkit benchmarks"
PresetName = Literal[tuple(PRESETS)]
JsonOption = Annotated[Path, typer.Option("--json", callback=expand_path, help="Results file.")]
BenchWorkersOption = Annotated[int, typer.Option("--workers", help="Processes.")]


def synth_speed(
    n_images: Annotated[int, typer.Option("--n-images", help="AneRBC-I images per class (500 = full scale).")] = 20,
    *,
    workers: BenchWorkersOption = 2,
    work_dir: Annotated[
        Path, typer.Option("--work-dir", callback=expand_path, help="Scratch folder for the generated data.")
    ] = Path("bench_out/synth"),
    json_out: JsonOption = Path("bench_out/synth_speed.json"),
    keep: Annotated[bool, typer.Option("--keep", help="Keep the generated data (e.g. for ingest-speed).")] = False,
) -> None:
    """Time `synth` (images/s, peak memory) and write a JSON result."""
    from benchmarks.toolkit.synth_speed import run_synth_speed

    run_synth_speed(n_images, workers, work_dir=work_dir, json_out=json_out, keep=keep)


def ingest_speed(
    data: Annotated[
        Path,
        typer.Option("--data", callback=existing_path, help="A synthetic dataset written by `rbc-dataset synth`."),
    ],
    *,
    workers: BenchWorkersOption = 2,
    json_out: JsonOption = Path("bench_out/ingest_speed.json"),
) -> None:
    """Time `ingest` (files/s, hashing included, peak memory) and write a JSON result."""
    from benchmarks.toolkit.ingest_speed import run_ingest_speed

    run_ingest_speed(data, workers, json_out=json_out)


def validate_quality(
    n_images: Annotated[int, typer.Option("--n-images", help="AneRBC-I images per class (tiles follow).")] = 25,
    *,
    defects: Annotated[float, typer.Option("--defects", help="Share of pairs with a planted defect.")] = 0.2,
    mask_style: Annotated[MaskStyle, typer.Option("--mask-style", help="Masks of the synthetic set.")] = "anerbc",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic set.")] = 0,
    json_out: JsonOption = Path("bench_out/validate_quality.json"),
) -> None:
    """Recall per planted defect type and false-positive rate of validate-masks on synthetic data."""
    from benchmarks.toolkit.validate_quality import run_validate_quality

    run_validate_quality(n_images, defects, mask_style=mask_style, seed=seed, json_out=json_out)


def validate_speed(
    manifest: Annotated[
        Path,
        typer.Option("--manifest", callback=existing_path, help="Manifest of a (full-scale synthetic) dataset."),
    ],
    *,
    source: Annotated[list[SourcePart] | None, typer.Option("--source", help="Part(s) to time (default both).")] = None,
    json_out: JsonOption = Path("bench_out/validate_speed.json"),
) -> None:
    """validate-masks wall time against decoding the same files, with 1 and 2 processes."""
    from benchmarks.toolkit.validate_speed import run_validate_speed

    parts = [part.value for part in source] if source else ["AneRBC-II", "AneRBC-I"]
    run_validate_speed(manifest, parts, workers=[1, 2], json_out=json_out)


def build_speed(
    data: Annotated[
        Path,
        typer.Option(
            "--data", callback=existing_path, help="Dataset folder or manifest to build (full-scale synthetic)."
        ),
    ],
    *,
    work_dir: Annotated[Path, typer.Option("--work-dir", callback=expand_path, help="Where the builds go.")] = Path(
        "bench_out/builds"
    ),
    workers: BenchWorkersOption = 2,
    fast_codec: Annotated[bool, typer.Option("--fast-codec", help="Also build HDF5 with blosc-lz4.")] = False,
    json_out: JsonOption = Path("bench_out/build_speed.json"),
) -> None:
    """Build wall time per stage, peak memory and bytes per config and format."""
    from benchmarks.toolkit.build_speed import run_build_speed

    run_build_speed(data, work_dir, workers=workers, fast_codec=fast_codec, json_out=json_out)


def loader_speed(
    data: Annotated[
        Path, typer.Option("--data", callback=existing_path, help="A folder written by rbc-dataset build.")
    ],
    *,
    data_config: Annotated[DataConfig, typer.Option("--data-config", help="Dataset config to read.")] = "tiles",
    split: Annotated[SplitName, typer.Option("--split", help="Split to read.")] = "train",
    max_items: Annotated[int, typer.Option("--max-items", help="Samples per pass.")] = 2000,
    fast_codec_dir: Annotated[
        Path | None,
        typer.Option("--fast-codec-dir", callback=existing_path, help="A second build with --hdf5-codec blosc-lz4."),
    ] = None,
    work_dir: Annotated[
        Path, typer.Option("--work-dir", callback=expand_path, help="Scratch folder (PNG export).")
    ] = Path("bench_out/loader_work"),
    repeats: Annotated[int, typer.Option("--repeats", help="Passes per method; the fastest counts.")] = 1,
    json_out: JsonOption = Path("bench_out/loader_speed.json"),
    quiet: QuietOption = False,
) -> None:
    """Images/s into tensors per core: PNG folder, Hugging Face Parquet, HDF5 gzip, HDF5 blosc-lz4."""
    from benchmarks.toolkit.loader_speed import run_loader_bench
    from rbc_dataset.progress import library_bars

    with library_bars(not quiet):
        run_loader_bench(
            data,
            json_out=json_out,
            config=data_config,
            split=split,
            max_items=max_items,
            fast_codec_dir=fast_codec_dir,
            work_dir=work_dir,
            repeats=repeats,
        )


def annotate_segment(
    realdata: Annotated[
        Path,
        typer.Option(
            "--realdata", callback=expand_path, help="Folder with AneRBC-I, Chula, BCCD (parts may be absent)."
        ),
    ] = Path("../shared/realdata"),
    *,
    n_synthetic: Annotated[int, typer.Option("--n-synthetic", help="Synthetic images for instance AP.")] = 10,
    workers: BenchWorkersOption = 2,
    json_out: JsonOption = Path("bench_out/annotate_segment.json"),
) -> None:
    """Proposal Dice, instance AP, Chula point recall, BCCD box recall, each next to its baseline; throughput."""
    from benchmarks.toolkit.annotate_segment import run_segment_bench

    run_segment_bench(realdata, json_out, n_synthetic=n_synthetic, workers=workers)


def annotate_fit(
    realdata: Annotated[
        Path, typer.Option("--realdata", callback=existing_path, help="Folder with AneRBC-I (Chula, BCCD optional).")
    ] = Path("../shared/realdata"),
    *,
    init: Annotated[
        Path | None,
        typer.Option("--init", callback=existing_path, help="Model folder the fits start from (default: packaged)."),
    ] = None,
    scratch: Annotated[bool, typer.Option("--scratch", help="Fit new networks (no pretrained start).")] = False,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs of every fit.")] = None,
    steps_per_epoch: Annotated[int | None, typer.Option("--steps-per-epoch", help="Batches per epoch.")] = None,
    crop_size: Annotated[int | None, typer.Option("--crop-size", help="Side of the training crops (px).")] = None,
    rehearsal: Annotated[
        float | None, typer.Option("--rehearsal", help="Share of each batch from synthetic smears (0: off).")
    ] = None,
    curve_folds: Annotated[int, typer.Option("--curve-folds", help="Held-out images of the learning curve.")] = 4,
    skip_folds: Annotated[
        bool, typer.Option("--skip-folds", help="No leave-one-out or curve folds: only the fit on all pairs.")
    ] = False,
    json_out: JsonOption = Path("bench_out/annotate_fit.json"),
    quiet: QuietOption = False,
) -> None:
    """Leave-one-image-out Dice of `annotate fit` next to Otsu + fill and `propose`, a learning curve, BCCD and
    Chula instances from the fitted model, fit time and proposal speed."""
    from dataclasses import replace

    from annotation.learned.pretrain import default_init
    from benchmarks.toolkit.annotate_fit import BENCH_SETTINGS, run_fit_bench

    given = {"epochs": epochs, "steps_per_epoch": steps_per_epoch, "crop_size": crop_size, "rehearsal": rehearsal}
    settings = replace(BENCH_SETTINGS, **{k: v for k, v in given.items() if v is not None})
    start = None if scratch else (init or default_init())
    log = (lambda line: None) if quiet else print_text
    run_fit_bench(
        realdata, json_out, init=start, settings=settings, curve_folds=curve_folds, folds=not skip_folds, log=log
    )


def annotate_fit_recipes(
    realdata: Annotated[
        Path, typer.Option("--realdata", callback=existing_path, help="Folder with AneRBC-I image/mask pairs.")
    ] = Path("../shared/realdata"),
    *,
    recipes: Annotated[str, typer.Option("--recipes", help="Recipes, comma-separated, in the order they run.")] = (
        "v2,long,scratch-real,scratch"
    ),
    curve_recipes: Annotated[
        str, typer.Option("--curve-recipes", help="Recipes that also get learning-curve folds (1, 2, 4 images).")
    ] = "",
    device: Annotated[Literal["cpu", "cuda", "auto"], typer.Option("--device", help="Where the fits train.")] = "cpu",
    workers: BenchWorkersOption = 2,
    budget_s: Annotated[
        float, typer.Option("--budget-s", help="Take no new fit after this many seconds (what finished is kept).")
    ] = 3600.0,
    max_epochs: Annotated[int, typer.Option("--max-epochs", help="Cap every recipe's epochs (0: none).")] = 0,
    json_out: JsonOption = Path("bench_out/annotate_fit_recipes.json"),
) -> None:
    """Several `annotate fit` recipes on the same leave-one-image-out folds, in parallel processes (a GPU run):
    held-out Dice, with the dihedral test-time average, and in-sample Dice of every recipe."""
    from benchmarks.toolkit.annotate_fit_recipes import run_recipes

    run_recipes(
        realdata=realdata,
        json_out=json_out,
        recipes=list(csv_list(recipes)),
        curve_recipes=list(csv_list(curve_recipes)),
        device=device,
        workers=workers,
        budget_s=budget_s,
        max_epochs=max_epochs,
    )


def annotate_pretrain(
    realdata: Annotated[
        Path, typer.Option("--realdata", callback=existing_path, help="Folder with AneRBC-I, BCCD and/or Chula.")
    ] = Path("../shared/realdata"),
    *,
    arms: Annotated[
        str,
        typer.Option(
            "--arms",
            help="Recipes OVERLAP/HUE, optionally /ZOOM/DEFOCUS/EDGE, comma-separated (first: base of the pairs).",
        ),
    ] = "0/default,0.35/default,0.35/0.5",
    seeds: Annotated[
        str, typer.Option("--synth-seeds", help="Seeds of the synthetic smears, comma-separated.")
    ] = "1,3,5",
    n_images: Annotated[
        int, typer.Option("--n-images", min=1, help="Synthetic smears per class for each pretraining.")
    ] = 20,  # annotate_pretrain.PRETRAIN_IMAGES, as make pretrained draws them (not imported: it loads torch)
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Epochs of each pretraining (default: as make pretrained).")
    ] = None,
    json_out: JsonOption = Path("bench_out/annotate_pretrain.json"),
    quiet: QuietOption = False,
) -> None:
    """Pretrain a new cell model per recipe (overlap, defocus and cell edges of the smears, hue turn and zoom of crops)
    and synthetic seed, as `make pretrained` does, and score each model alone on real images: AneRBC-I Dice, BCCD
    boxes, Chula points; paired differences against the first recipe."""
    from benchmarks.toolkit.annotate_pretrain import Arm, run_pretrain_bench

    run_pretrain_bench(
        realdata=realdata,
        json_out=json_out,
        arms=[Arm.parse(text) for text in csv_list(arms)],
        seeds=list(csv_list(seeds, cast=int, option="--synth-seeds")),
        n_images=n_images,
        epochs=epochs,
        log=(lambda line: None) if quiet else print_text,
    )


def annotate_score(
    realdata: Annotated[
        Path, typer.Option("--realdata", callback=existing_path, help="Folder with AneRBC-I, BCCD and/or Chula.")
    ] = Path("../shared/realdata"),
    *,
    models: Annotated[
        list[Path] | None,
        typer.Option(
            "--cell-model",
            callback=existing_path,
            help="A cell-model folder; repeat it to compare (first: base of the pairs). Default: the packaged model.",
        ),
    ] = None,
    json_out: JsonOption = Path("bench_out/annotate_score.json"),
    quiet: QuietOption = False,
) -> None:
    """Score cell-model folders alone on real images (AneRBC-I Dice, BCCD boxes, Chula points) with 95 %
    image-bootstrap intervals, and each against the first, image by image."""
    from annotation.learned.pretrain import PRETRAINED
    from benchmarks.toolkit.annotate_pretrain import run_score_bench

    run_score_bench(
        realdata=realdata,
        models=models or [PRETRAINED],
        json_out=json_out,
        log=(lambda line: None) if quiet else print_text,
    )


def annotate_morph(
    n_images: Annotated[int, typer.Option("--n-images", help="Synthetic images per class for cell types.")] = 10,
    *,
    seed: Annotated[int, typer.Option("--seed", help="Evaluation seed (fitting uses another).")] = 100,
    workers: BenchWorkersOption = 2,
    json_out: JsonOption = Path("bench_out/annotate_morph.json"),
    fit_only: Annotated[
        bool, typer.Option("--fit-only", help="Print the re-fitted severity cut (fitting set only) and stop.")
    ] = False,
) -> None:
    """Cell-type macro-F1 with the confusion matrix, and severity accuracy, on synthetic truth."""
    from benchmarks.toolkit import annotate_morph as bench

    if fit_only:
        typer.echo(json.dumps(bench.run_severity_fit(workers=workers), indent=1))
        return
    bench.run_morph_bench(json_out, n_images=n_images, seed=seed, workers=workers)


def realism(
    real: Annotated[Path, typer.Option("--real", callback=existing_path, help="Real AneRBC-I folder.")] = Path(
        "../shared/realdata/AneRBC-I"
    ),
    *,
    synthetic: Annotated[
        Path, typer.Option("--synthetic", callback=existing_path, help="Synthetic dataset folder.")
    ] = Path("demo/synthetic"),
    json_out: JsonOption = Path("bench_out/realism.json"),
    max_images: Annotated[int, typer.Option("--max-images", help="At most this many images per side.")] = 20,
    cells: Annotated[
        bool, typer.Option("--cells/--no-cells", help="Per-cell profiles, pallor, size and shape, per class.")
    ] = True,
    c2st: Annotated[
        bool, typer.Option("--c2st/--no-c2st", help="Classifier two-sample test: real vs synthetic crops (AUC).")
    ] = True,
    cnn: Annotated[bool, typer.Option("--cnn/--no-cnn", help="Also the two-sample test with a small CNN.")] = True,
    crops_per_image: Annotated[
        int, typer.Option("--crops-per-image", help="Random 128 px crops per image for the two-sample test.")
    ] = 12,
    epochs: Annotated[int, typer.Option("--epochs", help="CNN epochs per fold of the two-sample test.")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the crops, folds, CNN and bootstrap.")] = 0,
    sheet: Annotated[
        Path | None,
        typer.Option(
            "--sheet", callback=expand_path, help="Also write side-by-side real and synthetic crops per class (JPEG)."
        ),
    ] = None,
) -> None:
    """Compare image and per-cell statistics of synthetic and real AneRBC-I, then a classifier two-sample test."""
    from benchmarks.toolkit.realism import run_realism
    from benchmarks.toolkit.realism_c2st import C2stSettings

    settings = C2stSettings(crops_per_image=crops_per_image, seed=seed, cnn=cnn, cnn_epochs=epochs) if c2st else None
    run_realism(real, synthetic, json_out=json_out, max_images=max_images, c2st=settings, cells=cells, sheet=sheet)


def train_speed(
    data: Annotated[
        Path, typer.Option("--data", callback=existing_path, help="A folder written by `rbc-dataset build`.")
    ],
    *,
    models: Annotated[
        str, typer.Option("--models", help="Torch models, comma-separated.")
    ] = "3tier,resnet18,mobilenet_v2",
    preset: Annotated[PresetName | None, typer.Option("--preset", help="Settings (default: by device).")] = None,
    steps: Annotated[int, typer.Option("--steps", help="Timed training steps per model and source.")] = 20,
    repeats: Annotated[int, typer.Option("--repeats", help="Passes per source; the fastest counts.")] = 1,
    torch_threads: Annotated[
        int, typer.Option("--torch-threads", help="Training threads (0: cores left after loader workers).")
    ] = 0,
    num_workers: LoaderWorkersOption = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size.")] = None,
    json_out: JsonOption = Path("bench_out/train_speed.json"),
    quiet: QuietOption = False,
) -> None:
    """Training images/s per model fed by the shard loader and by in-memory tensors (target: >= 90 %)."""
    from benchmarks.toolkit.train_speed import run_train_speed
    from benchmarks.training.presets import resolve_preset

    values = {"num_workers": num_workers, "batch_size": batch_size}
    resolved = resolve_preset(preset or default_preset_name(), {}, cli_values=values)
    run_train_speed(
        data,
        csv_list(models),
        preset=resolved,
        steps=steps,
        json_out=json_out,
        repeats=repeats,
        threads=torch_threads,
        progress=not quiet,
    )


def transfer(
    real: Annotated[
        Path, typer.Option("--real", callback=expand_path, help="Real AneRBC-I folder (only scored).")
    ] = Path("../shared/realdata/AneRBC-I"),
    *,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", callback=existing_path, help="Training data: a build or a dataset folder (default: synthesized)."
        ),
    ] = None,
    n_images: Annotated[int, typer.Option("--n-images", help="Images per class to synthesize without --data.")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed of synthesis, split, training and bootstrap.")] = 0,
    models: Annotated[str, typer.Option("--models", help="Models, comma-separated.")] = "morphometric,resnet18",
    input_size: Annotated[int, typer.Option("--input-size", help="CNN input side (tiles are resized).")] = 128,
    epochs: Annotated[int, typer.Option("--epochs", help="CNN epochs (best on validation kept).")] = 6,
    batch_size: Annotated[int, typer.Option("--batch-size", help="CNN batch size.")] = 16,
    device: Annotated[Literal["cpu", "cuda", "auto"], typer.Option("--device", help="CNN device.")] = "cpu",
    workers: BenchWorkersOption = 2,
    work_dir: Annotated[
        Path | None, typer.Option("--work-dir", callback=expand_path, help="Keep the data and builds made here.")
    ] = None,
    json_out: JsonOption = Path("bench_out/transfer.json"),
    quiet: QuietOption = False,
) -> None:
    """Train on synthetic, test on real: per-image balanced accuracy and AUC on real AneRBC-I, with 95 % CIs."""
    from benchmarks.toolkit.transfer import TransferSettings, run_transfer
    from rbc_dataset.progress import library_bars

    settings = TransferSettings(
        models=tuple(csv_list(models)),
        n_images=n_images,
        seed=seed,
        input_size=input_size,
        epochs=epochs,
        batch_size=batch_size,
        device=device,
        workers=workers,
    )
    with library_bars(not quiet):
        run_transfer(real, json_out=json_out, train=data, settings=settings, work_dir=work_dir, show_progress=not quiet)


# In the order `rbc-bench --help` lists them: data tools first, then annotate, realism, training.
COMMANDS = (
    ("synth-speed", synth_speed),
    ("ingest-speed", ingest_speed),
    ("validate-quality", validate_quality),
    ("validate-speed", validate_speed),
    ("build-speed", build_speed),
    ("loader-speed", loader_speed),
    ("annotate-segment", annotate_segment),
    ("annotate-morph", annotate_morph),
    ("annotate-fit", annotate_fit),
    ("annotate-fit-recipes", annotate_fit_recipes),
    ("annotate-pretrain", annotate_pretrain),
    ("annotate-score", annotate_score),
    ("realism", realism),
    ("train-speed", train_speed),
    ("transfer", transfer),
)


def register(app: typer.Typer) -> None:
    """Add the toolkit benchmarks to ``app`` (``rbc-bench``) under the help panel "Toolkit benchmarks"."""
    for name, command in COMMANDS:
        app.command(name, rich_help_panel=PANEL)(fail_cleanly(command))
