"""Bulk Data endpoints (the Bulk Data Access IG): ``$export`` at system, Patient and Group level, the SDTM export,
the status of jobs, their files, and ``$import`` of NDJSON.

With ``Prefer: respond-async`` a kick-off only records a job (202 and ``Content-Location``: the status URL); a
worker runs it. Polling the status URL answers 202 with ``X-Progress`` until the manifest (200) is ready;
``DELETE`` on it cancels the job. Without ``Prefer: respond-async`` the exports answer at once with the file, for
exports of at most ``max_sync_export`` resources (written to a file first, then sent). Parameters are checked at
kick-off: an unknown ``_type``, a bad ``_since``, ``_typeFilter`` or ``_outputFormat`` answers 400 at once.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from fhirbridge.formats.fhir.checker.definitions import is_resource_type
from fhirbridge.issues.issue import Issue
from fhirbridge.service.auth import ANONYMOUS, principal_of
from fhirbridge.service.bodies import media_type
from fhirbridge.service.bulk_jobs import ExportRequest, TooLarge, remove_files, write_export, write_sdtm
from fhirbridge.service.groups import sync_study_groups
from fhirbridge.service.openapi import fhir_result
from fhirbridge.service.responses import FHIR_NDJSON, ServiceError, outcome_of
from fhirbridge.service.routes_operations import SDTM_FORMATS, only_known
from fhirbridge.service.search import filter_criteria
from fhirbridge.service.search_limits import SearchLimits
from fhirbridge.service.worker import job_folder, upload_folder
from fhirbridge.store.jobs import DONE, FAILED, Job, Jobs

router = APIRouter()
OUTPUT_FORMATS = {"application/fhir+ndjson", "application/ndjson", "ndjson"}
NDJSON_TYPES = {"application/fhir+ndjson", "application/ndjson", "application/x-ndjson"}
_ID = r"^[A-Za-z0-9\-.]{1,64}$"
_JOB = r"^[0-9a-f\-]{36}$"
_FILE = re.compile(r"^([A-Z][A-Za-z]{1,63}\.ndjson|fhirbridge-sdtm\.zip)$")
_ASYNC = "respond-async"


def _accepting(extra: dict[str, Any], what: str = "Accepted: the status URL is in Content-Location") -> dict[str, Any]:
    """An operation's OpenAPI answers with 202 added (a job accepted, or still running)."""
    return {**extra, "responses": {**extra["responses"], "202": {"description": what}}}


_KICK_OFF = _accepting(fhir_result("the NDJSON itself, without Prefer: respond-async", 401, 403, 413,
                                   media=FHIR_NDJSON))


def _bad(param: str, message: str) -> ServiceError:
    return ServiceError(400, Issue.of("FB-SRV-011", message, target=param))


def _since(value: str | None) -> str | None:
    """``_since`` as the store writes instants (UTC, milliseconds); a date alone means its midnight UTC."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad("_since", f"_since is not a FHIR instant: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _types(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(dict.fromkeys(t.strip() for t in value.split(",")))
    unknown = [t or "(empty)" for t in names if not is_resource_type("R4", t)]
    if unknown:
        raise _bad("_type", f"_type names no FHIR R4 resource type: {', '.join(unknown)[:200]}")
    return names


def _type_filters(values: list[str], types: tuple[str, ...] | None, limits: SearchLimits,
                  ) -> tuple[tuple[str, str], ...]:
    found = []
    for value in values:
        rtype, _, query = value.partition("?")
        if not is_resource_type("R4", rtype) or (types is not None and rtype not in types):
            raise _bad("_typeFilter", f"_typeFilter {value[:80]!r} does not start with one of the exported types")
        filter_criteria(rtype, query, limits)  # a bad search answers 400 now
        found.append((rtype, query))
    return tuple(found)


def export_request(request: Request, level: str, group: str | None) -> ExportRequest:
    query = request.query_params
    output = query.get("_outputFormat")
    if output is not None and output not in OUTPUT_FORMATS:
        raise _bad("_outputFormat", f"_outputFormat {output[:60]!r} is not supported; use application/fhir+ndjson")
    types = _types(query.get("_type"))
    return ExportRequest(level, group, types, _since(query.get("_since")),
                         _type_filters(query.getlist("_typeFilter"), types, request.app.state.settings.search))


def _wants_async(request: Request) -> bool:
    return any(p.strip().lower() == _ASYNC for p in request.headers.get("prefer", "").split(","))


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _jobs(request: Request) -> Jobs:
    return Jobs(request.app.state.store.engine)


def _accepted(request: Request, job: Job) -> Response:
    status_url = f"{_base(request)}/$bulk-status/{job.id}"
    return Response(status_code=202, headers={"Content-Location": status_url})


async def _kick_off(request: Request, level: str, group: str | None) -> Response:
    wanted = export_request(request, level, group)
    store = request.app.state.store
    if level == "group":
        await run_in_threadpool(sync_study_groups, store)
        if await run_in_threadpool(store.read, "Group", group) is None:
            raise ServiceError(404, Issue.of("FB-SRV-010", f"Group/{group} is not stored", record=f"Group/{group}"))
    if _wants_async(request):
        job = await run_in_threadpool(_jobs(request).submit, "export", str(request.url),
                                      {**wanted.as_params(), "base": _base(request)}, _owner(request))
        return _accepted(request, job)
    return await _sync_export(request, wanted)


async def _bounded(request: Request, prefix: str, work: Any, *args: Any) -> tuple[Path, Any]:
    """Run ``work(store, *args, folder, renew, limit)`` in a thread into a new temporary folder, at most
    ``max_sync_export`` resources (else 413: ask asynchronously); the folder is removed if anything fails."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    limit = request.app.state.settings.max_sync_export
    try:
        return folder, await run_in_threadpool(work, request.app.state.store, *args, folder, _no_renew, limit)
    except TooLarge:
        remove_files(folder)
        raise ServiceError(413, Issue.of("FB-SRV-031", f"the export holds more than {limit} resources; ask for it "
                                         "with Prefer: respond-async")) from None
    except BaseException:
        remove_files(folder)
        raise


