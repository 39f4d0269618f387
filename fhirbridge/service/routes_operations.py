"""The operations: $validate and $convert (the CLI's validate and convert over HTTP), $export and metadata."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from fhirbridge import api
from fhirbridge.formats.fhir.ndjson import write_ndjson
from fhirbridge.formats.fhir.operation_outcome import operation_outcome as report_outcome
from fhirbridge.formats.options import ConvertOptions, UnsupportedOption
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.render import render_json
from fhirbridge.issues.report import Report
from fhirbridge.service.bodies import (
    MULTIPART,
    ZIP_EXPANSION,
    ZIP_TYPES,
    extract_zip,
    media_type,
    parse_fhir,
    safe_upload_name,
)
from fhirbridge.service.capability import capability_statement
from fhirbridge.service.openapi import FHIR_OR_FILES_BODY, fhir_result
from fhirbridge.service.responses import FHIR_JSON, FHIR_NDJSON, FHIR_XML, ServiceError, fhir_response
from fhirbridge.service.validation import relocate, validate_fhir, validate_files

router = APIRouter()
#: Most files one multipart upload may carry.
MAX_FILES = 100
_TYPE_NAME = r"[A-Z][A-Za-z]{1,63}"
_FAIL_ON = Query("error", pattern="^(error|warning)$", description="Lowest severity that makes the input invalid.")
_VALIDATE_FROM = Query(None, alias="from", json_schema_extra={"enum": list(api.VALIDATE_FORMATS)},
                       description="Format of uploaded files (default: told from their content).")
FHIR_INPUT = "request-body.json"


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ServiceError(400, Issue.of("FB-SRV-011", f"{name}={value!r} is not supported", target=name, value=value,
                                         expected=", ".join(allowed)))
    return value


async def _save_inputs(request: Request, folder: Path) -> dict[str, Any] | None:
    """A FHIR body is returned as a resource; uploaded files (multipart, or one zip) are saved in ``folder``."""
    kind = media_type(request.headers.get("content-type"))
    limit = request.app.state.settings.max_body * ZIP_EXPANSION
    if kind == MULTIPART:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES)
        saved = 0
        for field, value in form.multi_items():
            if not isinstance(value, UploadFile):
                raise ServiceError(400, Issue.of("FB-SRV-011", f"form field {field!r} is not a file", target=field))
            data = await value.read()
            name = safe_upload_name(value.filename, f"upload-{saved + 1}")
            if name.lower().endswith(".zip"):
                extract_zip(data, folder, limit)
            else:
                (folder / name).write_bytes(data)
            saved += 1
        if not saved:
            raise ServiceError(400, Issue.of("FB-SRV-011", "the upload holds no file", target="file"))
        return None
    if kind in ZIP_TYPES:
        extract_zip(await request.body(), folder, limit)
        return None
    return parse_fhir(await request.body(), request.headers.get("content-type"))


def _exit_header(report: Report) -> dict[str, str]:
    """The exit code the CLI would give for the same input, for scripts that branch on it."""
    return {"X-Fhirbridge-Exit-Code": str(report.exit_code)}


@router.get("/metadata", summary="The CapabilityStatement", openapi_extra=fhir_result("CapabilityStatement"))
async def metadata(request: Request) -> Response:
    return fhir_response(request, capability_statement([FHIR_JSON, FHIR_XML], request.app.state.started))


@router.post("/$validate", summary="Validate a FHIR resource or Bundle, or uploaded CSV/SDTM files",
             openapi_extra={**FHIR_OR_FILES_BODY, **fhir_result("OperationOutcome", 413, 415)})
async def validate(request: Request, source: str | None = _VALIDATE_FROM, fail_on: str = _FAIL_ON) -> Response:
    severity = Severity.parse(fail_on)
    with tempfile.TemporaryDirectory(prefix="fhirbridge-") as scratch:
        folder = Path(scratch)
        resource = await _save_inputs(request, folder)
        if resource is not None:
            report = await run_in_threadpool(validate_fhir, resource, severity)
        else:
            if source is not None:
                _choice("from", source, api.VALIDATE_FORMATS)
            report = await run_in_threadpool(validate_files, folder, source, ConvertOptions(), severity)
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
                  sdtm_format: str = Query("csv", pattern="^(csv|xpt|dataset-json|dataset-xml)$"),
                  fail_on: str = _FAIL_ON) -> Response:
    _choice("to", target, api.TARGET_FORMATS)
    options = ConvertOptions(bundle_type=bundle_type, fhir_format=fhir_format,  # type: ignore[arg-type]
                             fhir_version=fhir_version, sdtm_format=sdtm_format)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="fhirbridge-") as scratch:
        inputs, outdir = Path(scratch) / "in", Path(scratch) / "out"
        inputs.mkdir()
        resource = await _save_inputs(request, inputs)
        if resource is not None:
            if source != "fhir":
                raise ServiceError(415, Issue.of("FB-SRV-008", "a FHIR body needs from=fhir; upload files for "
                                                 f"from={source}", target="from", value=source))
            (inputs / FHIR_INPUT).write_bytes(orjson.dumps(resource))
        _choice("from", source, api.SOURCE_FORMATS)
        try:
            report = await run_in_threadpool(api.convert, [inputs], outdir, source=source, target=target,
                                              options=options, fail_on=Severity.parse(fail_on))
        except UnsupportedOption as exc:
            raise ServiceError(400, Issue.of("FB-SRV-011", str(exc))) from None
        relocate(relocate(report, str(outdir)), str(inputs))
        if report.exit_code == 2:
            return fhir_response(request, report_outcome(report), 400, headers=_exit_header(report))
        written = sorted(p for p in outdir.rglob("*") if p.is_file()) if outdir.exists() else []
        if target == "fhir" and fhir_format == "json" and [p.name for p in written] == ["bundle.json"]:
            parameters = {"resourceType": "Parameters", "parameter": [
                {"name": "return", "resource": orjson.loads(written[0].read_bytes())},
                {"name": "outcome", "resource": report_outcome(report)},
            ]}
            return fhir_response(request, parameters, headers=_exit_header(report))
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


@router.get("/$export", summary="Every stored resource as NDJSON (optionally only some types)",
            openapi_extra=fhir_result("NDJSON, one resource per line", media=FHIR_NDJSON))
async def export(request: Request, types: str | None = Query(None, alias="_type",
                                                             pattern=f"^{_TYPE_NAME}(,{_TYPE_NAME})*$")) -> Response:
    chosen = types.split(",") if types else None
    lines = (line.encode() + b"\n" for line in request.app.state.store.export(chosen))
    return StreamingResponse(lines, media_type=FHIR_NDJSON)


@router.get("/$export-sdtm", summary="Every stored resource as SDTM tables (a zip), read back through the FHIR spoke",
            openapi_extra=fhir_result("a zip of SDTM datasets, define.xml and the report", media="application/zip"))
async def export_sdtm(request: Request,
                      sdtm_format: str = Query("csv", alias="format",
                                               pattern="^(csv|xpt|dataset-json|dataset-xml)$")) -> Response:
    store = request.app.state.store
    with tempfile.TemporaryDirectory(prefix="fhirbridge-") as scratch:
        inputs, outdir = Path(scratch) / "in", Path(scratch) / "out"
        await run_in_threadpool(_dump_ndjson, store.export(), inputs)
        report = await run_in_threadpool(api.convert, [inputs], outdir, source="fhir", target="sdtm",
                                          options=ConvertOptions(sdtm_format=sdtm_format))  # type: ignore[arg-type]
        relocate(relocate(report, str(outdir)), str(inputs))
        written = sorted(p for p in outdir.rglob("*") if p.is_file()) if outdir.exists() else []
        archive = _zip(outdir, written, report)
    return Response(archive, media_type="application/zip", headers={
        **_exit_header(report), "Content-Disposition": 'attachment; filename="fhirbridge-sdtm.zip"'})


def _dump_ndjson(contents: Iterator[str], folder: Path) -> None:
    """The stored resources as NDJSON files, one per resource type, as a bulk export writes them."""
    write_ndjson((orjson.loads(c) for c in contents), folder)
