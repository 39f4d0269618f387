"""Running the service under uvicorn: graceful shutdown on SIGTERM/SIGINT, logs without patient data."""

from __future__ import annotations

import logging

import uvicorn
from sqlalchemy.engine import make_url

from fhirbridge.service.app import create_app
from fhirbridge.service.settings import ServiceSettings
from fhirbridge.store.database import normalise_url

#: Seconds in-flight requests get to finish after SIGTERM before connections are closed.
GRACEFUL_SECONDS = 30

#: uvicorn's own access log prints paths and query strings (identifiers, dates); the service logs routes instead.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        "fhirbridge": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def serve(settings: ServiceSettings, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then finish the requests in flight and close the database."""
    config = uvicorn.Config(create_app(settings), host=host, port=port, access_log=False, log_config=LOGGING,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS, server_header=False)
    logging.getLogger("fhirbridge.service").info("database: %s", _redacted(settings.db))
    uvicorn.Server(config).run()


def _redacted(url: str) -> str:
    """The database URL without its password."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)
