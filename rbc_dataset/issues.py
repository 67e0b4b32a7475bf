"""Problems found in data, collected (never raised one by one) and reported together."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Issue:
    """One problem: a stable code, how bad it is, where, what was expected and found, and the fix."""

    code: str
    severity: str  # "error" | "warning" | "info"
    path: str | None
    expected: str
    found: str
    fix: str
    sample_id: str | None = None

    @property
    def message(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}expected {self.expected}, found {self.found}. Fix: {self.fix}"

    def to_dict(self) -> dict:
        # Built by hand: dataclasses.asdict deep-copies every field, which shows in per-pair profiles.
        fields = ("code", "severity", "path", "expected", "found", "fix", "sample_id")
        return {**{name: getattr(self, name) for name in fields}, "message": self.message}


def count_by_severity(issues: list[Issue]) -> dict[str, int]:
    return {severity: sum(1 for i in issues if i.severity == severity) for severity in SEVERITIES}
