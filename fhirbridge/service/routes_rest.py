"""The RESTful part: ingest (transaction/batch); create, update, conditional create and update, delete; read,
vread, history; search; ``Patient/{id}/$everything``. Every write is checked as ingest checks a bundle."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from fhirbridge.issues.issue import Issue
from fhirbridge.service.auth import require_api_key
from fhirbridge.service.bodies import XML_TYPES, media_type
from fhirbridge.service.ingest import ingest
from fhirbridge.service.openapi import FHIR_BODY, FHIR_RESULT, fhir_result
from fhirbridge.service.resource_writes import checked, if_match, matches_url, read_resource
from fhirbridge.service.responses import ServiceError, fhir_response, outcome_of, requested_format
from fhirbridge.service.search import SearchRequest, parse_search, query_pairs, supported_type
from fhirbridge.service.searchset import searchset, subset
from fhirbridge.service.stored import embeddable, parsed, respond
from fhirbridge.store.repository import (
    Criterion,
    Found,
    IdMismatch,
    IngestRejected,
    PreconditionFailed,
    Store,
    StoredVersion,
    WriteResult,
)
from fhirbridge.store.transaction import PlannedWrite

router = APIRouter()
TYPE = r"^[A-Z][A-Za-z]{1,63}$"
ID = r"^[A-Za-z0-9\-.]{1,64}$"
_WRITE_RESULT = fhir_result("the resource as stored", 400, 401, 403, 404, 409, 412, 415, 422)


def store_of(request: Request) -> Store:
    return request.app.state.store


@router.post("/", dependencies=[Depends(require_api_key)], summary="Ingest a transaction or batch Bundle",
             openapi_extra={**FHIR_BODY, **fhir_result("transaction-response Bundle", 401, 413, 415, 422)})
async def transaction(request: Request) -> Response:
    requested_format(request)  # an unknown _format is refused before anything is stored
    body = await request.body()
    content_type = request.headers.get("content-type")
    bundle, precise = read_resource(body, content_type)
    raw = None if media_type(content_type) in XML_TYPES else body
    response = await run_in_threadpool(ingest, store_of(request), bundle, precise, raw)
    return fhir_response(request, response)


# reading ----------------------------------------------------------------------------------------------------
def _headers(version: StoredVersion | WriteResult, base: str | None = None) -> dict[str, str]:
    rtype = version.resource_type
    location = f"{rtype}/{version.id}/_history/{version.version_id}"
    return {"ETag": f'W/"{version.version_id}"', "Last-Modified": version.last_updated,
            "Location": f"{base}/{location}" if base else location}


def _not_found(rtype: str, rid: str, version: int | None = None) -> ServiceError:
    what = f"{rtype}/{rid}" + (f"/_history/{version}" if version is not None else "")
    return ServiceError(404, Issue.of("FB-SRV-010", f"{what} is not stored", record=what))


def _gone(version: StoredVersion) -> ServiceError:
    what = f"{version.resource_type}/{version.id}"
    return ServiceError(410, Issue.of("FB-REST-003", f"{what} was deleted (version {version.version_id})",
                                      record=what), headers={"ETag": f'W/"{version.version_id}"'})


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/{rtype}/{rid}", summary="Read the current version of a resource",
            openapi_extra=fhir_result("the resource", 404, 410))
async def read(request: Request, rtype: str = Path(pattern=TYPE), rid: str = Path(pattern=ID)) -> Response:
    requested_format(request)
    store = store_of(request)
    version = await run_in_threadpool(store.read, rtype, rid)
    if version is None:
        deleted = await run_in_threadpool(store.deleted, rtype, rid)
        raise _gone(deleted) if deleted else _not_found(rtype, rid)
    return respond(request, version.content, headers=_headers(version))


@router.get("/{rtype}/{rid}/_history", summary="Every version of a resource, deletions included",
            openapi_extra=FHIR_RESULT)
async def history(request: Request, rtype: str = Path(pattern=TYPE), rid: str = Path(pattern=ID)) -> Response:
    fmt = requested_format(request)
    versions = await run_in_threadpool(store_of(request).history, rtype, rid)
    if not versions:
        raise _not_found(rtype, rid)
    base = _base(request)
    entries = []
    for v in versions:
        method, url, status = (("DELETE", f"{rtype}/{rid}", "204 No Content") if v.deleted else
                               ("POST", rtype, "201 Created") if v.version_id == 1 else
                               ("PUT", f"{rtype}/{rid}", "200 OK"))
        entry: dict[str, Any] = {"fullUrl": f"{base}/{rtype}/{rid}"}
        if not v.deleted:
            entry["resource"] = embeddable(v.content, fmt)
        entry["request"] = {"method": method, "url": url}
        entry["response"] = {"status": status, "lastModified": v.last_updated, "etag": f'W/"{v.version_id}"'}
        entries.append(entry)
    return respond(request, {"resourceType": "Bundle", "type": "history", "total": len(entries), "entry": entries})


@router.get("/{rtype}/{rid}/_history/{vid}", summary="Read one version of a resource",
            openapi_extra=fhir_result("the resource", 404, 410))
async def vread(request: Request, rtype: str = Path(pattern=TYPE), rid: str = Path(pattern=ID),
                vid: int = Path(ge=1, le=2**31 - 1)) -> Response:
    requested_format(request)
    versions = await run_in_threadpool(store_of(request).history, rtype, rid, vid)
    if not versions:
        raise _not_found(rtype, rid, vid)
    if versions[0].deleted:
        raise _gone(versions[0])
    return respond(request, versions[0].content, headers=_headers(versions[0]))


@router.get("/Patient/{rid}/$everything", summary="A Patient and every resource about it (and those they refer to)",
            openapi_extra=fhir_result("searchset Bundle", 404))
async def everything(request: Request, rid: str = Path(pattern=ID)) -> Response:
    fmt = requested_format(request)
    query_pairs(request.scope.get("query_string", b""), request.app.state.settings.search)
    limit = request.app.state.settings.search.max_everything
    found = await run_in_threadpool(store_of(request).everything, rid, limit)
    if found is None:
        raise _not_found("Patient", rid)
    base = _base(request)
    return respond(request, {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                             "entry": [{"fullUrl": f"{base}/{t}/{i}", "resource": embeddable(c, fmt),
                                        "search": {"mode": "match"}} for t, i, c in found]})


# searching --------------------------------------------------------------------------------------------------
def _search_request(request: Request, rtype: str, pairs: list[tuple[str, str]] | None = None) -> SearchRequest:
    settings = request.app.state.settings
    lenient = "handling=lenient" in request.headers.get("prefer", "").replace(" ", "")
    if pairs is None:
        pairs = query_pairs(request.scope.get("query_string", b""), settings.search)
    return parse_search(rtype, pairs, settings.search, settings.default_count, settings.max_count, lenient)


@router.get("/{rtype}", summary="Search resources of one type (the parameters /metadata lists; keyset-paged)",
            openapi_extra=fhir_result("searchset Bundle", 400))
async def search(request: Request, rtype: str = Path(pattern=TYPE)) -> Response:
    fmt = requested_format(request)
    asked = _search_request(request, rtype)
    limits = request.app.state.settings.search
    store = store_of(request)
    args = (rtype, asked.criteria, 0 if asked.summary_count else asked.count)
    options: dict[str, Any] = {
        "sort": asked.sort, "cursor": asked.cursor, "offset": asked.offset,
        "with_total": asked.with_total or asked.summary_count, "include": asked.include,
        "revinclude": asked.revinclude, "max_included": limits.max_included}
    # a search SQLite answers at once runs here (see store.quick); others in a worker thread
    page = store.search_quickly(*args, **options)
    if page is None:
        page = await run_in_threadpool(store.search, *args, **options)

    def shown(found: list[Found]) -> list[tuple[str, Any]]:
        if asked.elements is None:
            return [(f"{t}/{i}", embeddable(c, fmt)) for t, i, c in found]
        return [(f"{t}/{i}", subset(parsed(c, fmt), asked.elements)) for t, i, c in found]

    bundle = searchset(_base(request), rtype, asked, page.total, shown(page.matches), shown(page.included),
                       page.next_cursor)
    return respond(request, bundle)


# writing ----------------------------------------------------------------------------------------------------
def _written(request: Request, result: WriteResult, content: str | None, warnings: list[Issue]) -> Response:
    """201 (created) or 200, with Location and ETag; the resource as stored unless ``Prefer: return=minimal``."""
    status = 201 if result.status.startswith("201") else 200
    headers = _headers(result, _base(request))
    prefer = request.headers.get("prefer", "").replace(" ", "")
    if "return=OperationOutcome" in prefer:
        return respond(request, outcome_of(warnings), status, headers)
    if "return=minimal" in prefer or content is None:
        return Response(status_code=status, headers=headers)
    return respond(request, content, status, headers)


async def _store_write(request: Request, planned: PlannedWrite, warnings: list[Issue], *,
                       version: int | None = None, condition: list[Criterion] | None = None) -> Response:
    store = store_of(request)
    try:
        result = await run_in_threadpool(store.write, planned, if_match=version, condition=condition)
    except IdMismatch as exc:
        raise ServiceError(400, Issue.of("FB-REST-007", str(exc), target="id")) from None
    except PreconditionFailed as exc:
        raise ServiceError(412, Issue.of("FB-REST-002", str(exc))) from None
    except IngestRejected as exc:
        raise ServiceError(422, *exc.issues) from None
    # the version written (or found), even when another write followed it at once
    stored = await run_in_threadpool(store.history, result.resource_type, result.id, result.version_id)
    return _written(request, result, stored[0].content if stored else None, warnings + result.issues)


async def _body(request: Request, rtype: str, rid: str | None) -> tuple[dict[str, Any], list[Issue]]:
    """The resource sent, as the store will keep it, after every check (400, 415, 422 otherwise)."""
    requested_format(request)
    supported_type(rtype)
    as_read, precise = read_resource(await request.body(), request.headers.get("content-type"))
    matches_url(as_read, rtype, rid)
    warnings = await run_in_threadpool(checked, as_read)
    return precise, warnings


def _condition(request: Request, rtype: str, pairs: list[tuple[str, str]]) -> list[Criterion]:
    """The criteria of ``If-None-Exist`` or of a conditional update's query: a search of ``rtype``."""
    criteria = _search_request(request, rtype, [(k, v) for k, v in pairs if k != "_format"]).criteria
    if not criteria:
        raise ServiceError(400, Issue.of("FB-SRV-011", "a conditional write needs at least one search parameter"))
    return criteria


