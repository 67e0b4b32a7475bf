"""The two cards of a build: ``dataset.json`` (machine-readable, what verify checks) and ``README.md``.

README.md is a Hugging Face dataset card: its YAML declares the configs (data files per split), the
features and the split sizes, so ``datasets.load_dataset(DIR, config)`` needs nothing else; its text says
where the data comes from, how it was split and what validate-masks and the audit found.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rbc_dataset import __version__
from rbc_dataset.dataset_card import FORMAT_VERSION, SCHEMA_VERSION, DatasetCard, write_card
from rbc_dataset.fileio import atomic_write_bytes
from rbc_dataset.markup import md_code, md_text
from rbc_dataset.shards.config import SPLIT_NAMES
from rbc_dataset.shards.parquet_shards import hf_features

MIN_PARENTS = 10  # a split with fewer parent images gives scores too uncertain to compare models by
# Hugging Face's size_categories by number of examples (hub-docs datasetcard.md); above the last: "n>1T".
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
# What an audit finding means for users of the shards (the audit reads the input, not the shards).
AUDIT_MEANING = {
    "mask_encodes_label": "this concerns the input's raw masks; the shards hold canonical 0/1 masks without intensity",
    "canonical_mask_shortcut": "the shards' canonical masks draw the cells' edges differently by class: a model "
    "given the mask input can read the class from them",
    "acquisition_shortcut": "a model can learn the microscope instead of anaemia: run rbc-bench's shortcut baselines",
    "duplicate_across_classes": "the copies were kept in one split group, but their labels disagree",
    "duplicate_across_groups": "the copies were kept in one split group",
}
CONFIG_TEXT = {
    "full": "whole smear images as in the input (AneRBC-I style)",
    "tiles": "grid tiles cut from the full images (AneRBC-II style); a tile is always in its parent's split",
    "model": "tiles resized to the model input size (3-TierDCFNet: 300x300); image by area averaging, mask nearest",
}
ANERBC_CITATION = """@article{shahzad2024anerbc,
  title   = {AneRBC dataset: a benchmark dataset for computer-aided anemia diagnosis using RBC images},
  author  = {Shahzad, Muhammad and others},
  journal = {Database},
  volume  = {2024},
  pages   = {baae120},
  year    = {2024},
  doi     = {10.1093/database/baae120}
}"""


def origin_kind(rows: pd.DataFrame) -> str:
    """Where the samples come from: ``synthetic``, ``anerbc`` or a user's ``folder`` (licence and citation)."""
    if bool(rows["synthetic"].fillna(False).all()):
        return "synthetic"
    return "anerbc" if any(s.startswith("AneRBC") for s in set(rows["source"].astype(str))) else "folder"


# Licence, citation and Hugging Face provenance fields by origin_kind.
ORIGINS = {
    "synthetic": {
        "license": "cc-by-4.0",
        "source_datasets": ["original"],
        "annotations_creators": ["machine-generated"],
        "annotations": "labels and masks are the generator's ground truth",
        "text": "Synthetic smears written by `rbc-dataset synth` in the AneRBC layout; no patient data. The "
        "layout and known defects imitate AneRBC, so cite AneRBC when comparing with it.",
        "citation": ANERBC_CITATION,
    },
    "anerbc": {
        "license": "cc-by-4.0",
        "source_datasets": ["extended|AneRBC"],
        "annotations_creators": ["found", "machine-generated"],
        "annotations": "class labels come with the release (found); the canonical 0/1 masks are computed from "
        "the release's Binary_segmented masks by `rbc-dataset validate-masks --fix` (machine-generated)",
        "text": "AneRBC (Shahzad et al., Database 2024, doi:10.1093/database/baae120; Mendeley Data hms3sjzt7f), "
        "released under CC BY 4.0. Reports are per parent image, not per patient; no patient id is released.",
        "citation": ANERBC_CITATION,
    },
    "folder": {
        "license": "other",
        "license_name": "data-owner-licence",
        "license_link": "README.md",  # the "Licence and citation" section below, for the owner's terms
        "source_datasets": ["original"],
        "annotations_creators": ["found", "machine-generated"],
        "annotations": "class labels come from the user's folder names or CSV (found); the canonical 0/1 masks "
        "are computed from the user's masks by `rbc-dataset validate-masks --fix` (machine-generated)",
        "text": "Images brought by the user (folder layout); licence and citation are the data owner's to state.",
        "citation": "",
    },
}


