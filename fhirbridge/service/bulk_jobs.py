"""The work of bulk jobs, done by a worker (never in a request): NDJSON export files, the SDTM zip, and imports.

Every job writes its files into its own folder under the service's files folder, then records its result in
the job table; the status and file endpoints serve only what is finished, from disk, holding no database
connection while a client reads.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from fhirbridge import public
from fhirbridge.formats.fhir.operation_outcome import operation_outcome
from fhirbridge.inputs import Source
from fhirbridge.issues.render import render_json
from fhirbridge.service.groups import group_patients, sync_study_groups
from fhirbridge.service.search import filter_criteria
from fhirbridge.service.search_limits import SearchLimits
from fhirbridge.store.export import Scope, export_rows
from fhirbridge.store.repository import Store

#: Resources written between two lease renewals (and cancellation checks).
RENEW_EVERY = 2000
#: Resources read per page when a ``_typeFilter`` search collects the ids it matches.
FILTER_PAGE = 1000
#: A callback that renews the job's lease with a progress note; it raises ``Cancelled`` when the job is gone.
Renew = Callable[[str], None]


class Cancelled(Exception):
    """The job was cancelled (deleted) while it ran."""


class GroupMissing(Exception):
    """The Group of a Group-level export is not stored (any more)."""


class TooLarge(Exception):
    """A synchronous export would write more resources than allowed."""


@dataclass(frozen=True)
class ExportRequest:
    """What an export kick-off asked for, checked; kept as the job's parameters."""

    level: str  # system, patient, group
    group: str | None = None
    types: tuple[str, ...] | None = None
    since: str | None = None
    type_filters: tuple[tuple[str, str], ...] = ()

    def as_params(self) -> dict[str, Any]:
        return {"level": self.level, "group": self.group, "types": self.types, "since": self.since,
                "type_filters": [list(f) for f in self.type_filters]}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ExportRequest:
        types = params.get("types")
        return cls(params["level"], params.get("group"), tuple(types) if types else None, params.get("since"),
                   tuple((t, q) for t, q in params.get("type_filters", [])))


def _filtered_ids(store: Store, type_filters: tuple[tuple[str, str], ...]) -> dict[str, set[str]]:
    """Per type with a ``_typeFilter``: the ids of the resources any of its filters matches (the filters were
    checked against the service's limits at kick-off)."""
    matches: dict[str, set[str]] = {}
    for rtype, query in type_filters:
        found = filter_criteria(rtype, query, SearchLimits())
        ids = matches.setdefault(rtype, set())
        cursor: tuple[str, str] | None = None
        while True:
            page = store.search(rtype, found, FILTER_PAGE, cursor=cursor, with_total=False)
            ids.update(rid for _, rid, _ in page.matches)
            cursor = page.next_cursor
            if cursor is None:
                break
    return matches


def write_export(store: Store, request: ExportRequest, outdir: Path, renew: Renew,
                 limit: int | None = None) -> dict[str, int]:
    """One ``Type.ndjson`` per resource type in ``outdir``; returns the count per type."""
    patients = None
    if request.level == "group":
        patients = group_patients(store, request.group or "")
        if patients is None:
            raise GroupMissing(request.group)
    scope = Scope(request.types, request.since, patients, compartment=request.level != "system")
    filters = _filtered_ids(store, request.type_filters)
    counts: dict[str, int] = {}
    files: dict[str, BinaryIO] = {}
    written = 0
    try:
        for rtype, rid, content in export_rows(store.engine, scope):
            if rtype in filters and rid not in filters[rtype]:
                continue
            if rtype not in files:
                files[rtype] = (outdir / f"{rtype}.ndjson").open("wb")
            files[rtype].write(content.encode() + b"\n")
            counts[rtype] = counts.get(rtype, 0) + 1
            written += 1
            if limit is not None and written > limit:
                raise TooLarge(limit)
            if written % RENEW_EVERY == 0:
                renew(f"{written} resources written")
    finally:
        for handle in files.values():
            handle.close()
    return counts


def export_manifest(job_request: str, transaction_time: str, base: str, job_id: str, counts: dict[str, int],
                    requires_token: bool) -> dict[str, Any]:
    """The manifest of a finished export, as the Bulk Data Access IG gives it."""
    return {
        "transactionTime": transaction_time,
        "request": job_request,
        "requiresAccessToken": requires_token,
        "output": [{"type": rtype, "url": f"{base}/$bulk-files/{job_id}/{rtype}.ndjson", "count": n}
                   for rtype, n in sorted(counts.items())],
        "error": [],
    }


def write_sdtm(store: Store, sdtm_format: str, sdtm_mapping: Path | None, outdir: Path, renew: Renew,
               limit: int | None = None) -> tuple[Path, int]:
    """The stored resources as SDTM tables, with define.xml and the report, in ``outdir/fhirbridge-sdtm.zip``;
    returns the archive and the exit code the CLI would give."""
    with tempfile.TemporaryDirectory(prefix="fhirbridge-sdtm-", dir=outdir) as scratch:
        ndjson, tables = Path(scratch) / "ndjson", Path(scratch) / "sdtm"
        ndjson.mkdir()
        write_export(store, ExportRequest("system"), ndjson, renew, limit)
        renew("converting to SDTM")
        inputs = [Source(path, name=path.name) for path in sorted(ndjson.glob("*.ndjson"))]
        report = public.convert(inputs, tables, source="fhir", target="sdtm", sdtm_format=sdtm_format,
                                sdtm_mapping=sdtm_mapping)
        prefix = f"{tables}/"
        report.outputs = [o.removeprefix(prefix) for o in report.outputs]
        report.issues = [i.model_copy(update={"file": i.file and i.file.removeprefix(prefix),
                                              "message": i.message.replace(prefix, "")}) for i in report.issues]
        archive = outdir / "fhirbridge-sdtm.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
            for path in sorted(p for p in tables.rglob("*") if p.is_file()):
                out.write(path, path.relative_to(tables).as_posix())
            out.writestr("report.json", render_json(report))
            out.writestr("OperationOutcome.json", orjson.dumps(operation_outcome(report)))
    return archive, report.exit_code


def remove_files(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def refresh_groups(store: Store) -> None:
    sync_study_groups(store)
