"""The FastAPI application: routes, error handling (always an OperationOutcome), body limit and access log."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhirbridge import __version__
from fhirbridge.issues.issue import Issue
from fhirbridge.service import routes_operations, routes_rest
from fhirbridge.service.bodies import BodyError, BodyLimit
from fhirbridge.service.openapi import fhir_errors_only
from fhirbridge.service.responses import (
    ServiceError,
    on_body_error,
    on_http_error,
    on_service_error,
    on_unexpected,
    on_validation_error,
    outcome_response,
)
from fhirbridge.service.settings import ServiceSettings
from fhirbridge.store import Store

access_log = logging.getLogger("fhirbridge.access")


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service over the store at ``settings.db`` (opened, and migrated, when the app starts)."""
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = Store.open(settings.db)
        app.state.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        try:
            yield
        finally:
            app.state.store.close()

    app = FastAPI(title="fhirbridge", version=__version__, lifespan=lifespan, redoc_url=None,
                  description="Validate and convert spinal-cord-injury trial data (CSV, SDTM, FHIR) and ingest "
                              "FHIR transaction bundles into a registry.")
    app.state.settings = settings
    app.include_router(routes_operations.router)
    app.include_router(routes_rest.router)
    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(BodyError, on_body_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body, refuse=_too_large(settings.max_body))
    app.add_middleware(AccessLog)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = fhir_errors_only(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _too_large(limit: int) -> Any:
    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        response = outcome_response(413, [Issue.of("FB-SRV-007", f"the request body exceeds {limit} bytes")],
                                    headers={"Connection": "close"})
        await response(scope, receive, send)

    return refuse


class AccessLog:
    """One line per request: method, route template (never the path or query: they may hold identifiers),
    status and duration. Request and response bodies are never logged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "(no route)")
            access_log.info("%s %s %s %.1fms", scope["method"], route, status, (time.perf_counter() - start) * 1000)