def size_category(n: int) -> str:
    """Hugging Face's ``size_categories`` value for a dataset of ``n`` examples."""
    return next((name for limit, name in SIZE_CATEGORIES if n < limit), "n>1T")


def split_warnings(parents_per_split: dict[str, int], classes_per_split: dict[str, dict[str, int]]) -> list[dict]:
    """One entry per split with fewer than ``MIN_PARENTS`` parent images or a single class, saying why it matters.

    Args:
        parents_per_split: split -> parent images (split_report's ``parents_per_split``).
        classes_per_split: split -> class name -> samples (any config: tiles follow their parents).
    """
    found = []
    for split, parents in parents_per_split.items():
        if not parents:  # an empty split is neither written nor declared
            continue
        classes = sorted(name for name, n in classes_per_split.get(split, {}).items() if n)
        reasons = []
        if parents < MIN_PARENTS:
            reasons.append(
                f"{parents} parent image{'s' if parents != 1 else ''} (fewer than {MIN_PARENTS}): its tiles are not "
                "independent samples, so scores on it are anecdotal and their intervals wide"
            )
        if len(classes) == 1:
            reasons.append(
                f"one class only ({classes[0]}): accuracy on it measures one class, and AUC cannot be computed"
            )
        if reasons:
            found.append({"split": split, "parents": parents, "classes": classes, "warnings": reasons})
    return found


def dataset_card(
    *, source: Path, config, shards, entries: dict, split_report: dict, validation, audit, inputs, tile_check
) -> DatasetCard:
    """The card of a build from what its stages produced (no times, so that equal builds give equal cards).

    Args:
        source: the folder or manifest the build read (the card names it by its name only).
        config: the resolved ``BuildConfig``.
        shards: the ``ShardSet`` that wrote the shards (names, sizes, grid, provenance).
        entries: config -> split -> entry, as ``ShardSet.write`` returns them.
        split_report: ``splits.split_report`` of the split plan.
        validation: the build's ``ValidationResult``.
        audit: the ``AuditResult``, or None when built without the audit.
        inputs: the ``plan.Inputs`` (usable rows and the samples left out).
        tile_check: the comparison of the input's tiles with the cut ones, or None.
    """
    rows = inputs.rows
    document = {
        "schema_version": SCHEMA_VERSION,
        "format_version": FORMAT_VERSION,
        "tool": f"rbc-dataset {__version__}",
        "source": {
            "path": Path(source).name,  # the name only: a card is published, the builder's folders are not
            "manifest": "manifest.parquet",
            "manifest_sha256": shards.provenance["source_manifest_sha256"],
            "n_input_samples": int(len(rows) + len(inputs.excluded)),
            "origin": origin_kind(rows),
        },
        "config": config.to_dict(),
        "class_names": list(shards.class_names),
        "severity_names": list(shards.severity_names),
        "cbc_tests": list(shards.cbc_tests),
        "has_masks": shards.has_masks,
        "tile_grid": {
            "cols": shards.grid.cols,
            "rows": shards.grid.rows,
            "width": shards.grid.width,
            "height": shards.grid.height,
            "order": shards.grid.order,
        },  # fmt: skip
        "configs": {
            name: {"description": CONFIG_TEXT[name], "size": list(shards.sizes[name]), "splits": entries[name]}
            for name in shards.configs
        },
        "splits": split_report,
        "split_warnings": split_warnings(split_report["parents_per_split"], _classes_per_split(entries)),
        "validation": {
            "counts": validation.counts,
            "by_code": validation.by_code,
            "allowed_invalid": bool(config.allow_invalid and validation.counts.get("error", 0)),
            "excluded_samples": inputs.excluded.to_dict("records"),
            "report": "reports/validate-masks.json",
        },
        "audit": None if audit is None else _audit_part(audit),
        "tile_check": None if tile_check is None else _tile_part(tile_check),
    }
    return DatasetCard.from_dict(document)  # typed and checked now: a wrong field is the build's bug, found here


