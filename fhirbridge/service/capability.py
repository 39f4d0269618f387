"""The CapabilityStatement: what this service supports, built from the same tables the handlers use."""

from __future__ import annotations

from typing import Any

from fhirbridge import __version__
from fhirbridge.formats.fhir.models import FHIR_RELEASE
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.store.search_params import PARAMS

#: The definitions of the operations, where FHIR or the Bulk Data IG publishes one.
_OPERATION_DEFINITIONS = {
    "validate": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
    "convert": "http://hl7.org/fhir/OperationDefinition/Resource-convert",
    "export": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
}


def capability_statement(formats: list[str], date: str) -> dict[str, Any]:
    """``formats`` are the mime types the service reads and writes; ``date`` is when the service started."""
    canonical = load_fhir_mapping().canonical
    resources = []
    for rtype, params in sorted(PARAMS.items()):
        resources.append({
            "type": rtype,
            "versioning": "versioned",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "interaction": [{"code": code} for code in ("read", "vread", "history-instance", "search-type",
                                                         "create", "update")],
            "searchParam": [{"name": "_id", "type": "token"}] + [
                {"name": p.name, "type": p.kind} for p in params.values()
            ],
        })
    operations = [{"name": name, "definition": url} for name, url in _OPERATION_DEFINITIONS.items()]
    operations.append({"name": "export-sdtm", "definition": f"{canonical}/OperationDefinition/export-sdtm"})
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "fhirbridge", "version": __version__},
        "implementation": {"description": "fhirbridge registry service: validation, conversion and ingest of "
                                          "spinal-cord-injury trial data"},
        "fhirVersion": FHIR_RELEASE,
        "format": formats,
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "operation": operations,
        }],
    }
