"""validate-masks: every image/mask pair checked, every finding collected, canonical masks on request."""

from rbc_dataset.validate.config import ValidateConfig
from rbc_dataset.validate.run import ValidationResult, validate_masks

__all__ = ["ValidateConfig", "ValidationResult", "validate_masks"]