def _classes_per_split(entries: dict) -> dict[str, dict[str, int]]:
    first = next(iter(entries.values()), {})  # every config holds the same parents in each split
    return {split: entry["classes"] for split, entry in first.items()}


def _audit_part(result) -> dict:
    issues = [i for i in result.issues if i.severity in ("error", "warning")]
    by_code: dict[str, dict] = {}
    for issue in issues:
        entry = by_code.setdefault(issue.code, {"severity": issue.severity, "count": 0, "example": issue.found})
        entry["count"] += 1
    return {"summary": result.summary, "by_code": by_code, "report": "reports/audit.json"}


def _tile_part(check) -> dict:
    return {
        "order": check.order,
        "compared": check.compared,
        "matched": check.matched,
        "mismatched": check.mismatched,
        "examples": [i.found for i in check.issues[:5]],
    }


def _yaml_header(card: DatasetCard) -> str:
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    origin = ORIGINS[card.source.origin]
    largest = max(sum(s.num_examples for s in entry.splits.values()) for entry in card.configs.values())
    licence = {k: origin[k] for k in ("license_name", "license_link") if k in origin}  # only with license: other
    data = DatasetCardData(
        license=origin["license"],
        pretty_name="rbc-dataset build",
        task_categories=["image-classification"] + (["image-segmentation"] if card.has_masks else []),
        size_categories=[size_category(largest)],
        source_datasets=origin["source_datasets"],
        annotations_creators=origin["annotations_creators"],
        tags=["red-blood-cells", "anemia", "microscopy", "medical"],
        **licence,
    )
    infos, configs = {}, []
    features = hf_features(card.class_names, card.severity_names, cbc_tests=card.cbc_tests, masks=card.has_masks)
    for name, entry in card.configs.items():
        splits = SplitDict()
        data_files = []
        for split, info in entry.splits.items():
            splits.add(SplitInfo(name=split, num_bytes=info.num_bytes or 0, num_examples=info.num_examples))
            data_files.append({"split": split, "path": f"data/{name}/{split}-*.parquet"})
        infos[name] = DatasetInfo(features=features, splits=splits, config_name=name)
        default = {"default": True} if name == card.default_config else {}
        configs.append({"config_name": name, "data_files": data_files, **default})
    DatasetInfosDict(infos).to_dataset_card_data(data)
    data["configs"] = configs
    return "---\n" + data.to_yaml() + "\n---\n"


def _count_table(card: DatasetCard) -> list[str]:
    names = card.class_names
    header = " | ".join(md_text(name) for name in names)  # class names come from the data
    lines = ["| config | size | split | samples | " + header + " |", "|---" * (4 + len(names)) + "|"]
    for name, entry in card.configs.items():
        for split in SPLIT_NAMES:
            info = entry.splits.get(split)
            if info is None:
                continue
            counts = " | ".join(str(info.classes.get(c, 0)) for c in names)
            size = "x".join(str(v) for v in entry.size)
            lines.append(f"| {name} | {size} | {split} | {info.num_examples} | {counts} |")
    return lines


def _known_issues(card: DatasetCard) -> list[str]:
    lines = []
    validation = card.validation
    for code, entry in validation.by_code.items():
        if entry.severity in ("error", "warning"):
            lines.append(f"- validate-masks {md_code(code)} ({entry.severity}): {entry.count} findings")
    if validation.excluded_samples:
        lines.append(f"- {len(validation.excluded_samples)} samples left out (no usable mask); see dataset.json")
    if validation.allowed_invalid:
        lines.append("- **Built with --allow-invalid despite validation errors.**")
    for code, entry in (card.audit.by_code if card.audit else {}).items():
        meaning = f" **Note:** {AUDIT_MEANING[code]}." if code in AUDIT_MEANING else ""
        example = md_text(entry.example or "")  # quotes sample ids and file names
        lines.append(f"- audit {md_code(code)} ({entry.severity}, {entry.count}): {example}.{meaning}")
    tiles = card.tile_check
    if tiles is not None:
        lines.append(
            f"- release tiles compared with the cut parents ({tiles.order}): {tiles.matched} of "
            f"{tiles.compared} identical, {tiles.mismatched} differ"
        )
    return lines or ["- none found by validate-masks and the audit"]