async def _sync_export(request: Request, wanted: ExportRequest) -> Response:
    """A small export at once: written to a temporary file (no database connection while the client reads)."""
    folder, counts = await _bounded(request, "fhirbridge-export-", write_export, wanted)
    joined = folder / "export.ndjson"
    await run_in_threadpool(_concatenate, [folder / f"{t}.ndjson" for t in sorted(counts)], joined)
    return FileResponse(joined, media_type=FHIR_NDJSON, background=BackgroundTask(remove_files, folder))


def _no_renew(_progress: str) -> None:
    """A request's export has no lease to renew."""


def _concatenate(parts: list[Path], target: Path) -> None:
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                while block := source.read(1 << 20):
                    out.write(block)
            part.unlink()


def _owner(request: Request) -> str:
    return principal_of(request).agent


@router.get("/$export", summary="Bulk export of every stored resource (Bulk Data Access IG, system level)",
            openapi_extra=_KICK_OFF)
async def export_system(request: Request) -> Response:
    return await _kick_off(request, "system", None)


@router.get("/Patient/$export", summary="Bulk export of the Patient compartment of every patient",
            openapi_extra=_KICK_OFF)
async def export_patients(request: Request) -> Response:
    return await _kick_off(request, "patient", None)


@router.get("/Group/{group_id}/$export", summary="Bulk export of the members of a Group (a study: its id)",
            openapi_extra=_accepting(fhir_result("the NDJSON itself, without Prefer: respond-async", 401, 403, 404,
                                                 413, media=FHIR_NDJSON)))
async def export_group(request: Request, group_id: str = PathParam(pattern=_ID)) -> Response:
    return await _kick_off(request, "group", group_id)


@router.get("/$export-sdtm", summary="Every stored resource as SDTM tables (a zip), read back through the FHIR spoke",
            openapi_extra=_accepting(fhir_result("a zip of SDTM datasets, define.xml and the report", 413,
                                                 media="application/zip")))
async def export_sdtm(request: Request,
                      sdtm_format: str | None = Query(None, pattern=SDTM_FORMATS),
                      named_format: str | None = Query(None, alias="format", pattern=SDTM_FORMATS, deprecated=True,
                                                       description="the former name of sdtm_format")) -> Response:
    only_known(request, "sdtm_format", "format")
    if sdtm_format and named_format and sdtm_format != named_format:
        raise _bad("sdtm_format", "sdtm_format and format (its former name) disagree")
    sdtm_format = sdtm_format or named_format or "csv"
    if _wants_async(request):
        job = await run_in_threadpool(_jobs(request).submit, "export-sdtm", str(request.url),
                                      {"format": sdtm_format, "base": _base(request)}, _owner(request))
        return _accepted(request, job)
    folder, (archive, exit_code) = await _bounded(request, "fhirbridge-sdtm-", write_sdtm, sdtm_format,
                                                     request.app.state.settings.sdtm_mapping)
    return FileResponse(archive, media_type="application/zip", filename="fhirbridge-sdtm.zip",
                        headers={"X-Fhirbridge-Exit-Code": str(exit_code)},
                        background=BackgroundTask(remove_files, folder))


