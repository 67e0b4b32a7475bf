"""Configuration and result of ``rbc-dataset audit``, and the haemoglobin band tables it can use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rbc_dataset.errors import UsageError, check_choice, check_seed
from rbc_dataset.issues import Issue


@dataclass(frozen=True)
class HbBands:
    """Haemoglobin thresholds (g/dL) of one population, with the publication they come from."""

    source: str  # citation printed next to every Hb finding
    population: str  # who the thresholds apply to
    no_anaemia: float  # Hb at or above this: no anaemia
    mild: float  # [mild, no_anaemia): mild anaemia
    moderate: float  # [moderate, mild): moderate anaemia; below: severe

    def band(self, hb: float) -> str:
        """Band name of one Hb value: "none", "mild", "moderate" or "severe"."""
        if hb >= self.no_anaemia:
            return "none"
        if hb >= self.mild:
            return "mild"
        return "moderate" if hb >= self.moderate else "severe"

    def describe(self) -> str:
        return (
            f"{self.population}: no anaemia >= {self.no_anaemia:.1f}, "
            f"mild {self.mild:.1f}-{self.no_anaemia - 0.1:.1f}, "
            f"moderate {self.moderate:.1f}-{self.mild - 0.1:.1f}, severe < {self.moderate:.1f} g/dL ({self.source})"
        )


_WHO_2011 = (
    "WHO 2011, Haemoglobin concentrations for the diagnosis of anaemia and assessment of severity "
    "(WHO/NMH/NHD/MNM/11.1)"
)
# AneRBC reports print adult female reference ranges, hence the women's table as the default.
HB_BAND_TABLES: dict[str, HbBands] = {
    "who2011_women": HbBands(_WHO_2011, "non-pregnant women >= 15 years", no_anaemia=12.0, mild=11.0, moderate=8.0),
    "who2011_men": HbBands(_WHO_2011, "men >= 15 years", no_anaemia=13.0, mild=11.0, moderate=8.0),
}


@dataclass(frozen=True)
class AuditConfig:
    """Thresholds of the dataset audit (the resolved config is saved in ``audit.json``)."""

    hamming_radius: int = 6  # perceptual-hash distance (of 64 bits) that counts as a near-duplicate
    probe_auc_error: float = 0.75  # probe AUC at or above this (CI above chance) is an error: shortcut present
    probe_auc_warning: float = 0.65  # probe AUC at or above this is a warning
    hb_source: str = "who2011_women"  # Hb band table (a key of HB_BAND_TABLES)
    workers: int = field(default=0, compare=False)  # processes for the feature pass; 0 = all cores
    seed: int = 0  # seeds the bootstrap confidence intervals

    def __post_init__(self) -> None:
        if not 0 <= self.hamming_radius <= 64:
            raise UsageError(f"--hamming-radius must be within 0..64 bits, got {self.hamming_radius}")
        if not 0.5 <= self.probe_auc_warning <= self.probe_auc_error <= 1.0:
            raise UsageError(
                "probe AUC thresholds must satisfy 0.5 <= warning <= error <= 1, "
                f"got warning {self.probe_auc_warning} and error {self.probe_auc_error}"
            )
        if self.workers < 0:
            raise UsageError(f"--workers must be 0 (all cores) or more, got {self.workers}")
        check_choice("Hb band table", self.hb_source, choices=tuple(HB_BAND_TABLES))
        check_seed("--seed", self.seed)

    @property
    def hb_bands(self) -> HbBands:
        return HB_BAND_TABLES[self.hb_source]


@dataclass(frozen=True)
class AuditResult:
    """What an audit run wrote and found."""

    report_path: Path  # audit.json: every finding and table, machine-readable
    markdown_path: Path  # audit.md: the human summary
    issues: list[Issue]  # every finding (error / warning / info)
    summary: dict  # headline numbers (also in audit.json)

    @property
    def html_path(self) -> Path:
        """audit.html: the same summary as a page for the browser."""
        return self.markdown_path.with_suffix(".html")

    @property
    def has_errors(self) -> bool:
        return any(issue.severity == "error" for issue in self.issues)
