"""The HTTP service: FHIR endpoints over the API ($validate, $convert) and an idempotent registry ingest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhirbridge.service.settings import ServiceSettings

if TYPE_CHECKING:
    from fhirbridge.service.app import create_app

__all__ = ["ServiceSettings", "create_app"]


def __getattr__(name: str) -> Any:
    """``create_app`` is imported when first asked for: the supervisor of several worker processes (and anything
    else that imports a module of this package) does not load the web framework and every route."""
    if name == "create_app":
        from fhirbridge.service.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
