"""Validation for the service, through the public API: what the CLI's ``validate`` says about the same input.

A FHIR body is handed over parsed, named "request body" in the issues; uploaded files keep their names.
"""

from __future__ import annotations

from typing import Any

from fhirbridge import public
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report

#: What issues about a FHIR request body call it.
REQUEST_BODY = "request body"


def validate_fhir(resource: dict[str, Any], fail_on: str = "error") -> Report:
    """Validate one FHIR resource or Bundle as the CLI validates a FHIR file."""
    return public.validate(Source(resource, name=REQUEST_BODY), source="fhir", fail_on=fail_on)


def has_errors(issues: list[Issue]) -> bool:
    return any(i.severity >= Severity.ERROR for i in issues)
