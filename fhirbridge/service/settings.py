"""What one running service is configured with. Secrets (API key) come from the environment, never a flag; every
other setting can be given on the command line (``fhirbridge serve --help``) or as ``FHIRBRIDGE_*`` variables.

The whole settings travel to worker processes (``--workers N``) as JSON in ``FHIRBRIDGE_SERVICE_SETTINGS``: the
service keeps no other state than the database and the folder of bulk files.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fhirbridge.service.search_limits import SearchLimits

API_KEY_VARIABLE = "FHIRBRIDGE_API_KEY"
#: The SDTM mapping ``$export-sdtm`` writes with (a study's own, with its design and clock; default: the bundled one).
SDTM_MAPPING_VARIABLE = "FHIRBRIDGE_SDTM_MAPPING"
SETTINGS_VARIABLE = "FHIRBRIDGE_SERVICE_SETTINGS"
#: The embedded default database: a SQLite file in the working directory.
DEFAULT_DB = "fhirbridge.sqlite"
DEFAULT_MAX_BODY = 64 * 1024 * 1024


def _api_key() -> str | None:
    return os.environ.get(API_KEY_VARIABLE) or None


def _sdtm_mapping() -> Path | None:
    found = os.environ.get(SDTM_MAPPING_VARIABLE)
    return Path(found) if found else None


@dataclass(frozen=True)
class ServiceSettings:
    db: str = str(Path(DEFAULT_DB))
    #: Every endpoint but /metadata needs this key when set (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``).
    api_key: str | None = field(default_factory=_api_key, repr=False)
    #: Largest request body read, in bytes.
    max_body: int = DEFAULT_MAX_BODY
    #: Largest page a search returns, whatever ``_count`` asks for.
    max_count: int = 1000
    default_count: int = 50
    #: What one search may ask for (parameters, values, offset, included resources).
    search: SearchLimits = field(default_factory=SearchLimits)
    #: The SDTM mapping of ``$export-sdtm``: the server's study, set by its operator (never by a request).
    sdtm_mapping: Path | None = field(default_factory=_sdtm_mapping)
    # limits on one request ----------------------------------------------------------------------------------
    #: Seconds a client has to send a request line and its headers (from connecting, or from the first byte of a
    #: request on a kept-alive connection) before the connection is closed (408 when part of a request came).
    header_timeout: float = 10.0
    #: Seconds the service waits for the next part of a request body before answering 408.
    body_timeout: float = 5.0
    #: Most entries one Bundle may hold (checked before anything is validated).
    max_entries: int = 50_000
    #: Deepest nesting of JSON objects and arrays in a FHIR body.
    max_depth: int = 64
    #: Longest name of an uploaded file or archive member, in characters.
    max_name: int = 255
    #: Most bytes all members of uploaded archives may expand to (checked while they are unpacked).
    max_unzipped: int = DEFAULT_MAX_BODY
    #: Most resources a synchronous ``GET /$export`` or ``GET /$export-sdtm`` (without ``Prefer: respond-async``)
    #: writes; larger exports must be asked for asynchronously.
    max_sync_export: int = 50_000
    #: Seconds one database statement may run (PostgreSQL) before it is cancelled.
    statement_timeout: float = 30.0
    # authentication -----------------------------------------------------------------------------------------
    #: OAuth2 bearer tokens (JWT) are accepted from this issuer (``iss``), their keys read from ``jwks``.
    jwt_issuer: str | None = None
    #: The issuer's JWKS: an https URL, or a file path (a key set kept next to the service).
    jwt_jwks: str | None = None
    #: The audience tokens must name (``aud``), when set.
    jwt_audience: str | None = None
    #: Reads (GET, $validate, $convert, $export) are open to anyone; writes still need credentials.
    public_read: bool = False
    # bulk jobs ----------------------------------------------------------------------------------------------
    #: Where bulk export files and import uploads are written (shared by all processes of one service).
    files_dir: str = "fhirbridge-files"
    #: Hours a finished job and its files are kept.
    job_hours: float = 24.0
    #: Background job workers in each service process (0: this process runs no jobs).
    job_threads: int = 1
    #: Resources of one bulk import stored per database transaction (whole subjects, so about this many).
    import_chunk: int = 2000

    @property
    def authenticating(self) -> bool:
        return self.api_key is not None or self.jwt_jwks is not None

    def to_environment(self) -> str:
        """The settings as JSON, for worker processes (the API key included: it travels in the environment)."""
        return orjson.dumps(dataclasses.asdict(self), default=str).decode()

    @classmethod
    def from_environment(cls) -> ServiceSettings:
        raw: dict[str, Any] = orjson.loads(os.environ[SETTINGS_VARIABLE])
        raw["search"] = SearchLimits(**raw["search"])
        raw["sdtm_mapping"] = Path(raw["sdtm_mapping"]) if raw["sdtm_mapping"] else None
        return cls(**raw)
