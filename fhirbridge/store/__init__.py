"""The registry store: FHIR resources with their versions, in SQLite or PostgreSQL through one storage layer."""

from fhirbridge.store.database import connect_engine, migrate, normalise_url
from fhirbridge.store.repository import Store

__all__ = ["Store", "connect_engine", "migrate", "normalise_url"]
