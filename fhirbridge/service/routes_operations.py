"""The operations: $validate and $convert (the CLI's validate and convert over HTTP), and metadata."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from fhirbridge import api, public
from fhirbridge.errors import FhirbridgeError
from fhirbridge.formats.fhir.operation_outcome import operation_outcome as report_outcome
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.render import render_json
from fhirbridge.issues.report import Report
from fhirbridge.report import build_report
from fhirbridge.service.bodies import (
    MULTIPART,
    ZIP_TYPES,
    media_type,
    parse_fhir,
    safe_upload_name,
    zip_members,
)
from fhirbridge.service.capability import capability_statement, served_routes
from fhirbridge.service.openapi import FHIR_OR_FILES_BODY, fhir_result
from fhirbridge.service.resource_writes import resource_to_validate
from fhirbridge.service.responses import FHIR_JSON, FHIR_XML, ServiceError, fhir_response
from fhirbridge.service.validation import REQUEST_BODY

router = APIRouter()
#: Most files one multipart upload may carry.
MAX_FILES = 100
_FAIL_ON = Query("error", pattern="^(error|warning)$", description="Lowest severity that makes the input invalid.")
_VALIDATE_FROM = Query(None, alias="from", json_schema_extra={"enum": list(api.SOURCE_FORMATS)},
                       description="Format of uploaded files (default: told from their content).")


async def _inputs(request: Request, unwrap: bool = False) -> tuple[list[Source], bool]:
    """The inputs of a request, in memory, and whether they are a FHIR body: uploaded files (multipart, or one
    zip) named as uploaded (a zip's members by their path in it), or a FHIR JSON or XML body, parsed."""
    kind = media_type(request.headers.get("content-type"))
    budget = request.app.state.settings.max_unzipped  # what all archives of the request may expand to
    if kind == MULTIPART:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES)
        files: list[Source] = []
        for n, (field, value) in enumerate(form.multi_items(), start=1):
            if not isinstance(value, UploadFile):
                raise ServiceError(400, Issue.of("FB-SRV-011", f"form field {field!r} is not a file", target=field))
            data = await value.read()
            name = safe_upload_name(value.filename, f"upload-{n}")
            if name.lower().endswith(".zip"):
                unpacked, size = zip_members(data, budget)
                budget -= size
                files.extend(unpacked)
            else:
                files.append(Source(data, name=name))
        if not form.multi_items():
            raise ServiceError(400, Issue.of("FB-SRV-011", "the upload holds no file", target="file"))
        return files, False
    if kind in ZIP_TYPES:
        return zip_members(await request.body(), budget)[0], False
    resource = parse_fhir(await request.body(), request.headers.get("content-type"))
    return [Source(resource_to_validate(resource) if unwrap else resource, name=REQUEST_BODY)], True


def _usage_error(exc: FhirbridgeError) -> ServiceError:
    """A request the API cannot carry out as asked (an unknown format or option value): 400 with the message,
    which lists the valid values."""
    return ServiceError(400, Issue.of("FB-SRV-011", str(exc)))


#: The SDTM file formats, as ``--sdtm-format`` takes them.
SDTM_FORMATS = "^(csv|xpt|dataset-json|dataset-xml)$"
#: Parameters FHIR defines for every interaction, which any endpoint takes.
_GENERAL_PARAMETERS = frozenset({"_format", "_pretty", "_summary", "_elements"})


def only_known(request: Request, *names: str) -> None:
    """400 for a query parameter the operation does not take: a misspelt option (``sdtm-format``, ``format``)
    would otherwise be ignored and the default used without a word."""
    unknown = sorted(set(request.query_params) - set(names) - _GENERAL_PARAMETERS)
    if unknown:
        raise ServiceError(400, Issue.of("FB-SRV-011", f"unknown parameter {', '.join(map(repr, unknown))}; this "
                                         f"operation takes {', '.join(names)}", target=unknown[0]))


def _exit_header(report: Report) -> dict[str, str]:
    """The exit code the CLI would give for the same input, for scripts that branch on it."""
    return {"X-Fhirbridge-Exit-Code": str(report.exit_code)}


@router.get("/metadata", summary="The CapabilityStatement", openapi_extra=fhir_result("CapabilityStatement"))
async def metadata(request: Request) -> Response:
    state = request.app.state
    if getattr(state, "capability", None) is None:  # the routes do not change while the service runs
        state.capability = capability_statement([FHIR_JSON, FHIR_XML], state.started, served_routes(request.app))
    return fhir_response(request, state.capability)


@router.post("/$validate", summary="Validate a FHIR resource or Bundle, or uploaded CSV/SDTM files",
             openapi_extra={**FHIR_OR_FILES_BODY, **fhir_result("OperationOutcome", 413, 415)})
