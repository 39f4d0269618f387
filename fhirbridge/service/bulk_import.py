"""Bulk import of NDJSON larger than a request body: the upload is spooled to disk as it arrives, then a worker
reads it twice: once to find which subject each line belongs to, then a subject at a time to validate and store.

A subject is a Patient with every resource that refers to it; resources that refer to no Patient (the study,
products, groups) are units of their own and are stored first, so that subjects may refer to them. Each unit is
validated as a transaction Bundle of PUTs (the ids of the file are kept) exactly as ingest validates; valid
units are stored a chunk at a time (one database transaction for several subjects) and a chunk the database
refuses is stored again unit by unit, so that a unit is all or nothing and one bad subject costs only itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fhirbridge.formats.fhir.operation_outcome import operation_outcome
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report
from fhirbridge.service.bulk_jobs import Renew
from fhirbridge.service.groups import sync_study_groups
from fhirbridge.service.ingest import checked_writes
from fhirbridge.service.limits import LimitExceeded, check_parsed
from fhirbridge.service.validation import has_errors
from fhirbridge.store import decimals
from fhirbridge.store.repository import IngestRejected, Store
from fhirbridge.store.transaction import PlannedWrite

SHARED = ""  # the owner of resources that refer to no Patient
#: Resources an import must have stored for the database's planner statistics to be renewed when it ends
#: (PostgreSQL's ANALYZE reads a sample of each table: a fraction of a second).
ANALYZE_AFTER = 1000


@dataclass
class Unit:
    """A subject (or one shared resource) and the byte offsets of its lines in the file."""

    name: str
    lines: list[tuple[int, int]] = field(default_factory=list)  # (line number, offset)


@dataclass
class ImportReport:
    resources: int = 0
    units: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        return {"imported": {"resources": self.resources, "units": self.units},
                "refused": self.refused, "outcome": operation_outcome(Report(issues=self.issues))}


def _patient_of(node: Any) -> str | None:
    """The first ``Patient/id`` a resource refers to."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str) and ref.startswith("Patient/"):
                return ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return None


def _units(path: Path, report: ImportReport) -> list[Unit]:
    """Pass 1: every line's unit; lines that are not FHIR resources are refused here, with their line number."""
    shared: list[Unit] = []
    subjects: dict[str, Unit] = {}
    with path.open("rb") as handle:
        offset, number = 0, 0
        for line in handle:
            number += 1
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                resource = orjson.loads(line)
                check_parsed(resource)
                rtype, rid = resource["resourceType"], resource["id"]
                if not isinstance(rtype, str) or not isinstance(rid, str):
                    raise TypeError
            except (orjson.JSONDecodeError, LimitExceeded, KeyError, TypeError) as exc:
                message = exc.issue.message if isinstance(exc, LimitExceeded) else "not a FHIR resource with an id"
                issue = Issue.of("FB-SRV-035", f"line {number}: {message}", file="import", row=number)
                report.issues.append(issue)
                report.refused.append({"unit": f"line {number}", "lines": [number], "codes": ["FB-SRV-035"]})
                continue
            owner = f"Patient/{rid}" if rtype == "Patient" else _patient_of(resource)
            if owner is None:
                shared.append(Unit(f"{rtype}/{rid}", [(number, start)]))
            else:
                subjects.setdefault(owner, Unit(owner)).lines.append((number, start))
    return shared + list(subjects.values())


def _bundles(path: Path, unit: Unit) -> tuple[dict[str, Any], dict[str, Any]]:
    """The unit as a transaction Bundle, as the checker reads it and as the store keeps it (decimals as written)."""
    checked, kept = [], []
    with path.open("rb") as handle:
        for _number, offset in unit.lines:
            handle.seek(offset)
            line = handle.readline()
            resource = orjson.loads(line)
            request = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
            for entries, content in ((checked, resource), (kept, decimals.loads(line, resource))):
                entries.append({"fullUrl": request["url"], "resource": content, "request": request})
    return ({"resourceType": "Bundle", "type": "transaction", "entry": checked},
            {"resourceType": "Bundle", "type": "transaction", "entry": kept})


def _refuse(report: ImportReport, unit: Unit, issues: list[Issue]) -> None:
    lines = [n for n, _ in unit.lines]
    report.issues.append(Issue.of("FB-SRV-035", f"{unit.name}: {len(lines)} resource(s) left out "
                                  f"(lines {lines[0]}–{lines[-1]})", file="import", row=lines[0], record=unit.name))
    report.issues.extend(i.model_copy(update={"record": unit.name}) for i in issues)
    report.refused.append({"unit": unit.name, "lines": lines, "codes": sorted({i.code for i in issues})})


def _chunks(path: Path, units: list[Unit], report: ImportReport,
            size: int) -> Iterator[list[tuple[Unit, list[PlannedWrite]]]]:
    """Validated units, gathered into chunks of about ``size`` resources; invalid units are refused."""
    chunk: list[tuple[Unit, list[PlannedWrite]]] = []
    count = 0
    for unit in units:
        writes, issues = checked_writes(*_bundles(path, unit))
        if has_errors(issues):
            _refuse(report, unit, [i for i in issues if i.severity >= Severity.ERROR])
            continue
        chunk.append((unit, writes))
        count += len(writes)
        if count >= size:
            yield chunk
            chunk, count = [], 0
    if chunk:
        yield chunk


def _store(store: Store, chunk: list[tuple[Unit, list[PlannedWrite]]], report: ImportReport) -> None:
    writes = [w for _unit, ws in chunk for w in ws]
    for n, w in enumerate(writes):
        w.index = n
    try:
        store.ingest(writes)
    except IngestRejected as exc:
        if len(chunk) > 1:
            for one in chunk:
                _store(store, [one], report)
            return
        _refuse(report, chunk[0][0], exc.issues)
        return
    report.resources += len(writes)
    report.units += len(chunk)


def import_ndjson(store: Store, path: Path, renew: Renew, chunk_size: int) -> dict[str, Any]:
    """Import one NDJSON file; the result says what was stored and what was refused, and why."""
    report = ImportReport()
    units = _units(path, report)
    renew(f"{len(units)} subjects and shared resources found")
    for chunk in _chunks(path, units, report, chunk_size):
        _store(store, chunk, report)
        renew(f"{report.units} of {len(units)} stored")
    sync_study_groups(store)
    if report.resources >= ANALYZE_AFTER:
        store.analyze()
    return report.as_result()
