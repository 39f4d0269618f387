"""Validation for the service: what the CLI's ``validate`` says about the same input.

A FHIR body is handed over parsed, named "request body" in the issues; uploaded files keep their names. The
service calls the engine directly (the public API's checks of its arguments have nothing to check here) and
leaves out the full garbage collection the engine runs after a validation: in a long-running service that
collection walks every object the process holds, which cost more than validating the request itself.
"""

from __future__ import annotations

from typing import Any

from fhirbridge import api
from fhirbridge.formats.fhir.bundle_stream import Chunk, has_empty_object
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report

#: What issues about a FHIR request body call it.
REQUEST_BODY = "request body"


def validate_fhir(resource: dict[str, Any], fail_on: str = "error", raw: bytes | None = None) -> Report:
    """Validate one FHIR resource or Bundle as the CLI validates a FHIR file. ``raw``, the JSON text a Bundle was
    parsed from: when it holds no empty object, its entries are screened as ``validate`` screens a chunk of a
    Bundle file without one (the screen then need not check the size of every object)."""
    if raw is not None and isinstance(resource.get("entry"), list) and not has_empty_object(raw):
        entries = Chunk(resource["entry"])
        entries.no_empty_object = True
        resource = {**resource, "entry": entries}
    return api.validate([Source(resource, name=REQUEST_BODY)], source="fhir", options=ConvertOptions(),
                        fail_on=Severity.parse(fail_on), collect_garbage=False)


def has_errors(issues: list[Issue]) -> bool:
    return any(i.severity >= Severity.ERROR for i in issues)
