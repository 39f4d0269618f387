"""Running the service under uvicorn: graceful shutdown on SIGTERM/SIGINT, logs without patient data."""

from __future__ import annotations

import logging
import os
from typing import Any

import uvicorn
from sqlalchemy.engine import make_url

from fhirbridge.service.protocol import protocol_with
from fhirbridge.service.settings import SETTINGS_VARIABLE, ServiceSettings
from fhirbridge.store import Store
from fhirbridge.store.database import normalise_url

#: Seconds in-flight requests get to finish after SIGTERM before connections are closed.
GRACEFUL_SECONDS = 30

#: Seconds an idle keep-alive connection is kept open.
KEEP_ALIVE_SECONDS = 5
#: Largest request line and headers, in bytes.
MAX_HEADERS = 64 * 1024
#: Seconds a worker process may take to answer its supervisor's health check. uvicorn's default (5 s) kills a
#: worker still starting on a busy machine: building the FHIR checker's schema holds Python's lock for seconds,
#: so the thread that answers the check cannot run, and the worker is restarted again and again.
WORKER_HEALTHCHECK_SECONDS = 120

#: uvicorn's own access log prints paths and query strings (identifiers, dates); the service logs routes instead.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"no_exception_text": {"()": "fhirbridge.service.logs.NoExceptionText"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr",
                            "filters": ["no_exception_text"]}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        "fhirbridge": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def serve(settings: ServiceSettings, host: str, port: int, workers: int = 1) -> None:
    """Serve until SIGTERM or SIGINT, then finish the requests in flight and close the database. With several
    workers, uvicorn starts that many processes, each building the app from the settings in the environment."""
    log = logging.getLogger("fhirbridge.service")
    options: dict[str, Any] = {"host": host, "port": port, "access_log": False, "log_config": LOGGING,
                               "timeout_graceful_shutdown": GRACEFUL_SECONDS, "server_header": False,
                               "timeout_keep_alive": KEEP_ALIVE_SECONDS, "h11_max_incomplete_event_size": MAX_HEADERS,
                               "http": protocol_with(settings.header_timeout)}
    if workers > 1:
        if make_url(normalise_url(settings.db)).get_backend_name() == "sqlite":
            log.warning("%d workers on SQLite: writes wait for each other (one writer); use PostgreSQL", workers)
        Store.open(settings.db).close()  # migrate once here, not in every worker as it starts
        os.environ[SETTINGS_VARIABLE] = settings.to_environment()
        log.info("database: %s, %d workers", _redacted(settings.db), workers)
        uvicorn.run("fhirbridge.service.server:app_from_environment", factory=True, workers=workers,
                    timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS, **options)
        return
    from fhirbridge.service.app import create_app  # here: the supervisor of several workers does not need it

    log.info("database: %s", _redacted(settings.db))
    uvicorn.Server(uvicorn.Config(create_app(settings), **options)).run()


def app_from_environment() -> Any:
    """The app of one worker process, from the settings its parent put in the environment."""
    from fhirbridge.service.app import create_app

    return create_app(ServiceSettings.from_environment())


def _redacted(url: str) -> str:
    """The database URL without its password."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)