async def validate(request: Request, source: str | None = _VALIDATE_FROM, fail_on: str = _FAIL_ON) -> Response:
    only_known(request, "from", "fail_on")
    inputs, fhir_body = await _inputs(request, unwrap=True)
    try:
        report = await run_in_threadpool(public.validate, inputs, source="fhir" if fhir_body else source,
                                         fail_on=fail_on)
    except FhirbridgeError as exc:
        raise _usage_error(exc) from None
    status = 400 if report.exit_code == 2 else 200
    return fhir_response(request, report_outcome(report), status, headers=_exit_header(report))


@router.post("/$convert", summary="Convert like `fhirbridge convert`: a Parameters (FHIR Bundle + outcome) or a zip",
             openapi_extra={**FHIR_OR_FILES_BODY, **fhir_result("Parameters with the Bundle and its OperationOutcome, "
                                                                 "or a zip of the files written", 413, 415)})
async def convert(request: Request,
                  source: str = Query("csv", alias="from", json_schema_extra={"enum": list(api.SOURCE_FORMATS)}),
                  target: str = Query("fhir", alias="to", json_schema_extra={"enum": list(api.TARGET_FORMATS)}),
                  bundle_type: str = Query("collection", pattern="^(collection|transaction)$"),
                  fhir_format: str = Query("json", pattern="^(json|xml|ndjson)$"),
                  fhir_version: str | None = Query(None, pattern="^(R4|R4B|R5)$"),
                  sdtm_format: str = Query("csv", pattern=SDTM_FORMATS),
                  fail_on: str = _FAIL_ON) -> Response:
    only_known(request, "from", "to", "bundle_type", "fhir_format", "fhir_version", "sdtm_format", "fail_on")
    inputs, fhir_body = await _inputs(request)
    if fhir_body and source != "fhir":
        raise ServiceError(415, Issue.of("FB-SRV-008", "a FHIR body needs from=fhir; upload files for "
                                         f"from={source}", target="from", value=source))
    with tempfile.TemporaryDirectory(prefix="fhirbridge-") as scratch:
        outdir = Path(scratch)
        try:
            report = await run_in_threadpool(public.convert, inputs, outdir, source=source, target=target,
                                              fail_on=fail_on, bundle_type=bundle_type, fhir_format=fhir_format,
                                              fhir_version=fhir_version, sdtm_format=sdtm_format)
        except FhirbridgeError as exc:
            raise _usage_error(exc) from None
        _relative_to(report, outdir)
        if report.exit_code == 2:
            return fhir_response(request, report_outcome(report), 400, headers=_exit_header(report))
        written = sorted(p for p in outdir.rglob("*") if p.is_file()) if outdir.exists() else []
        if target == "fhir" and fhir_format == "json" and [p.name for p in written] == ["bundle.json"]:
            parameters = {"resourceType": "Parameters", "parameter": [
                {"name": "return", "resource": orjson.loads(written[0].read_bytes())},
                {"name": "outcome", "resource": report_outcome(report)},
            ]}
            return fhir_response(request, parameters, headers=_exit_header(report), release=fhir_version or "R4")
        archive = _zip(outdir, written, report)
    return Response(archive, media_type="application/zip", headers={
        **_exit_header(report), "Content-Disposition": f'attachment; filename="fhirbridge-{target}.zip"'})


def _zip(outdir: Path, files: list[Path], report: Report) -> bytes:
    """The files written, the CLI's JSON report and the OperationOutcome, in one zip."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(outdir).as_posix())
        archive.writestr("report.json", render_json(report))
        archive.writestr("OperationOutcome.json", orjson.dumps(report_outcome(report), option=orjson.OPT_INDENT_2))
    return buffer.getvalue()


@router.get("/$report", summary="The HTML report of `fhirbridge report` over every stored resource",
            response_class=HTMLResponse, openapi_extra=fhir_result("an HTML page", media="text/html"))
async def report(request: Request) -> Response:
    inputs = await run_in_threadpool(_bulk_export, request.app.state.store.export())
    html, result = await run_in_threadpool(build_report, inputs, source="fhir")
    return HTMLResponse(html, headers=_exit_header(result))


def _bulk_export(contents: Iterator[str]) -> list[Source]:
    """The stored resources as NDJSON in memory, one ``Type.ndjson`` per resource type as a bulk export has them."""
    by_type: dict[str, list[bytes]] = {}
    for content in contents:
        by_type.setdefault(orjson.loads(content)["resourceType"], []).append(content.encode() + b"\n")
    return [Source(b"".join(lines), name=f"{kind}.ndjson") for kind, lines in by_type.items()]


def _relative_to(report: Report, outdir: Path) -> None:
    """Files written into the scratch output folder are named by their place in it (the zip's member names):
    the server's own paths are not shown."""
    prefix = f"{outdir}/"
    report.outputs = [o.removeprefix(prefix) for o in report.outputs]
    report.issues = [i.model_copy(update={"file": i.file and i.file.removeprefix(prefix),
                                          "message": i.message.replace(prefix, "")}) for i in report.issues]