def _split_warning_lines(warnings) -> list[str]:
    lines = []
    for entry in warnings:
        lines += ["", f"**Warning: the {entry.split} split** holds " + "; ".join(entry.warnings) + "."]
    return lines


def _licence_line(origin: dict) -> str:
    if origin["license"] != "other":
        return f"Licence: {origin['license']}."
    return (
        "Licence: other (`license_name: data-owner-licence`): the images' licence is their owner's, which "
        "rbc-dataset cannot know. State the owner's terms here, or set `license_link` to their licence file, "
        "before publishing this dataset."
    )


def render_readme(card: DatasetCard) -> str:
    """The text of the build's README.md below its YAML header: provenance, configs, splits, known issues."""
    origin = ORIGINS[card.source.origin]
    split = card.splits
    configs = "\n".join(f"- `{n}`: {CONFIG_TEXT[n]}" for n in card.configs)
    first = next(iter(card.configs))
    text = [
        "# RBC smear dataset (built by rbc-dataset)",
        "",
        "## Provenance",
        "",
        origin["text"],
        "",
        f"Built by {card.tool} from {md_code(card.source.path)} (manifest SHA-256 "
        f"`{card.source.manifest_sha256[:16]}...`). Masks are canonical cell masks written by "
        "`rbc-dataset validate-masks --fix`, stored as class indices (0 background, 1 cell) in both formats (Parquet: "
        "a single-channel PNG that `datasets` decodes to 0/1, ready for a segmentation loss); the release's raw mask "
        f"encoding never reaches a shard. Annotations: {origin['annotations']}.",
        "",
        "## Configs",
        "",
        configs,
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("path/to/this/folder", "{first}")',
        "from rbc_dataset.loaders import HDF5RBCDataset  # fast PyTorch loading",
        f'train = HDF5RBCDataset.from_build("path/to/this/folder", "{first}", "train")',
        "```",
        "",
        *_count_table(card),
        "",
        "## Splits",
        "",
        f"Method: {split['method']} (seed {split['seed']}): whole split groups go to one split; a group joins parent "
        "images that share a CBC report, a near-duplicate cluster or a given group, and tiles follow their parent. "
        f"Stratified by class (and severity when known). {split['n_parents']} parents in {split['n_groups']} groups; "
        f"largest deviation from the target shares: {split['max_deviation_pp']} percentage points. "
        f"Cross-validation folds ({split['folds']}) cover train+validation only (`fold` = -1 for test). "
        "Details: `splits/split_report.md`.",
        *_split_warning_lines(card.split_warnings),
        "",
        "## Known issues",
        "",
        *_known_issues(card),
        "",
        "## Licence and citation",
        "",
        _licence_line(origin),
    ]
    if origin["citation"]:
        text += ["", "```bibtex", origin["citation"], "```"]
    return "\n".join(text) + "\n"


def write_cards(folder: Path, card: DatasetCard, *, names=None) -> DatasetCard:
    """Write ``README.md`` and, last, ``dataset.json`` into the build folder; return the card as written.

    ``names`` (a ``publish.PathNames``) rewrites the builder's folders in what the cards quote from the stages
    (an imported split table's path, findings' file names) to paths relative to the source root.
    """
    if names is not None:
        card = DatasetCard.from_dict(names.rewrite_json(card.to_dict()))
    readme = _yaml_header(card) + "\n" + render_readme(card)
    atomic_write_bytes(folder / "README.md", readme.encode())
    # Last: the checksums of every other file (README.md, splits, reports ...) and of its own content.
    return write_card(folder, card)
