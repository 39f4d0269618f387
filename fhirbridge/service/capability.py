"""The CapabilityStatement: what this service supports, read from its routes and from the search parameters the
store indexes, so that it cannot claim an interaction no route serves."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from fhirbridge import __version__
from fhirbridge.formats.fhir.models import FHIR_RELEASE
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.service.search import MODIFIERS
from fhirbridge.store.search_params import PARAMS

#: The interaction each route of a resource type carries out.
_TYPE_INTERACTIONS = {
    ("GET", "/{rtype}/{rid}"): "read",
    ("GET", "/{rtype}/{rid}/_history/{vid}"): "vread",
    ("GET", "/{rtype}/{rid}/_history"): "history-instance",
    ("GET", "/{rtype}"): "search-type",
    ("POST", "/{rtype}"): "create",
    ("PUT", "/{rtype}/{rid}"): "update",
    ("DELETE", "/{rtype}/{rid}"): "delete",
}
_SYSTEM_INTERACTIONS = {("POST", "/"): ("transaction", "batch")}
#: The definitions of the operations, where FHIR or the Bulk Data IG publishes one.
_OPERATION_DEFINITIONS = {
    "/$validate": ("validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate"),
    "/$convert": ("convert", "http://hl7.org/fhir/OperationDefinition/Resource-convert"),
    "/$export": ("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"),
}
_PATIENT_OPERATIONS = {
    "/Patient/{rid}/$everything": ("everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything"),
}
#: Parameters every type supports (read from the resource table, not the search index).
_COMMON_PARAMS = [{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"}]


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the application documents in its OpenAPI description."""
    return {(method.upper(), path) for path, methods in app.openapi()["paths"].items() for method in methods}


def capability_statement(formats: list[str], date: str, served: set[tuple[str, str]]) -> dict[str, Any]:
    """``formats`` are the mime types the service reads and writes; ``date`` is when the service started;
    ``served`` the (method, path) of the application's routes."""
    canonical = load_fhir_mapping().canonical
    interactions = [code for key, code in _TYPE_INTERACTIONS.items() if key in served]
    resources = []
    for rtype, params in sorted(PARAMS.items()):
        reference_params = [p.name for p in params.values() if p.kind == "reference"]
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned-update" if "update" in interactions else "versioned",
            "readHistory": "vread" in interactions,
            "updateCreate": "update" in interactions,
            "conditionalCreate": "create" in interactions,
            "conditionalRead": "not-supported",
            "conditionalUpdate": ("PUT", "/{rtype}") in served,
            "conditionalDelete": "not-supported",
            "referencePolicy": ["literal", "enforced", "local"],
            "searchInclude": [f"{rtype}:{name}" for name in reference_params],
            "searchRevInclude": sorted(f"{other}:{p.name}" for other, others in PARAMS.items()
                                       for p in others.values()
                                       if p.kind == "reference" and (p.targets is None or rtype in p.targets)),
            "searchParam": [*_COMMON_PARAMS, *({"name": p.name, "type": p.kind} for p in params.values())],
        }
        if rtype == "Patient":
            entry["operation"] = [{"name": name, "definition": url}
                                  for path, (name, url) in _PATIENT_OPERATIONS.items() if ("GET", path) in served]
        resources.append({k: v for k, v in entry.items() if v != []})
    operations = [{"name": name, "definition": url} for path, (name, url) in _OPERATION_DEFINITIONS.items()
                  if any(p == path for _, p in served)]
    if any(p == "/$export-sdtm" for _, p in served):
        operations.append({"name": "export-sdtm", "definition": f"{canonical}/OperationDefinition/export-sdtm"})
    modifiers = ", ".join(f":{m}" for kind in MODIFIERS.values() for m in sorted(kind))
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
            "documentation": f"Search: repeated parameters AND, comma-separated values OR; modifiers :missing, "
                             f"{modifiers} and a reference's :Type; chains one level deep (subject:Patient."
                             f"identifier); _sort (one parameter), _count, _total, _summary=count, _elements, "
                             f"_include, _revinclude; next links page by key, not offset.",
            "resource": resources,
            "interaction": [{"code": code} for key, codes in _SYSTEM_INTERACTIONS.items() if key in served
                            for code in codes],
            "operation": operations,
        }],
    }