@router.post("/{rtype}", dependencies=[Depends(require_api_key)],
             summary="Create a resource (conditionally, with If-None-Exist: a search that must find nothing)",
             openapi_extra={**FHIR_BODY, **_WRITE_RESULT})
async def create(request: Request, rtype: str = Path(pattern=TYPE)) -> Response:
    header = request.headers.get("if-none-exist")
    limits = request.app.state.settings.search
    condition = None
    if header is not None:
        condition = _condition(request, rtype, query_pairs(header.removeprefix(f"{rtype}?").encode(), limits))
    resource, warnings = await _body(request, rtype, None)
    rid = str(uuid.uuid4())  # the server gives a created resource its id
    planned = PlannedWrite(0, "POST", rtype, rid, {**resource, "id": rid})
    return await _store_write(request, planned, warnings, condition=condition)


@router.put("/{rtype}/{rid}", dependencies=[Depends(require_api_key)],
            summary="Update (or create) a resource; If-Match makes it a version-checked update",
            openapi_extra={**FHIR_BODY, **_WRITE_RESULT})
async def update(request: Request, rtype: str = Path(pattern=TYPE), rid: str = Path(pattern=ID)) -> Response:
    version = if_match(request.headers.get("if-match"))
    resource, warnings = await _body(request, rtype, rid)
    return await _store_write(request, PlannedWrite(0, "PUT", rtype, rid, resource), warnings, version=version)


