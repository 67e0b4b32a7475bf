"""Annotation test images: drawn smears with known cells, crops of the synthetic release with their truth, and a
tiny stand-in for ../shared/realdata."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from rbc_dataset.fileio import encode_png, read_image

CROP = (slice(0, 480), slice(0, 560))


def synthetic_pair(root: Path, cls: str, stem: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """A crop of a synthetic image, its true instance map and its cell table."""
    image = read_image(root / "AneRBC_dataset" / "AneRBC-I" / f"{cls}_individuals" / "Original_images" / f"{stem}.png")
    truth = root / "synthetic_truth" / "AneRBC-I" / f"{cls}_individuals"
    instances = read_image(truth / "instances" / f"{stem}.png")
    return image[CROP], instances[CROP], pd.read_csv(truth / "cells" / f"{stem}.csv")


def drawn_smear(radius: int, scale: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A flat smear: lavender discs with pale centres, a few touching pairs, platelets and 1-px specks."""
    rng = np.random.default_rng(seed)
    size = 18 * radius
    image = np.full((size, size, 3), (208, 206, 212), np.uint8)
    truth = np.zeros((size, size), np.uint8)
    centres = [(3 * radius * (i + 1), 3 * radius * (j + 1)) for i in range(4) for j in range(4)]
    centres += [(3 * radius * 5 - radius // 4, 3 * radius), (3 * radius * 5 + 2 * radius - radius // 4, 3 * radius)]
    for cx, cy in centres:
        cv2.circle(image, (cx, cy), radius, (160, 150, 190), -1)
        cv2.circle(image, (cx, cy), int(0.4 * radius), (196, 194, 204), -1)  # pale centre
        cv2.circle(truth, (cx, cy), radius, 1, -1)
    platelet = (3 * radius * 5, 3 * radius * 3)
    cv2.circle(image, platelet, max(2, radius // 3), (150, 90, 170), -1)
    cv2.circle(truth, platelet, max(2, radius // 3), 1, -1)
    for _ in range(20):  # specks on the background
        y, x = rng.integers(0, size, 2)
        if not truth[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3].any():
            image[y, x] = (150, 140, 180)
    noise = rng.normal(0, 2, image.shape)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    if scale > 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        truth = cv2.resize(truth, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return image, truth.astype(bool)


def drawn_instances(seed: int, *, size: int = 96, radius: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A smear with an instance map: discs of random pallor on a lit background, some pairs touching.

    Returns the RGB image and the uint16 instance map (later discs cover earlier ones where they overlap).
    """
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), (214, 210, 218), np.float32)
    instances = np.zeros((size, size), np.uint16)
    label = 0
    for _ in range(size * size // (12 * radius * radius)):
        cx, cy = (int(v) for v in rng.integers(radius, size - radius, 2))
        pairs = [(cx, cy), (cx + int(1.8 * radius), cy)] if rng.uniform() < 0.3 else [(cx, cy)]
        for x, y in pairs:
            if instances[min(y, size - 1), min(x, size - 1)]:
                continue
            label += 1
            pallor = rng.uniform(0.0, 0.6)  # 0: a well-stained cell, 0.6: a pale (hypochromic) one
            colour = np.array((160, 148, 192)) * (1 - pallor) + np.array((214, 210, 218)) * pallor
            disc = np.zeros((size, size), np.uint8)
            cv2.circle(disc, (x, y), radius, 1, -1)
            image[disc > 0] = colour
            instances[disc > 0] = label
    image += rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), instances


VOC = """<annotation><object><name>RBC</name>
<bndbox><xmin>{0}</xmin><ymin>{1}</ymin><xmax>{2}</xmax><ymax>{3}</ymax></bndbox></object>
<object><name>RBC</name><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>5</xmax><ymax>9</ymax></bndbox></object></annotation>"""


def tiny_realdata(root: Path, synthetic_root: Path) -> Path:
    """One AneRBC pair, one Chula image with points, one BCCD image with a box: crops of a synthetic image."""
    cls = synthetic_root / "AneRBC_dataset" / "AneRBC-I" / "Anemic_individuals"
    image = read_image(cls / "Original_images" / "001_a.png")[:240, :320]
    instances = read_image(
        synthetic_root / "synthetic_truth" / "AneRBC-I" / "Anemic_individuals" / "instances" / "001_a.png"
    )
    instances = instances[:240, :320]
    anerbc = root / "AneRBC-I" / "Anemic_individuals"
    for folder, array in (("Original_images", image), ("Binary_segmented", np.where(instances > 0, 0, 255))):
        (anerbc / folder).mkdir(parents=True)
        (anerbc / folder / "001_a.png").write_bytes(encode_png(array.astype(np.uint8)))
    chula = root / "Chula-RBC-12-Dataset"
    (chula / "Dataset").mkdir(parents=True)
    (chula / "Label").mkdir()
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (chula / "Dataset" / "1.jpg").write_bytes(jpg.tobytes())
    ys, xs = np.nonzero(instances == instances[instances > 0].min())
    (chula / "Label" / "1.txt").write_text(f"{int(xs.mean())} {int(ys.mean())} 0\n128 128 0\n")
    bccd = root / "BCCD_Dataset" / "BCCD"
    (bccd / "JPEGImages").mkdir(parents=True)
    (bccd / "Annotations").mkdir()
    (bccd / "JPEGImages" / "BloodImage_00001.jpg").write_bytes(jpg.tobytes())
    box = (xs.min() + 1, ys.min() + 1, xs.max() + 1, ys.max() + 1)
    (bccd / "Annotations" / "BloodImage_00001.xml").write_text(VOC.format(*box))
    return root


def add_drawn_pairs(root: Path) -> None:
    """Two more AneRBC-I pairs: drawn smears with release-style masks (dark cells on white)."""
    for seed, cls in ((5, "Anemic_individuals"), (6, "Healthy_individuals")):
        image, instances = drawn_instances(seed)
        for folder, array in (("Original_images", image), ("Binary_segmented", np.where(instances > 0, 20, 255))):
            (root / "AneRBC-I" / cls / folder).mkdir(parents=True, exist_ok=True)
            (root / "AneRBC-I" / cls / folder / f"00{seed}.png").write_bytes(encode_png(array.astype(np.uint8)))
