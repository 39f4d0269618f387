"""FHIR responses: JSON (or XML where the FHIR spoke writes it) by ``_format`` or Accept, errors as OperationOutcome."""

from __future__ import annotations

import logging
import traceback
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import Scope

from fhirbridge.formats.fhir import xml as fhir_xml
from fhirbridge.formats.fhir.models import Release
from fhirbridge.formats.fhir.operation_outcome import operation_outcome
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.service.bodies import JSON_TYPES, XML_TYPES, BodyError
from fhirbridge.service.limits import REQUEST_ID

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
FHIR_NDJSON = "application/fhir+ndjson"
log = logging.getLogger("fhirbridge.service")
_FORMATS = {"json": "json", "xml": "xml", **dict.fromkeys(JSON_TYPES, "json"), **dict.fromkeys(XML_TYPES, "xml")}


class ServiceError(Exception):
    """An answer other than success, with the issues that explain it."""

    def __init__(self, status: int, *issues: Issue, headers: dict[str, str] | None = None) -> None:
        super().__init__(issues[0].message if issues else str(status))
        self.status = status
        self.issues = list(issues)
        self.headers = headers or {}


def requested_format(request: Request) -> str:
    """``json`` or ``xml``: the ``_format`` parameter wins over the Accept header; JSON unless XML is asked for."""
    explicit = request.query_params.get("_format")
    if explicit is not None:
        chosen = _FORMATS.get(explicit.strip().lower())
        if chosen is None:
            raise ServiceError(400, Issue.of("FB-SRV-011", f"unknown _format {explicit!r}", target="_format",
                                             value=explicit, expected="json or xml"))
        return chosen
    accept = request.headers.get("accept", "")
    if any(t in accept for t in XML_TYPES) and not any(t in accept for t in (*JSON_TYPES, "*/*")):
        return "xml"
    return "json"


def fhir_response(request: Request, resource: dict[str, Any], status: int = 200,
                  headers: dict[str, str] | None = None, release: Release = "R4") -> Response:
    """The resource as FHIR JSON, or as FHIR XML (written by the FHIR spoke, for ``release``) when the request asks
    for XML."""
    if requested_format(request) == "xml":
        return Response(fhir_xml.to_bytes(fhir_xml.to_xml(resource, release)), status_code=status,
                        media_type=FHIR_XML, headers=headers)
    return Response(orjson.dumps(resource), status_code=status, media_type=FHIR_JSON, headers=headers)


def outcome_of(issues: list[Issue]) -> dict[str, Any]:
    return operation_outcome(Report(issues=issues))


def outcome_response(status: int, issues: list[Issue], headers: dict[str, str] | None = None,
                     scope: Scope | None = None) -> Response:
    """The OperationOutcome of a refusal: FHIR XML when the request (``scope``) asks for XML by a valid ``_format``
    or its Accept header, else JSON (also when the format asked for is itself what is wrong)."""
    outcome = outcome_of(issues)
    if scope is not None and _wants_xml(scope):
        return Response(fhir_xml.to_bytes(fhir_xml.to_xml(outcome, "R4")), status_code=status, media_type=FHIR_XML,
                        headers=headers)
    return Response(orjson.dumps(outcome), status_code=status, media_type=FHIR_JSON, headers=headers)


def _wants_xml(scope: Scope) -> bool:
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    explicit = query.get("_format")
    if explicit is not None:
        return _FORMATS.get(explicit.strip().lower()) == "xml"
    accept = dict(scope.get("headers", [])).get(b"accept", b"").decode("latin-1")
    return any(t in accept for t in XML_TYPES) and not any(t in accept for t in (*JSON_TYPES, "*/*"))


async def on_service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return outcome_response(exc.status, exc.issues, exc.headers, request.scope)


async def on_body_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyError)
    return outcome_response(exc.status, exc.issues, scope=request.scope)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [Issue.of("FB-SRV-011", f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}",
                       target=".".join(str(p) for p in err["loc"][1:]) or None) for err in exc.errors()]
    return outcome_response(400, issues, scope=request.scope)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        issue = Issue.of("FB-SRV-010", "no such endpoint")
    else:
        issue = Issue.of("FB-SRV-011", str(exc.detail))
    return outcome_response(exc.status_code, [issue], dict(exc.headers or {}), request.scope)


async def on_disconnect(request: Request, _exc: Exception) -> Response:
    """A client that left before sending its whole body is not a failure of the service: noted, not an error."""
    log.info("client disconnected during %s %s (request %s)", request.method,
             getattr(request.scope.get("route"), "path", "?"), request.scope.get(REQUEST_ID, "-"))
    return outcome_response(400, [Issue.of("FB-SRV-030", "the client disconnected before sending the whole body")],
                            scope=request.scope)


#: PostgreSQL's code for a statement cancelled by ``statement_timeout``.
QUERY_CANCELED = "57014"


async def on_database_error(request: Request, exc: Exception) -> Response:
    """A statement that ran past the statement timeout: 503 (try later, or ask for less); nothing was stored.
    Any other database error is unexpected."""
    if getattr(getattr(exc, "orig", None), "sqlstate", None) == QUERY_CANCELED:
        log.warning("statement timeout in %s %s (request %s)", request.method,
                    getattr(request.scope.get("route"), "path", "?"), request.scope.get(REQUEST_ID, "-"))
        return outcome_response(503, [Issue.of("FB-SRV-036", "the database did not answer within the statement "
                                               "timeout; nothing was stored")], {"Retry-After": "5"}, request.scope)
    return await on_unexpected(request, exc)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """Log what failed and where, but not the exception's message: it may quote patient data."""
    route = getattr(request.scope.get("route"), "path", "?")
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("internal error in %s %s (request %s): %s\n%s", request.method, route,
              request.scope.get(REQUEST_ID, "-"), type(exc).__name__, frames)
    return outcome_response(500, [Issue.of("FB-SRV-013", "internal error; nothing was stored")], scope=request.scope)
