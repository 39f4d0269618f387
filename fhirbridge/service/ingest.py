"""Registry ingest: validate a transaction or batch Bundle whole, then store all of it in one transaction or none."""

from __future__ import annotations

import re
from typing import Any

from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.service.resource_writes import release_issues
from fhirbridge.service.responses import ServiceError, outcome_of
from fhirbridge.service.validation import has_errors, validate_fhir
from fhirbridge.store.repository import IngestRejected, Store, WriteResult
from fhirbridge.store.transaction import PlannedWrite, plan

_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")


def ingest(store: Store, bundle: dict[str, Any], stored: dict[str, Any] | None = None, raw: bytes | None = None,
           ) -> dict[str, Any]:
    """The transaction-response Bundle; ``ServiceError`` (422) with every issue when anything is wrong.
    ``stored`` is the same bundle with its decimals as written (``bundle`` is what the checker reads); ``raw`` the
    JSON text both were read from, if any."""
    writes, issues = checked_writes(bundle, stored, raw)
    if has_errors(issues):
        raise ServiceError(422, *issues)
    try:
        results = store.ingest(writes)
    except IngestRejected as exc:
        raise ServiceError(422, *issues, *exc.issues) from None
    return _response_bundle(bundle["type"], results, [i for i in issues if i.severity >= Severity.WARNING])


def checked_writes(bundle: dict[str, Any], stored: dict[str, Any] | None = None, raw: bytes | None = None,
                   ) -> tuple[list[PlannedWrite], list[Issue]]:
    """The writes a bundle asks for and every issue found planning and validating it (nothing is stored).
    ``stored`` is the same bundle with its decimals as written; the writes carry those. ``raw``: the JSON text
    the bundle was parsed from (see ``validate_fhir``)."""
    writes, issues = plan(bundle if stored is None else stored)
    issues.extend(i for w in writes for i in release_issues(w.resource, f"Bundle.entry[{w.index}].resource"))
    if not any(i.code == "FB-SRV-001" for i in issues) and not has_errors(issues):
        issues.extend(i for i in validate_fhir(bundle, raw=raw).issues if not _resolved_by_store(i))
    return writes, issues


def _resolved_by_store(issue: Issue) -> bool:
    """A ``Type/id`` reference that no entry holds may name a stored resource: the store checks it (FB-SRV-005),
    where the file validator, which sees the bundle only, reports it unresolved."""
    value = issue.value if isinstance(issue.value, str) else ""
    return issue.code == "FB-FHIR-002" and value.count("/") == 1 and not value.startswith(("urn:", "#"))


def _response_bundle(kind: str, results: list[WriteResult], warnings: list[Issue]) -> dict[str, Any]:
    """One response entry per request entry; warnings go to the outcome of the entry they are about (an
    issue about no entry in particular goes to the first)."""
    by_entry: dict[int, list[Issue]] = {}
    for issue in warnings:
        match = _ENTRY.match(issue.target or "")
        by_entry.setdefault(int(match.group(1)) if match else 0, []).append(issue)
    entries = []
    for result in results:
        response: dict[str, Any] = {
            "status": result.status,
            "location": f"{result.resource_type}/{result.id}/_history/{result.version_id}",
            "etag": f'W/"{result.version_id}"',
            "lastModified": result.last_updated,
        }
        issues = result.issues + by_entry.get(result.index, [])
        if issues:
            response["outcome"] = outcome_of(issues)
        entries.append({"response": response})
    return {"resourceType": "Bundle", "type": f"{kind}-response", "entry": entries}
