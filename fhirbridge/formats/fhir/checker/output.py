"""Checks on the FHIR fhirbridge writes: each resource once with the FHIR checker, and the bundle's references.

R4 and R4B output is checked with the checker (the resources fhirbridge writes are the same in both); R5
output with the fhir.resources R5 models, the one release the checker's definitions do not cover.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from functools import cache
from typing import Any

from fhirbridge.formats.fhir.checker.bundle import check_bundle as check_integrity
from fhirbridge.formats.fhir.checker.resources import ResourceChecker
from fhirbridge.formats.fhir.checker.structure import Reference
from fhirbridge.formats.fhir.models import Release, structure_errors
from fhirbridge.issues.issue import Issue, Severity


@cache
def _checker() -> ResourceChecker:
    return ResourceChecker()


def check_bundle(bundle: dict[str, Any], release: Release = "R4", proven: Container[int] = ()) -> list[Issue]:
    """Every entry is valid FHIR of ``release`` and every reference resolves to an entry of the bundle. The
    entries numbered in ``proven`` were proven valid another way (``fhirbridge.formats.fhir.templates``): they
    are only targets of the others' references (their resource may hold just its type and id)."""
    if release == "R5":
        return _r5_issues(bundle)
    checker = _checker()
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


def _r5_issues(bundle: dict[str, Any]) -> list[Issue]:
    issues: list[Issue] = []
    full_urls = {e.get("fullUrl") for e in bundle.get("entry", [])}
    for i, entry in enumerate(bundle.get("entry", [])):
        resource = entry.get("resource", {})
        where = f"Bundle.entry[{i}].resource"
        for location, message in structure_errors(resource, "R5"):
            issues.append(Issue.of("FB-FHIR-001", f"{resource.get('resourceType')}: {location}: {message}",
                                   target=f"{where}.{location}"))
        for path, reference in _references(resource, where):
            if reference.startswith("urn:uuid:") and reference not in full_urls:
                issues.append(Issue.of("FB-FHIR-002", f"reference {reference} does not resolve in the bundle",
                                       target=path, value=reference))
    return issues


def _references(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield path, value
            else:
                yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _references(value, f"{path}[{i}]")
