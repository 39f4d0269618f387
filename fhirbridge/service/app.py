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
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from fhirbridge import __version__
from fhirbridge.issues.issue import Issue
from fhirbridge.service import bulk, routes_operations, routes_rest
from fhirbridge.service.auth import Authentication
from fhirbridge.service.bodies import BodyError, BodyLimit
from fhirbridge.service.docs import add_offline_docs
from fhirbridge.service.limits import REQUEST_ID, Guard, Limits, RecordingSend
from fhirbridge.service.openapi import fhir_errors_only
from fhirbridge.service.responses import (
    ServiceError,
    on_body_error,
    on_database_error,
    on_disconnect,
    on_http_error,
    on_service_error,
    on_unexpected,
    on_validation_error,
    outcome_response,
)
from fhirbridge.service.settings import ServiceSettings
from fhirbridge.service.warm_up import start_warm_up
from fhirbridge.service.worker import Worker
from fhirbridge.store import Store
from fhirbridge.store.database import set_statement_timeout

access_log = logging.getLogger("fhirbridge.access")


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service over the store at ``settings.db`` (opened, and migrated, when the app starts)."""
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = Store.open(settings.db)
        set_statement_timeout(app.state.store.engine, settings.statement_timeout)
        start_warm_up()
        app.state.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        workers = [Worker(app.state.store, settings) for _ in range(settings.job_threads)]
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            for worker in workers:
                worker.stop()
            app.state.store.close()

    app = FastAPI(title="fhirbridge", version=__version__, lifespan=lifespan, redoc_url=None, docs_url=None,
                  description="Validate and convert spinal-cord-injury trial data (CSV, SDTM, FHIR) and ingest "
                              "FHIR transaction bundles into a registry.")
    app.state.settings = settings
    add_offline_docs(app)
    app.include_router(routes_operations.router)
    app.include_router(bulk.router)  # before the REST routes: /Patient/$export is not a read of Patient "$export"
    app.include_router(routes_rest.router)
    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(BodyError, on_body_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(ClientDisconnect, on_disconnect)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(Exception, on_unexpected)
    # Middleware added last runs first: the access log (which sees every answer), Guard (request id, headers,
    # early refusals, body timeout), authentication and the body limit.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body, refuse=_too_large(settings.max_body),
                       unlimited=("/$import",))
    app.add_middleware(Authentication, settings=settings, refuse=_refuse_error,
                       audit_engine=lambda: app.state.store.engine)
    limits = Limits(max_entries=settings.max_entries, max_depth=settings.max_depth, max_name=settings.max_name,
                    max_unzipped=settings.max_unzipped)
    app.add_middleware(Guard, limits=limits, body_timeout=settings.body_timeout, refuse=_refuse_issue)
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
                                    headers={"Connection": "close"}, scope=scope)
        await response(scope, receive, send)

    return refuse


async def _refuse_error(error: ServiceError, scope: Scope, receive: Receive, send: Send) -> None:
    await outcome_response(error.status, error.issues, error.headers, scope)(scope, receive, send)


async def _refuse_issue(status: int, issue: Issue, scope: Scope, receive: Receive, send: Send,
                        close: bool = False) -> None:
    headers = {"Connection": "close"} if close else None
    await outcome_response(status, [issue], headers, scope)(scope, receive, send)


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
        recording_send = RecordingSend(send)
        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "(no route)")
            access_log.info("%s %s %s %.1fms %s", scope["method"], route, recording_send.status or 500,
                            (time.perf_counter() - start) * 1000, scope.get(REQUEST_ID, "-"))
