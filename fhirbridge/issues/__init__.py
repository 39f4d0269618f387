"""The issue kernel: Issue, Severity, Report, the rule registry and the renderers.

Every layer of fhirbridge reports into these; they import nothing else of fhirbridge (but its version), so that
any module may use them without pulling in a format or a check.
"""

from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report

__all__ = ["Issue", "Report", "Severity"]
