"""The search parameters the store supports, and how their values are taken from a resource and from a query.

Names and meanings follow the FHIR R4 search parameters of each resource type. Dates are indexed as the
range of instants they may stand for (``2019-03`` covers the whole month), so that the prefixes eq, ge, gt,
le and lt compare ranges as the FHIR search rules say, partial dates included.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["token", "reference", "date"]


@dataclass(frozen=True)
class SearchParam:
    name: str
    kind: Kind
    elements: tuple[str, ...]  # top-level elements holding the value; choice types spelled out


@dataclass(frozen=True)
class IndexedValue:
    param: str
    system: str | None = None
    value: str | None = None
    low: str | None = None
    high: str | None = None


def _params(*params: SearchParam) -> dict[str, SearchParam]:
    return {p.name: p for p in params}


_IDENTIFIER = SearchParam("identifier", "token", ("identifier",))
_SUBJECT = SearchParam("subject", "reference", ("subject",))
_CODE = SearchParam("code", "token", ("code",))

#: Search parameters per resource type (``_id`` is supported for every type and needs no index).
PARAMS: dict[str, dict[str, SearchParam]] = {
    "Patient": _params(_IDENTIFIER),
    "ResearchStudy": _params(_IDENTIFIER),
    "ResearchSubject": _params(_IDENTIFIER, SearchParam("patient", "reference", ("individual",)),
                               SearchParam("study", "reference", ("study",))),
    "Condition": _params(_SUBJECT, _CODE, SearchParam("onset-date", "date", ("onsetDateTime", "onsetPeriod"))),
    "Observation": _params(_IDENTIFIER, _SUBJECT, _CODE,
                           SearchParam("date", "date", ("effectiveDateTime", "effectivePeriod", "effectiveInstant"))),
    "Procedure": _params(_IDENTIFIER, _SUBJECT, _CODE,
                         SearchParam("date", "date", ("performedDateTime", "performedPeriod"))),
    "AdverseEvent": _params(_IDENTIFIER, _SUBJECT, SearchParam("event", "token", ("event",)),
                            SearchParam("date", "date", ("date",))),
    "BiologicallyDerivedProduct": _params(_IDENTIFIER),
    "Provenance": _params(SearchParam("target", "reference", ("target",))),
}

DATE_PREFIXES = ("eq", "ge", "gt", "le", "lt")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_STAMP = "%Y-%m-%dT%H:%M:%S"
LOWEST = "0001-01-01T00:00:00"
HIGHEST = "9999-12-31T23:59:59"


class BadSearchValue(ValueError):
    """A query value that does not have the syntax of its parameter's type."""


def date_range(text: str) -> tuple[str, str]:
    """The first and last second (UTC, ``YYYY-MM-DDTHH:MM:SS``) that a FHIR date or dateTime may stand for.

    Values without an offset are taken as UTC: the store does not know the local time zone of the source.
    """
    match = _DATE.match(text.strip())
    if not match:
        raise BadSearchValue(f"not a FHIR date or dateTime: {text!r}")
    year, month, day, hour, minute, second, _fraction, zone = match.groups()
    try:
        y, m = int(year), int(month or 1)
        if day is None:
            last_day = calendar.monthrange(y, m)[1] if month else 31
            low = dt.datetime(y, m, 1)
            high = dt.datetime(y, int(month or 12), last_day, 23, 59, 59)
        elif hour is None:
            low = dt.datetime(y, m, int(day))
            high = low.replace(hour=23, minute=59, second=59)
        else:
            low = dt.datetime(y, m, int(day), int(hour), int(minute), int(second or 0))
            high = low if second is not None else low.replace(second=59)
    except ValueError as exc:
        raise BadSearchValue(f"not a calendar date: {text!r}") from exc
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) * sign
        low, high = low - offset, high - offset
    return low.strftime(_STAMP), high.strftime(_STAMP)


def _tokens(value: Any) -> Iterator[tuple[str | None, str]]:
    if isinstance(value, list):
        for item in value:
            yield from _tokens(item)
    elif isinstance(value, dict):
        if "coding" in value:  # CodeableConcept
            yield from _tokens(value["coding"])
        elif isinstance(value.get("code"), str):  # Coding
            yield value.get("system"), value["code"]
        elif isinstance(value.get("value"), str):  # Identifier
            yield value.get("system"), value["value"]
    elif isinstance(value, str):  # code
        yield None, value


def _references(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, dict) and isinstance(value.get("reference"), str):
        rtype, _, rid = value["reference"].rpartition("/")
        if rtype and rid:
            yield rtype.rpartition("/")[2], rid


def _dates(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        try:
            yield date_range(value)
        except BadSearchValue:
            return
    elif isinstance(value, dict):  # Period
        try:
            start = date_range(value["start"])[0] if "start" in value else LOWEST
            end = date_range(value["end"])[1] if "end" in value else HIGHEST
        except (BadSearchValue, TypeError):
            return
        yield start, end


def index_values(resource: dict[str, Any]) -> list[IndexedValue]:
    """The values of every supported search parameter of one resource."""
    found: list[IndexedValue] = []
    for param in PARAMS.get(resource.get("resourceType", ""), {}).values():
        for element in param.elements:
            value = resource.get(element)
            if value is None:
                continue
            if param.kind == "token":
                found.extend(IndexedValue(param.name, system=s, value=v) for s, v in _tokens(value))
            elif param.kind == "reference":
                found.extend(IndexedValue(param.name, system=t, value=i) for t, i in _references(value))
            else:
                found.extend(IndexedValue(param.name, low=lo, high=hi) for lo, hi in _dates(value))
    return found
