"""``rbc-dataset audit``: dataset-level problems that make benchmarks lie (duplicates, shortcuts, CBC, leakage)."""

from rbc_dataset.auditing.config import HB_BAND_TABLES, AuditConfig, AuditResult
from rbc_dataset.auditing.run import audit

__all__ = ["HB_BAND_TABLES", "AuditConfig", "AuditResult", "audit"]
