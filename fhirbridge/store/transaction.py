"""A transaction or batch Bundle read as a list of writes, with the problems that forbid storing it.

Only what a registry ingest needs is accepted: create (POST, optionally conditional on one identifier) and
update (PUT ``Type/id``). Every entry gets a deterministic id before it reaches the store, so that sending the
same bundle twice stores nothing twice: the UUID of a ``urn:uuid:`` fullUrl, else a UUIDv5 of the content.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from fhirbridge.issues.issue import Issue
from fhirbridge.store.decimals import dumps

BUNDLE_TYPES = ("transaction", "batch")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_CONDITION = re.compile(r"^identifier=([^|&]*)\|([^|&]+)$")
#: Namespace of ids given to created resources that come without a ``urn:uuid:`` fullUrl.
CONTENT_NAMESPACE = uuid.UUID("0b7c6f3e-4d1a-5e2f-8a9b-3c4d5e6f7a8b")


@dataclass
class PlannedWrite:
    """One entry to store: ``id`` is the one to use unless a conditional create finds an existing resource."""

    index: int
    method: Literal["POST", "PUT"]
    resource_type: str
    id: str
    resource: dict[str, Any]
    full_url: str | None = None
    condition: tuple[str, str] | None = None  # identifier (system, value) of a conditional create


def canonical_json(resource: dict[str, Any]) -> bytes:
    """The resource as sorted-key JSON, without the server-assigned meta.versionId and meta.lastUpdated."""
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    body = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        body["meta"] = meta
    return dumps(body, option=orjson.OPT_SORT_KEYS)


def content_hash(resource: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(resource)).hexdigest()


def plan(bundle: Any) -> tuple[list[PlannedWrite], list[Issue]]:
    """The writes a transaction or batch Bundle asks for, or the issues that make it unacceptable."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") not in BUNDLE_TYPES:
        kind = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        btype = bundle.get("type") if isinstance(bundle, dict) else None
        return [], [Issue.of("FB-SRV-001", f"expected a transaction or batch Bundle, got {kind} {btype or ''}".strip(),
                             target="Bundle.type", value=btype, expected=" or ".join(BUNDLE_TYPES))]
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        return [], [Issue.of("FB-SRV-002", "Bundle.entry is not a list", target="Bundle.entry")]
    writes: list[PlannedWrite] = []
    issues: list[Issue] = []
    for i, entry in enumerate(entries):
        write = _entry(i, entry, issues)
        if write is not None:
            writes.append(write)
    issues.extend(_duplicates(writes))
    return writes, issues


def _entry(i: int, entry: Any, issues: list[Issue]) -> PlannedWrite | None:
    where = f"Bundle.entry[{i}]"
    if not isinstance(entry, dict):
        issues.append(Issue.of("FB-SRV-002", "entry is not an object", target=where))
        return None
    resource, request = entry.get("resource"), entry.get("request")
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str) \
            or not _TYPE.match(resource["resourceType"]):
        issues.append(Issue.of("FB-SRV-002", "entry has no resource with a resourceType", target=f"{where}.resource"))
        return None
    if not isinstance(request, dict) or not isinstance(request.get("url"), str):
        issues.append(Issue.of("FB-SRV-002", "entry has no request with a method and url", target=f"{where}.request"))
        return None
    rtype, method, url = resource["resourceType"], request.get("method"), request["url"]
    full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
    if method == "PUT":
        return _put(i, rtype, url, resource, full_url, issues)
    if method == "POST":
        return _post(i, rtype, url, request.get("ifNoneExist"), resource, full_url, issues)
    issues.append(Issue.of("FB-SRV-002", f"request method {method!r} is not supported in an ingest",
                           target=f"{where}.request.method", value=method, expected="POST or PUT"))
    return None


def _put(i: int, rtype: str, url: str, resource: dict[str, Any], full_url: str | None,
         issues: list[Issue]) -> PlannedWrite | None:
    where = f"Bundle.entry[{i}].request.url"
    utype, _, rid = url.partition("/")
    if utype != rtype or not _ID.match(rid):
        issues.append(Issue.of("FB-SRV-002", f"PUT url {url!r} is not {rtype}/[id]", target=where, value=url,
                               expected=f"{rtype}/[id]"))
        return None
    if resource.get("id", rid) != rid:
        issues.append(Issue.of("FB-SRV-002", f"resource id {resource.get('id')!r} differs from the PUT url {url!r}",
                               target=f"Bundle.entry[{i}].resource.id", value=resource.get("id"), expected=rid))
        return None
    return PlannedWrite(i, "PUT", rtype, rid, {**resource, "id": rid}, full_url)


def _post(i: int, rtype: str, url: str, if_none_exist: Any, resource: dict[str, Any], full_url: str | None,
          issues: list[Issue]) -> PlannedWrite | None:
    where = f"Bundle.entry[{i}].request"
    if url != rtype:
        issues.append(Issue.of("FB-SRV-002", f"POST url {url!r} is not the resource type {rtype}",
                               target=f"{where}.url", value=url, expected=rtype))
        return None
    condition = None
    if if_none_exist is not None:
        match = _CONDITION.match(if_none_exist) if isinstance(if_none_exist, str) else None
        if match is None:
            issues.append(Issue.of("FB-SRV-003", "ifNoneExist must be one identifier search: identifier=system|value",
                                   target=f"{where}.ifNoneExist", value=if_none_exist,
                                   expected="identifier=system|value"))
            return None
        condition = (match.group(1), match.group(2))
    rid = _proposed_id(full_url, resource)
    return PlannedWrite(i, "POST", rtype, rid, {**resource, "id": rid}, full_url, condition)


def _proposed_id(full_url: str | None, resource: dict[str, Any]) -> str:
    if full_url and full_url.startswith("urn:uuid:"):
        candidate = full_url.removeprefix("urn:uuid:")
        if _ID.match(candidate):
            return candidate
    return str(uuid.uuid5(CONTENT_NAMESPACE, content_hash({k: v for k, v in resource.items() if k != "id"})))


def _duplicates(writes: list[PlannedWrite]) -> list[Issue]:
    issues = []
    seen_urls: dict[str, int] = {}
    seen_ids: dict[tuple[str, str], int] = {}
    seen_conditions: dict[tuple[str, ...], int] = {}
    for w in writes:
        where = f"Bundle.entry[{w.index}]"
        if w.full_url is not None:
            if w.full_url in seen_urls:
                issues.append(Issue.of("FB-SRV-004", f"fullUrl {w.full_url} also names entry {seen_urls[w.full_url]}",
                                       target=f"{where}.fullUrl", value=w.full_url))
            seen_urls.setdefault(w.full_url, w.index)
        key = (w.resource_type, w.id)
        if key in seen_ids:
            issues.append(Issue.of("FB-SRV-004", f"{w.resource_type}/{w.id} is also written by entry {seen_ids[key]}",
                                   target=f"{where}.request", value=f"{w.resource_type}/{w.id}"))
        seen_ids.setdefault(key, w.index)
        if w.condition is not None:
            condition = (w.resource_type, *w.condition)
            if condition in seen_conditions:
                issues.append(Issue.of("FB-SRV-004", f"entry {seen_conditions[condition]} has the same ifNoneExist",
                                       target=f"{where}.request.ifNoneExist", value="|".join(w.condition)))
            seen_conditions.setdefault(condition, w.index)
    return issues
