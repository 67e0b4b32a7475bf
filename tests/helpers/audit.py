"""Audit test helpers: planting problems into a copy of a synthetic dataset, and the issues of one code."""

from __future__ import annotations

import re
from pathlib import Path

import cv2

from rbc_dataset.auditing import AuditConfig
from rbc_dataset.fileio import read_image, write_png
from rbc_dataset.layout import SUFFIX_CLASS, role_folder

FAST = AuditConfig(workers=1)  # tiny sets: a worker pool costs more to start than it saves


def issues_with(result, code: str) -> list:
    """The audit's issues of one code."""
    return [i for i in result.issues if i.code == code]


def role_path(root: Path, role: str, stem: str, ext: str = ".png") -> Path:
    return role_folder(root, "I", cls=SUFFIX_CLASS[stem[-1]], role=role) / f"{stem}{ext}"


def set_value(report: Path, test: str, value: float) -> None:
    """Rewrite one test's row of a CBC report (any spelling of its name), keeping the other rows."""
    names = {"HGB": "HGB|Hemoglobin|Hb", "MCV": "MCV"}[test]
    unit = {"HGB": "g/dL", "MCV": "fL"}[test]
    text = report.read_text(encoding="utf-8")
    text = re.sub(rf"^({names}),([^,\n]*),", f"{test},{value} {unit},", text, flags=re.MULTILINE)
    report.write_text(text, encoding="utf-8")


def jpeg_crop(source: Path, target: Path, share: float = 0.03) -> None:
    """Re-encode an image as JPEG quality 90 after cutting ``share`` of each side off its top-left corner."""
    image = read_image(source)
    h, w = image.shape[:2]
    crop = image[round(h * share) :, round(w * share) :]
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    target.write_bytes(data.tobytes())


def crop_mask(source: Path, target: Path, share: float = 0.03) -> None:
    mask = read_image(source)
    h, w = mask.shape[:2]
    write_png(target, mask[round(h * share) :, round(w * share) :])
