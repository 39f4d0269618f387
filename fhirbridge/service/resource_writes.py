"""One resource sent to create, update or ``$validate``: read with its decimals as written, checked as ingest
checks a bundle (the FHIR checker, for the release the store holds), and its preconditions read from headers."""

from __future__ import annotations

import re
from typing import Any

from fhirbridge.formats.fhir.checker.validator import FhirValidator
from fhirbridge.formats.fhir.versions import declared, family, shape
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report
from fhirbridge.service.bodies import XML_TYPES, media_type, parse_fhir, parse_fhir_xml
from fhirbridge.service.responses import ServiceError
from fhirbridge.service.validation import REQUEST_BODY, has_errors
from fhirbridge.store import decimals

_ETAG = re.compile(r'^(?:W/)?"(\d{1,9})"$')


def read_resource(body: bytes, content_type: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The resource as the checker reads it (floats), and as the store keeps it (decimals as written)."""
    parsed = parse_fhir(body, content_type)  # nesting, entries and NUL characters checked (service limits)
    if media_type(content_type) in XML_TYPES:  # read again, keeping decimals as written (XML requests are few)
        return parsed, parse_fhir_xml(body, decimals.Decimal)
    return parsed, decimals.loads(body, parsed)


def release_issues(resource: dict[str, Any], where: str | None = None) -> list[Issue]:
    """The store holds R4 (R4B shares its shape): a resource of another release would be stored unchecked."""
    release = declared(resource)
    other = sorted({family(r) for r in shape(resource)} - {"R4"})
    if release is not None and family(release) != "R4":
        return [Issue.of("FB-REST-004", f"the resource declares FHIR {release}; this store holds R4",
                         target=where, value=release, expected="R4")]
    if other:
        names = ", ".join(shape(resource)[other[0]])  # type: ignore[index]
        return [Issue.of("FB-REST-004", f"the resource has elements only FHIR {other[0]} defines ({names}); this "
                         "store holds R4", target=where, expected="R4")]
    return []


def checked(resource: dict[str, Any]) -> list[Issue]:
    """Refuse (422, every issue) a resource that is not valid R4; the warnings otherwise.

    One resource goes through the FHIR checker alone (structure, values, bindings, invariants, fhirbridge's
    profiles); the clinical checks across a subject's records run where a bundle brings them together."""
    issues = release_issues(resource, resource.get("resourceType"))
    if not issues:
        report = Report()
        validator = FhirValidator(report)
        validator.file = REQUEST_BODY
        validator.document(resource)
        issues = report.issues
    if has_errors(issues):
        raise ServiceError(422, *issues)
    return [i for i in issues if i.severity >= Severity.WARNING]


def matches_url(resource: dict[str, Any], rtype: str, rid: str | None) -> None:
    """The body names the type (and, for an update, the id) of the URL it is sent to."""
    if resource.get("resourceType") != rtype:
        raise ServiceError(400, Issue.of("FB-REST-007", f"the body is a {resource.get('resourceType')}, the URL "
                                         f"names {rtype}", target="resourceType", expected=rtype))
    if rid is not None and resource.get("id") != rid:
        raise ServiceError(400, Issue.of("FB-REST-007", f"the body's id {resource.get('id')!r} is not the URL's "
                                         f"{rid!r}", target="id", expected=rid))


def if_match(header: str | None) -> int | None:
    """The version an ``If-Match: W/"3"`` header names."""
    if header is None:
        return None
    match = _ETAG.match(header.strip())
    if match is None:
        raise ServiceError(400, Issue.of("FB-SRV-011", 'If-Match takes the ETag of a version: W/"3"',
                                         target="If-Match", value=header))
    return int(match.group(1))


def resource_to_validate(body: dict[str, Any]) -> dict[str, Any]:
    """What ``$validate`` checks: the ``resource`` part of a ``Parameters`` body (with its ``profile`` part added to
    the profiles the resource declares, which the checker validates against), else the body itself."""
    parts = body.get("parameter") if body.get("resourceType") == "Parameters" else None
    if not isinstance(parts, list):
        return body
    named = {p.get("name"): p for p in parts if isinstance(p, dict)}
    resource = named.get("resource", {}).get("resource")
    if not isinstance(resource, dict):
        return body
    profile_part = named.get("profile", {})
    profile = profile_part.get("valueUri") or profile_part.get("valueCanonical")
    if not isinstance(profile, str):
        return resource
    meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
    declared_profiles = [p for p in meta.get("profile", []) if p != profile] if isinstance(meta.get("profile"),
                                                                                           list) else []
    return {**resource, "meta": {**meta, "profile": [*declared_profiles, profile]}}
