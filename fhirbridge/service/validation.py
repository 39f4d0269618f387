"""Validation for the service, through the API: what the CLI's ``validate`` says about the same input.

A FHIR body is written to a scratch file and read back by the FHIR spoke like any file the CLI is given;
the issues then name the body ("request body") or the uploaded file instead of the scratch path.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report


def validate_fhir(resource: dict[str, Any], fail_on: Severity = Severity.ERROR) -> Report:
    """Validate one FHIR resource or Bundle as the CLI validates a FHIR file."""
    with tempfile.TemporaryDirectory(prefix="fhirbridge-") as scratch:
        path = Path(scratch) / "request-body.json"
        path.write_bytes(orjson.dumps(resource))
        report = api.validate([path], source="fhir", fail_on=fail_on)
        return relocate(report, scratch)


def validate_files(folder: Path, source: str, options: ConvertOptions, fail_on: Severity = Severity.ERROR) -> Report:
    """Validate uploaded files (saved in ``folder``) as the CLI validates files of format ``source``."""
    return relocate(api.validate([folder], source=source, options=options, fail_on=fail_on), str(folder))


def relocate(report: Report, scratch: str) -> Report:
    """Issues and outputs name files relative to the scratch folder: the server's own paths are not shown."""
    prefix = scratch.rstrip("/") + "/"

    def local(name: str | None) -> str | None:
        if name is None:
            return None
        if name == scratch:
            return "request body"
        return name.removeprefix(prefix)

    report.issues = [i.model_copy(update={"file": local(i.file), "message": i.message.replace(prefix, "")})
                     for i in report.issues]
    report.outputs = [local(o) or o for o in report.outputs]
    return report


def has_errors(issues: list[Issue]) -> bool:
    return any(i.severity >= Severity.ERROR for i in issues)