@router.put("/{rtype}", dependencies=[Depends(require_api_key)],
            summary="Conditional update: the search in the query finds the resource to update (none: create)",
            openapi_extra={**FHIR_BODY, **_WRITE_RESULT})
async def conditional_update(request: Request, rtype: str = Path(pattern=TYPE)) -> Response:
    condition = _condition(request, rtype, query_pairs(request.scope.get("query_string", b""),
                                                       request.app.state.settings.search))
    precise, warnings = await _body(request, rtype, None)
    # without an id in the body, a new resource gets one of the server's; a match keeps its own
    rid = precise["id"] if isinstance(precise.get("id"), str) else str(uuid.uuid4())
    return await _store_write(request, PlannedWrite(0, "PUT", rtype, rid, precise), warnings, condition=condition)


@router.delete("/{rtype}/{rid}", dependencies=[Depends(require_api_key)], status_code=204,
               summary="Delete a resource (its history is kept; a later update brings it back)",
               openapi_extra=fhir_result("nothing", 401, 404, 409))
async def delete(request: Request, rtype: str = Path(pattern=TYPE), rid: str = Path(pattern=ID)) -> Response:
    store = store_of(request)
    version, holders = await run_in_threadpool(store.delete, rtype, rid)
    if holders:
        raise ServiceError(409, Issue.of("FB-REST-005", f"{rtype}/{rid} is referred to by {', '.join(holders)}",
                                         record=f"{rtype}/{rid}"))
    if version is None:
        deleted = await run_in_threadpool(store.deleted, rtype, rid)
        if deleted is None:
            raise _not_found(rtype, rid)
        version = deleted.version_id
    return Response(status_code=204, headers={"ETag": f'W/"{version}"'})
