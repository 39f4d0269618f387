"""Search requests: query parameters → store criteria, and a page of results → a searchset Bundle with links."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import orjson

from fhirbridge.issues.issue import Issue
from fhirbridge.service.responses import ServiceError
from fhirbridge.store.repository import Criterion
from fhirbridge.store.search_params import DATE_PREFIXES, PARAMS, BadSearchValue, date_range

#: Parameters that shape the result rather than select resources.
RESULT_PARAMS = {"_count", "_offset", "_format"}
_PREFIXED = re.compile(r"^([a-z]{2})(\d.*)$")


def _bad(param: str, message: str, value: str | None = None) -> ServiceError:
    return ServiceError(400, Issue.of("FB-SRV-011", message, target=param, value=value))


def criteria(rtype: str, query: list[tuple[str, str]]) -> list[Criterion]:
    """One criterion per parameter occurrence (AND); comma-separated values within one are OR-ed."""
    supported = PARAMS.get(rtype, {})
    found = []
    for name, raw in query:
        if name in RESULT_PARAMS:
            continue
        if name != "_id" and name not in supported:
            known = ", ".join(["_id", *supported]) or "_id"
            raise _bad(name, f"{rtype} cannot be searched by {name!r}; supported: {known}")
        values = [v for v in raw.split(",") if v]
        if not values:
            raise _bad(name, f"{name} has no value", raw)
        kind = "token" if name == "_id" else supported[name].kind
        try:
            found.append(Criterion(name, tuple(_value(kind, v) for v in values)))
        except BadSearchValue as exc:
            raise _bad(name, str(exc), raw) from None
    return found


def _value(kind: str, text: str) -> Any:
    if kind == "date":
        match = _PREFIXED.match(text)
        prefix, date = (match.group(1), match.group(2)) if match else ("eq", text)
        if prefix not in DATE_PREFIXES:
            raise BadSearchValue(f"date prefix {prefix!r} is not supported; use one of {', '.join(DATE_PREFIXES)}")
        return prefix, date_range(date)
    if kind == "reference":
        rtype, _, rid = text.rstrip("/").rpartition("/")
        return (rtype.rpartition("/")[2] or None), rid
    if "|" in text:  # token: system|code, |code (no system) or system| (any code of the system)
        system, _, code = text.partition("|")
        return (system if system else None), (code or None)
    return None, text


def page_size(query: dict[str, str], default: int, maximum: int) -> tuple[int, int]:
    """``_count`` (capped at ``maximum``) and ``_offset``."""
    try:
        count = int(query.get("_count", default))
        offset = int(query.get("_offset", 0))
    except ValueError:
        raise _bad("_count", "_count and _offset must be whole numbers") from None
    if count < 0 or offset < 0:
        raise _bad("_count", "_count and _offset must not be negative")
    return min(count, maximum), offset


def searchset(base: str, rtype: str, query: list[tuple[str, str]], total: int, page: list[str], count: int,
              offset: int) -> dict[str, Any]:
    """The searchset Bundle of one page, with self, next and previous links that keep the query."""
    kept = [(k, v) for k, v in query if k not in ("_count", "_offset")]

    def link(relation: str, at: int) -> dict[str, str]:
        params = urlencode([*kept, ("_count", str(count)), ("_offset", str(at))])
        return {"relation": relation, "url": f"{base}/{rtype}?{params}"}

    links = [link("self", offset)]
    if count and offset + count < total:
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(0, offset - count)))
    entries = []
    for content in page:
        resource = orjson.loads(content)
        entries.append({"fullUrl": f"{base}/{rtype}/{resource['id']}", "resource": resource,
                        "search": {"mode": "match"}})
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links, "entry": entries}
