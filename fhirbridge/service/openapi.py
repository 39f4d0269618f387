"""What the OpenAPI document says about FHIR bodies and answers, which FastAPI cannot infer from raw requests."""

from __future__ import annotations

from typing import Any

FHIR_JSON = "application/fhir+json"
_RESOURCE = {"type": "object", "required": ["resourceType"], "properties": {"resourceType": {"type": "string"}},
             "additionalProperties": True}
_OUTCOME = {"description": "OperationOutcome", "content": {FHIR_JSON: {"schema": _RESOURCE}}}
_XML = {"schema": {"type": "string"}}
_FILES = {"schema": {"type": "object", "properties": {"file": {"type": "array",
                                                               "items": {"type": "string", "format": "binary"}}}}}
_ZIP = {"schema": {"type": "string", "format": "binary"}}

#: A FHIR resource as the request body.
FHIR_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {FHIR_JSON: {"schema": _RESOURCE},
                                                                           "application/fhir+xml": _XML}}}
#: A FHIR resource, or files (multipart, or one zip) of a table format.
FHIR_OR_FILES_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    FHIR_JSON: {"schema": _RESOURCE}, "application/fhir+xml": _XML, "multipart/form-data": _FILES,
    "application/zip": _ZIP}}}


def fhir_result(description: str, *errors: int, media: str = FHIR_JSON) -> dict[str, Any]:
    """The 200 answer and the error statuses (each an OperationOutcome) of an operation."""
    schema = _ZIP["schema"] if media != FHIR_JSON else _RESOURCE
    return {"responses": {"200": {"description": description, "content": {media: {"schema": schema}}},
                          **{str(code): _OUTCOME for code in (*errors, 400)}}}


FHIR_RESULT = fhir_result("the resource", 404)


#: Answers any request may get before it reaches its operation (malformed, unauthorised, too slow or too large).
ANY_REQUEST_ERRORS = ("400", "401", "403", "408", "413")
#: ... and any request with a body (no or an unsupported Content-Type).
BODY_ERRORS = ("415",)


def fhir_errors_only(document: dict[str, Any]) -> dict[str, Any]:
    """Replace FastAPI's own 422 "validation error" answers with the 400 OperationOutcome the service sends, and
    list the refusals every request may get (authentication, limits), each an OperationOutcome."""
    for route, path in document.get("paths", {}).items():
        for method, operation in path.items():
            responses = operation.get("responses", {})
            guarded = () if route == "/metadata" else ANY_REQUEST_ERRORS[1:]
            body = BODY_ERRORS if method in ("post", "put", "patch") else ()
            for status in (ANY_REQUEST_ERRORS[0], *guarded, *body, *(("404",) if "{" in route else ())):
                responses.setdefault(status, _OUTCOME)
            body = responses.get("422", {}).get("content", {}).get("application/json", {})
            if "HTTPValidationError" in str(body.get("schema", {})):
                del responses["422"]
                responses["400"] = _OUTCOME
    for name in ("HTTPValidationError", "ValidationError"):
        document.get("components", {}).get("schemas", {}).pop(name, None)
    if not document.get("components", {}).get("schemas"):
        document.get("components", {}).pop("schemas", None)
    if not document.get("components"):
        document.pop("components", None)
    return document
