"""The HTTP service: FHIR endpoints over the API ($validate, $convert) and an idempotent registry ingest."""

from fhirbridge.service.app import create_app
from fhirbridge.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
