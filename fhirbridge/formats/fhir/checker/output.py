"""Checks on the FHIR fhirbridge writes: structure (the fhir.resources models of its release) and bundle references."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhirbridge.formats.fhir.models import Release, structure_errors
from fhirbridge.issues.issue import Issue


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


def check_bundle(bundle: dict[str, Any], release: Release = "R4") -> list[Issue]:
    """Every entry validates structurally and every reference resolves to an entry of the bundle."""
    issues: list[Issue] = []
    entries = bundle.get("entry", [])
    full_urls = {e.get("fullUrl") for e in entries}
    for i, entry in enumerate(entries):
        resource = entry.get("resource", {})
        where = f"Bundle.entry[{i}].resource"
        for location, message in structure_errors(resource, release):
            issues.append(Issue.of("FB-FHIR-001", f"{resource.get('resourceType')}: {location}: {message}",
                                   target=f"{where}.{location}"))
        for path, reference in _references(resource, where):
            if reference.startswith("urn:uuid:") and reference not in full_urls:
                issues.append(Issue.of("FB-FHIR-002", f"reference {reference} does not resolve in the bundle",
                                       target=path, value=reference))
    return issues
