"""Checks on the FHIR fhirbridge writes: each resource once with the FHIR checker, and the bundle's references.

R4 and R4B output is checked against the R4 definitions (the resources fhirbridge writes are the same in
both), R5 output against the R5 definitions; the R5 checker is made when R5 is first written.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from fhirbridge.formats.fhir.checker.bundle import check_bundle as check_integrity
from fhirbridge.formats.fhir.checker.definitions import DEFINITIONS_OF
from fhirbridge.formats.fhir.checker.resources import thread_checker
from fhirbridge.formats.fhir.checker.structure import Reference
from fhirbridge.formats.fhir.models import Release
from fhirbridge.issues.issue import Issue, Severity


def check_bundle(bundle: dict[str, Any], release: Release = "R4", proven: Container[int] = ()) -> list[Issue]:
    """Every entry is valid FHIR of ``release`` and every reference resolves to an entry of the bundle. The
    entries numbered in ``proven`` were proven valid another way (``fhirbridge.formats.fhir.templates``): they
    are only targets of the others' references (their resource may hold just its type and id)."""
    checker = thread_checker(DEFINITIONS_OF[release])
    issues: list[Issue] = []
    references: list[Reference] = []
    for i, entry in enumerate(bundle.get("entry", [])):
        if i in proven:
            continue
        issues.extend(checker.check(entry.get("resource"), f"Bundle.entry[{i}].resource"))
        references.extend(checker.walker.references)

    def emit(code: str, message: str, target: str | None, value: Any, expected: str | None,
             severity: str | None) -> None:
        issues.append(Issue.of(code, message, target=target, value=value, expected=expected,
                               severity=Severity.parse(severity) if severity else None))

    check_integrity(bundle, references, emit)
    return issues

