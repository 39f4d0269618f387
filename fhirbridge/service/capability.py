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
    "/Patient/$export": ("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"),
}
#: Groups are written by the service (one per stored study, for ``Group/{id}/$export``), never by clients: they
#: are read, not searched or written through the REST routes.
_GROUP_INTERACTIONS = ("read", "vread", "history-instance")
_GROUP_OPERATIONS = {
    "/Group/{group_id}/$export": ("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"),
}
#: Operations fhirbridge defines itself (under its canonical URL).
_OWN_OPERATIONS = {"/$export-sdtm": "export-sdtm", "/$import": "import"}
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
            entry["operation"] = _operations(_PATIENT_OPERATIONS, served)
        resources.append({k: v for k, v in entry.items() if v != []})
    group_operations = _operations(_GROUP_OPERATIONS, served)
    if group_operations:
        group_interactions = [{"code": c} for c in _GROUP_INTERACTIONS if c in interactions]
        resources.append({"type": "Group", "interaction": group_interactions,
                          "versioning": "versioned", "readHistory": "vread" in interactions,
                          "operation": group_operations})
        resources.sort(key=lambda r: r["type"])
    operations = _operations(_OPERATION_DEFINITIONS, served)
    operations += [{"name": name, "definition": f"{canonical}/OperationDefinition/{name}"}
                   for path, name in _OWN_OPERATIONS.items() if any(p == path for _, p in served)]
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


def _operations(definitions: dict[str, tuple[str, str]], served: set[tuple[str, str]]) -> list[dict[str, str]]:
    """The operations of ``definitions`` (path: name and definition) that a route serves."""
    return [{"name": name, "definition": url} for path, (name, url) in definitions.items()
            if any(p == path for _, p in served)]
