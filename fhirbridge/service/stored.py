"""Stored resources served as they are stored: the JSON text goes out unparsed (decimals keep their digits, and a
large page costs no parsing), and is parsed only for XML or for ``_elements``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from fhirbridge.service.responses import FHIR_JSON, fhir_response, requested_format
from fhirbridge.store import decimals


def embeddable(content: str, fmt: str) -> Any:
    """A stored resource to place in a document answered in ``fmt`` (json or xml)."""
    return orjson.Fragment(content) if fmt == "json" else decimals.loads(content)


def parsed(content: str, fmt: str) -> dict[str, Any]:
    """A stored resource to work on, its decimals as written (the JSON and the XML writer both keep them)."""
    return decimals.loads(content)


def respond(request: Request, document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A document holding stored resources (or one stored resource's text), as JSON or XML as the request asks."""
    if requested_format(request) == "xml":
        if isinstance(document, str):
            document = decimals.loads(document)
        return fhir_response(request, document, status, headers)
    body = document.encode() if isinstance(document, str) else decimals.dumps(document)
    return Response(body, status_code=status, media_type=FHIR_JSON, headers=headers)
