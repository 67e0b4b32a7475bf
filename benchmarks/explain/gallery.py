"""The gallery of ``rbc-bench explain``: which test tiles are shown, their overlays, and ``index.html``.

Static like the project's other pages (docs/HTML_REPORTS.md): inline CSS, relative links, no script. Every value
from data (sample ids, class and model names, paths, reasons) goes through ``rbc_dataset.markup.html_text``.
"""

from __future__ import annotations

from urllib.parse import quote

import cv2
import numpy as np
import pandas as pd

from rbc_dataset.markup import html_text

MAX_SIDE = 480  # longest side of a shown tile; whole 1224x960 images are shrunk to it
HEAT_WEIGHT = 0.45  # share of the colour map in the overlay
OUTLINE = (255, 255, 255)  # abnormal cells of the synthetic truth, drawn on the overlay
KINDS = ("correct", "wrong")

CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.25em .5em;text-align:left}
.pass{color:#176117;font-weight:bold}.fail{color:#a11;font-weight:bold}.na{color:#666}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}.kind{border:1px solid #ddd;padding:.5em}
figure{display:inline-block;margin:.3em;vertical-align:top;max-width:420px}img{max-width:100%}
figcaption{font-size:.85em}.note{background:#fff6d5;padding:.5em 1em;border-left:4px solid #e0b400}"""


def choose_examples(decisions: pd.DataFrame, *, per_kind: int) -> pd.DataFrame:
    """Per true class, the ``per_kind`` most confident correct and wrong decisions (one per parent image first).

    Deterministic: ordered by confidence |prob - 0.5|, then sample id. Adds ``kind`` (correct / wrong).
    """
    table = decisions.assign(
        kind=np.where(decisions["label"] == decisions["pred"], "correct", "wrong"),
        confidence=(decisions["prob"] - 0.5).abs(),
    )
    chosen = []
    for _key, group in table.groupby(["label", "kind"], sort=True):
        ordered = group.sort_values(["confidence", "sample_id"], ascending=[False, True], kind="stable")
        repeat = ordered.duplicated("parent_id")
        chosen.append(pd.concat([ordered[~repeat], ordered[repeat]]).head(per_kind))
    if not chosen:
        return table.head(0)
    return pd.concat(chosen, ignore_index=True).drop(columns="confidence")


def _fit(image: np.ndarray) -> np.ndarray:
    scale = MAX_SIDE / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def overlay(image: np.ndarray, cam: np.ndarray, *, abnormal: np.ndarray | None = None) -> np.ndarray:
    """The tile and, beside it, the tile under the Grad-CAM colour map (red: most evidence), RGB uint8.

    Args:
        image: (H, W, 3) RGB uint8 as stored in the shard.
        cam: map in [0, 1] of any size (resized to the tile bilinearly).
        abnormal: optional (H, W) boolean mask of abnormal cells, outlined in white on the overlay.
    """
    heat = cv2.resize(cam.astype(np.float32), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.clip(heat * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    blend = (image.astype(np.float32) * (1 - HEAT_WEIGHT) + colour * HEAT_WEIGHT).astype(np.uint8)
    if abnormal is not None and abnormal.any():
        contours, _ = cv2.findContours(abnormal.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        blend = np.ascontiguousarray(blend)
        cv2.drawContours(blend, contours, -1, OUTLINE, 1)
    gap = np.full((image.shape[0], 6, 3), 255, np.uint8)
    return _fit(np.hstack([image, gap, blend]))


def encode_jpeg(rgb: np.ndarray) -> bytes:
    """JPEG bytes (quality 90) of an RGB uint8 image."""
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError("OpenCV could not encode the overlay as JPEG")
    return data.tobytes()


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _randomisation_cell(check: dict) -> str:
    if check.get("passed") is None:
        return f'<span class="na">not available: {html_text(check.get("reason", ""))}</span>'
    verdict = '<span class="pass">pass</span>' if check["passed"] else '<span class="fail">FAIL</span>'
    return (
        f"{verdict}: mean &rho; {_number(check['spearman_mean'])} (median {_number(check['spearman_median'])}, "
        f"mean |&rho;| {_number(check['spearman_abs_mean'])}; pass below {check['threshold']}), "
        f"SSIM {_number(check['ssim_mean'])}, {check['n_tiles']} tiles"
    )


def _mass_cell(mass: dict) -> str:
    if mass.get("mass_on_abnormal") is None:
        return f'<span class="na">not available: {html_text(mass.get("reason", ""))}</span>'
    return (
        f"{_number(mass['mass_on_abnormal'])} of the map on abnormal cells, which cover "
        f"{_number(mass['abnormal_area'])} of the area (ratio {_number(mass['ratio'], 2)}); on any cell "
        f"{_number(mass['mass_on_cells'])} vs {_number(mass['cell_area'])}; {mass['n_tiles']} anaemic tiles"
    )


def _sanity_table(models: dict) -> str:
    rows = [
        "<tr><th>model</th><th>map explained</th><th>1. randomised weights (Adebayo et al. 2018)</th>"
        "<th>2. attribution on abnormal cells (synthetic truth)</th></tr>"
    ]
    for name, entry in models.items():
        where = f"{entry['layer']} ({entry['feature_size'][0]}&times;{entry['feature_size'][1]} for an input of "
        where += f"{entry['input_shape'][0]}&times;{entry['input_shape'][1]})"
        rows.append(
            f"<tr><td>{html_text(name)} (seed {entry['seed']})</td><td>{where}</td>"
            f"<td>{_randomisation_cell(entry['randomisation'])}</td><td>{_mass_cell(entry['abnormal_mass'])}</td></tr>"
        )
    return "<table>" + "\n".join(rows) + "</table>\n"


def _figure(example: dict, class_names: list[str]) -> str:
    src = html_text(quote(example["overlay"]))
    label, pred = class_names[example["label"]], class_names[example["pred"]]
    confidence = example["prob"] if example["pred"] == 1 else 1 - example["prob"]
    caption = (
        f"{html_text(example['sample_id'])} (parent {html_text(example['parent_id'])})<br>true "
        f"<b>{html_text(label)}</b>, predicted <b>{html_text(pred)}</b> with probability {confidence:.2f}"
    )
    alt = html_text(f"{example['sample_id']}: Grad-CAM of {pred}")
    image = f'<a href="{src}"><img src="{src}" alt="{alt}" loading="lazy"></a>'
    return f"<figure>{image}<figcaption>{caption}</figcaption></figure>"


def _model_section(name: str, entry: dict, class_names: list[str]) -> str:
    parts = [f"<h2>{html_text(name)} (seed {entry['seed']})</h2>"]
    examples = entry["examples"]
    for label, class_name in enumerate(class_names):
        parts.append(f'<h3>true class: {html_text(class_name)}</h3><div class="pair">')
        for kind in KINDS:
            shown = [e for e in examples if e["label"] == label and e["kind"] == kind]
            figures = "".join(_figure(e, class_names) for e in shown) or "<p>none in the test split</p>"
            parts.append(f'<div class="kind"><h4>{kind} ({len(shown)})</h4>{figures}</div>')
        parts.append("</div>")
    return "\n".join(parts)


def render_html(result: dict) -> str:
    """``index.html`` of an explanation (``result`` is what ``explain.json`` holds)."""
    class_names = result["class_names"]
    notes = "".join(f"<li>{html_text(note)}</li>" for note in result["notes"])
    body = [
        f"<h1>Grad-CAM explanations of {html_text(result['run_name'])}</h1>",
        f"<p>Run: {html_text(result['run'])}<br>Test split of: {html_text(result['test_build'])}</p>",
        f'<div class="note"><b>Read this first</b><ul>{notes}</ul></div>',
        "<h2>Sanity checks</h2>",
        _sanity_table(result["models"]),
        "<p>Left: the tile as stored in the shard. Right: the Grad-CAM map of the predicted class over it "
        "(red: most evidence, blue: none); white outlines: abnormal cells of the synthetic truth, where known.</p>",
    ]
    body += [_model_section(name, entry, class_names) for name, entry in result["models"].items()]
    title = html_text(f"Grad-CAM: {result['run_name']}")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
