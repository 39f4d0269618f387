"""A page of search results → a searchset Bundle: matches, included resources, the keyset ``next`` link, and
the parameters ignored under ``Prefer: handling=lenient``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fhirbridge.service.responses import outcome_of
from fhirbridge.service.search import SearchRequest, encode_cursor

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def searchset(base: str, rtype: str, request: SearchRequest, total: int | None, matches: list[Any],
              included: list[Any], next_cursor: tuple[str, str] | None) -> dict[str, Any]:
    """The searchset Bundle of one page: ``matches`` and ``included`` are resources (or stored JSON fragments),
    the ``next`` link continues after the last match (keyset), keeping every other parameter."""
    kept = [(k, v) for k, v in request.query if k not in ("_count", "_offset", "_cursor")]

    def link(relation: str, extra: list[tuple[str, str]]) -> dict[str, str]:
        params = urlencode([*kept, ("_count", str(request.count)), *extra])
        return {"relation": relation, "url": f"{base}/{rtype}?{params}"}

    links = [link("self", [("_cursor", encode_cursor(request.cursor))] if request.cursor else
                  [("_offset", str(request.offset))] if request.offset else [])]
    if next_cursor is not None:
        links.append(link("next", [("_cursor", encode_cursor(next_cursor))]))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    entries = [{"fullUrl": f"{base}/{rid}", "resource": r, "search": {"mode": mode}}
               for mode, group in (("match", matches), ("include", included)) for rid, r in group]
    if request.ignored:
        entries.append({"resource": outcome_of(request.ignored), "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def subset(resource: dict[str, Any], elements: list[str]) -> dict[str, Any]:
    """Only the elements asked for (and id, meta), tagged SUBSETTED as FHIR asks of a partial resource."""
    kept = {k: v for k, v in resource.items() if k in ("resourceType", "id", "meta", *elements)}
    meta = dict(kept.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    kept["meta"] = meta
    return kept