async def _own_job(request: Request, job_id: str) -> Job:
    job = await run_in_threadpool(_jobs(request).get, job_id)
    if job is None:
        raise ServiceError(404, Issue.of("FB-SRV-010", "no such bulk job (finished jobs are kept for a while, "
                                         "cancelled ones not at all)"))
    principal = principal_of(request)
    if principal is not ANONYMOUS and job.owner not in (principal.agent, None):
        raise ServiceError(403, Issue.of("FB-SRV-033", "this bulk job belongs to another client"))
    return job


@router.get("/$bulk-status/{job_id}", summary="Status of a bulk job: 202 while it runs, then its manifest",
            openapi_extra=_accepting(fhir_result("the manifest (application/json)", 404, media="application/json"),
                                     "the job is still running: X-Progress says how far it got"))
async def job_status(request: Request, job_id: str = PathParam(pattern=_JOB)) -> Response:
    job = await _own_job(request, job_id)
    if job.state == DONE:
        return Response(orjson.dumps(job.result), media_type="application/json",
                        headers={"Expires": _expiry(job, request)})
    if job.state == FAILED:
        error = (job.result or {}).get("error") or outcome_of([Issue.of("FB-SRV-034", f"the {job.kind} job failed")])
        return Response(orjson.dumps(error), status_code=500, media_type="application/fhir+json")
    return Response(status_code=202, headers={"X-Progress": job.progress or job.state, "Retry-After": "1"})


def _expiry(job: Job, request: Request) -> str:
    hours = request.app.state.settings.job_hours
    created = dt.datetime.fromisoformat(job.created.replace("Z", "+00:00"))
    return (created + dt.timedelta(hours=hours)).strftime("%a, %d %b %Y %H:%M:%S GMT")


@router.delete("/$bulk-status/{job_id}", summary="Cancel a bulk job and delete its files", status_code=202,
               openapi_extra=_accepting(fhir_result("not used: a cancelled job answers 202", 404),
                                        "the job is cancelled and its files deleted"))
async def cancel_job(request: Request, job_id: str = PathParam(pattern=_JOB)) -> Response:
    job = await _own_job(request, job_id)
    await run_in_threadpool(_jobs(request).cancel, job.id)
    await run_in_threadpool(remove_files, job_folder(request.app.state.settings, job.id))
    if job.kind == "import":  # an import cancelled before it ran leaves its upload behind
        (upload_folder(request.app.state.settings) / job.params["upload"]).unlink(missing_ok=True)
    return Response(status_code=202)


@router.get("/$bulk-files/{job_id}/{name}", summary="One file of a finished bulk export",
            openapi_extra=fhir_result("NDJSON (or the SDTM zip)", 404, media=FHIR_NDJSON))
async def job_file(request: Request, job_id: str = PathParam(pattern=_JOB), name: str = PathParam()) -> Response:
    if not _FILE.match(name):
        raise ServiceError(404, Issue.of("FB-SRV-010", "no such file"))
    job = await _own_job(request, job_id)
    path = job_folder(request.app.state.settings, job.id) / name
    if job.state != DONE or not path.is_file():
        raise ServiceError(404, Issue.of("FB-SRV-034", "the job is not finished or has no such file"))
    media = "application/zip" if name.endswith(".zip") else FHIR_NDJSON
    return FileResponse(path, media_type=media)


@router.post("/$import", summary="Bulk import of NDJSON (any size): 202 and a status URL; a worker validates and "
                                 "stores it a subject at a time",
             openapi_extra={"requestBody": {"required": True, "content": {
                 FHIR_NDJSON: {"schema": {"type": "string"}}}},
                 **_accepting(fhir_result("not used: an import is always accepted (202)", 401, 403, 413, 415))})
async def bulk_import(request: Request) -> Response:
    kind = media_type(request.headers.get("content-type"))
    if kind not in NDJSON_TYPES:
        raise ServiceError(415, Issue.of("FB-SRV-008", f"$import reads NDJSON ({FHIR_NDJSON}), not {kind[:60]}",
                                         target="Content-Type"))
    settings = request.app.state.settings
    uploads = upload_folder(settings)
    uploads.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4()}.ndjson"
    target = uploads / name
    try:
        with target.open("wb") as spool:
            async for block in request.stream():
                spool.write(block)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    job = await run_in_threadpool(_jobs(request).submit, "import", str(request.url), {"upload": name},
                                  _owner(request))
    return _accepted(request, job)

