"""What one running service is configured with; the API key comes from the environment, never a flag."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fhirbridge.service.search_limits import SearchLimits

API_KEY_VARIABLE = "FHIRBRIDGE_API_KEY"
#: The SDTM mapping ``$export-sdtm`` writes with (a study's own, with its design and clock; default: the bundled one).
SDTM_MAPPING_VARIABLE = "FHIRBRIDGE_SDTM_MAPPING"
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
    #: Write endpoints need this key when set (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``).
    api_key: str | None = field(default_factory=_api_key, repr=False)
    #: Largest request body read, in bytes; also the limit on what an uploaded zip may expand to, times 8.
    max_body: int = DEFAULT_MAX_BODY
    #: Largest page a search returns, whatever ``_count`` asks for.
    max_count: int = 1000
    default_count: int = 50
    #: What one search may ask for (parameters, values, offset, included resources).
    search: SearchLimits = field(default_factory=SearchLimits)
    #: The SDTM mapping of ``$export-sdtm``: the server's study, set by its operator (never by a request).
    sdtm_mapping: Path | None = field(default_factory=_sdtm_mapping)
