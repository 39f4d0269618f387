"""Issues, reports, validation layers and renderers."""

from fhirbridge.validation.issue import Issue, Severity
from fhirbridge.validation.report import Report

__all__ = ["Issue", "Report", "Severity"]
