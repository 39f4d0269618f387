"""The RESTful part: ingest (transaction/batch), read, vread, history and search."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from fhirbridge.issues.issue import Issue
from fhirbridge.service.auth import require_api_key
from fhirbridge.service.bodies import parse_fhir
from fhirbridge.service.ingest import ingest
from fhirbridge.service.openapi import FHIR_BODY, FHIR_RESULT, fhir_result
from fhirbridge.service.responses import ServiceError, fhir_response
from fhirbridge.service.search import criteria, page_size, searchset
from fhirbridge.store.repository import Store, StoredVersion

router = APIRouter()
TYPE = r"^[A-Z][A-Za-z]{1,63}$"
ID = r"^[A-Za-z0-9\-.]{1,64}$"


def store_of(request: Request) -> Store:
    return request.app.state.store


@router.post("/", dependencies=[Depends(require_api_key)], summary="Ingest a transaction or batch Bundle",
             openapi_extra={**FHIR_BODY, **fhir_result("transaction-response Bundle", 401, 413, 415, 422)})
async def transaction(request: Request) -> Response:
    bundle = parse_fhir(await request.body(), request.headers.get("content-type"))
    response = await run_in_threadpool(ingest, store_of(request), bundle)
    return fhir_response(request, response)


def _version_response(request: Request, version: StoredVersion) -> Response:
    headers = {"ETag": f'W/"{version.version_id}"', "Last-Modified": version.last_updated,
               "Location": f"{version.resource_type}/{version.id}/_history/{version.version_id}"}
    return fhir_response(request, orjson.loads(version.content), headers=headers)


def _not_found(rtype: str, rid: str, version: int | None = None) -> ServiceError:
    what = f"{rtype}/{rid}" + (f"/_history/{version}" if version is not None else "")
    return ServiceError(404, Issue.of("FB-SRV-010", f"{what} is not stored", record=what))


@router.get("/{rtype}/{rid}", summary="Read the current version of a resource", openapi_extra=FHIR_RESULT)
async def read(request: Request, rtype: str = Path(pattern=TYPE), rid: str = Path(pattern=ID)) -> Response:
    version = await run_in_threadpool(store_of(request).read, rtype, rid)
    if version is None:
        raise _not_found(rtype, rid)
    return _version_response(request, version)


@router.get("/{rtype}/{rid}/_history", summary="Every version of a resource", openapi_extra=FHIR_RESULT)
async def history(request: Request, rtype: str = Path(pattern=TYPE), rid: str = Path(pattern=ID)) -> Response:
    versions = await run_in_threadpool(store_of(request).history, rtype, rid)
    if not versions:
        raise _not_found(rtype, rid)
    base = str(request.base_url).rstrip("/")
    entries = [{"fullUrl": f"{base}/{rtype}/{rid}", "resource": orjson.loads(v.content),
                "request": {"method": "POST" if v.version_id == 1 else "PUT",
                            "url": rtype if v.version_id == 1 else f"{rtype}/{rid}"},
                "response": {"status": "201 Created" if v.version_id == 1 else "200 OK",
                             "lastModified": v.last_updated, "etag": f'W/"{v.version_id}"'}} for v in versions]
    return fhir_response(request, {"resourceType": "Bundle", "type": "history", "total": len(entries),
                                   "entry": entries})


@router.get("/{rtype}/{rid}/_history/{vid}", summary="Read one version of a resource", openapi_extra=FHIR_RESULT)
async def vread(request: Request, rtype: str = Path(pattern=TYPE), rid: str = Path(pattern=ID),
                vid: int = Path(ge=1, le=2**31 - 1)) -> Response:
    versions = await run_in_threadpool(store_of(request).history, rtype, rid, vid)
    if not versions:
        raise _not_found(rtype, rid, vid)
    return _version_response(request, versions[0])


@router.get("/{rtype}", summary="Search resources of one type (subject, code, date, identifier, _id; paged)",
            openapi_extra=fhir_result("searchset Bundle", 400))
async def search(request: Request, rtype: str = Path(pattern=TYPE)) -> Response:
    settings = request.app.state.settings
    query = list(request.query_params.multi_items())
    found = criteria(rtype, query)
    count, offset = page_size(dict(query), settings.default_count, settings.max_count)
    total, page = await run_in_threadpool(store_of(request).search, rtype, found, count, offset)
    base = str(request.base_url).rstrip("/")
    bundle: dict[str, Any] = searchset(base, rtype, query, total, page, count, offset)
    return fhir_response(request, bundle)
