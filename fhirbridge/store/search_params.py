"""The search parameters the store supports, and how their values are taken from a resource and from a query.

Names and meanings follow the FHIR R4 search parameters of each resource type. Dates are indexed as the
range of instants they may stand for (``2019-03`` covers the whole month), so that the prefixes eq, ge, gt,
le and lt compare ranges as the FHIR search rules say, partial dates included.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["token", "reference", "date", "string"]


@dataclass(frozen=True)
class SearchParam:
    name: str
    kind: Kind
    elements: tuple[str, ...]  # top-level elements holding the value; choice types spelled out
    #: for a reference parameter, the resource types it may point to (None: any), e.g. ``patient`` is
    #: ``subject`` where the subject is a Patient
    targets: tuple[str, ...] | None = None
    #: the parameter whose search rows hold this one's values, when this one is that one's references to its one
    #: target type (``patient`` is ``subject`` to a Patient): they are not stored twice (migration 0008)
    within: str | None = None


@dataclass(frozen=True)
class IndexedValue:
    """One value of a parameter: a token (system, code), a reference (type, id), a string (as written, and
    normalised for matching) or a date range."""

    param: str
    system: str | None = None
    value: str | None = None
    low: str | None = None
    high: str | None = None


def _params(*params: SearchParam) -> dict[str, SearchParam]:
    return {p.name: p for p in params}


def _token(name: str, *elements: str) -> SearchParam:
    return SearchParam(name, "token", elements or (name,))


def _reference(name: str, *elements: str, targets: tuple[str, ...] | None = None) -> SearchParam:
    return SearchParam(name, "reference", elements or (name,), targets)


_IDENTIFIER = _token("identifier")
_SUBJECT = _reference("subject")
_PATIENT = SearchParam("patient", "reference", ("subject",), ("Patient",), within="subject")
_CODE = _token("code")
_STATUS = _token("status")

#: Search parameters per resource type, named and defined as in the FHIR R4 specification (``_id`` and
#: ``_lastUpdated`` are supported for every type and are read from the resource table, not this index).
PARAMS: dict[str, dict[str, SearchParam]] = {
    "Patient": _params(
        _IDENTIFIER,
        _token("gender"),
        SearchParam("birthdate", "date", ("birthDate",)),
        SearchParam("name", "string", ("name",)),
        _token("active"),
    ),
    "ResearchStudy": _params(
        _IDENTIFIER,
        _STATUS,
        SearchParam("title", "string", ("title",)),
        _token("location"),
        SearchParam("date", "date", ("period",)),
    ),
    "ResearchSubject": _params(
        _IDENTIFIER,
        _STATUS,
        SearchParam("patient", "reference", ("individual",), ("Patient",), within="individual"),
        _reference("individual", targets=("Patient",)),
        _reference("study", targets=("ResearchStudy",)),
        SearchParam("date", "date", ("period",)),
    ),
    "Condition": _params(
        _IDENTIFIER,
        _SUBJECT,
        _PATIENT,
        _CODE,
        _token("category"),
        _token("clinical-status", "clinicalStatus"),
        _token("verification-status", "verificationStatus"),
        _token("body-site", "bodySite"),
        SearchParam("onset-date", "date", ("onsetDateTime", "onsetPeriod")),
    ),
    "Observation": _params(
        _IDENTIFIER,
        _SUBJECT,
        _PATIENT,
        _CODE,
        _STATUS,
        _token("category"),
        _token("method"),
        _token("value-concept", "valueCodeableConcept"),
        _reference("performer"),
        _reference("has-member", "hasMember"),
        _reference("derived-from", "derivedFrom"),
        SearchParam("date", "date", ("effectiveDateTime", "effectivePeriod", "effectiveInstant")),
    ),
    "Procedure": _params(
        _IDENTIFIER,
        _SUBJECT,
        _PATIENT,
        _CODE,
        _STATUS,
        _token("category"),
        _reference("reason-reference", "reasonReference"),
        SearchParam("date", "date", ("performedDateTime", "performedPeriod")),
    ),
    "AdverseEvent": _params(
        _IDENTIFIER,
        _SUBJECT,
        _token("event"),
        _token("actuality"),
        _token("category"),
        _token("seriousness"),
        _token("severity"),
        _reference("study", targets=("ResearchStudy",)),
        SearchParam("date", "date", ("date",)),
    ),
    "BiologicallyDerivedProduct": _params(_IDENTIFIER),
    "Provenance": _params(_reference("target"), SearchParam("recorded", "date", ("recorded",))),
}

DATE_PREFIXES = ("eq", "ne", "ge", "gt", "le", "lt", "sa", "eb")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")
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
        return _shifted(low, offset), _shifted(high, offset)
    return low.isoformat(timespec="seconds"), high.isoformat(timespec="seconds")


def _shifted(instant: dt.datetime, offset: dt.timedelta) -> str:
    """The instant in UTC; one that falls outside the years 1-9999 (0001-01-01T00:00+01:00 is in year 0) is the
    first or last instant the store can hold."""
    try:
        return (instant - offset).isoformat(timespec="seconds")
    except OverflowError:
        return LOWEST if offset > dt.timedelta(0) else HIGHEST


#: One value of ``_values``: (param, system, value, low, high).
_Value = tuple[str, str | None, str | None, str | None, str | None]


def _add_tokens(name: str, value: Any, found: list[_Value]) -> None:
    """The codes of a CodeableConcept, Coding, Identifier, code or boolean (or a list of them) added to ``found``."""
    if isinstance(value, list):
        for item in value:
            _add_tokens(name, item, found)
    elif isinstance(value, dict):
        if "coding" in value:  # CodeableConcept
            _add_tokens(name, value["coding"], found)
        elif isinstance(code := value.get("code"), str):  # Coding
            found.append((name, value.get("system"), code, None, None))
        elif isinstance(ident := value.get("value"), str):  # Identifier
            found.append((name, value.get("system"), ident, None, None))
    elif isinstance(value, str):  # code
        found.append((name, None, value, None, None))
    elif isinstance(value, bool):  # boolean
        found.append((name, None, "true" if value else "false", None, None))


def _add_references(name: str, value: Any, targets: tuple[str, ...] | None, found: list[_Value]) -> None:
    """The (type, id) of each ``Type/id`` reference (or absolute URL ending so) whose type is among ``targets``."""
    if isinstance(value, list):
        for item in value:
            _add_references(name, item, targets, found)
    elif isinstance(value, dict) and isinstance(reference := value.get("reference"), str):
        rtype, _, rid = reference.rpartition("/")
        if rtype and rid:
            rtype = rtype.rpartition("/")[2]
            if targets is None or rtype in targets:
                found.append((name, rtype, rid, None, None))


def normalise(text: str) -> str:
    """A string as FHIR string search compares it: case and accents ignored."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, dict):  # HumanName, Address: every string part
        for part in ("text", "family", "given", "prefix", "suffix"):
            yield from _strings(value.get(part))


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


def sorted_date(rtype: str) -> str | None:
    """The date parameter whose sort keys the type's other rows carry (``date_low``, ``date_high``):
    its only one (every type has at most one)."""
    return _SORTED_DATE.get(rtype)


_SORTED_DATE = {
    rtype: dates[0]
    for rtype, params in PARAMS.items()
    if len(dates := [p.name for p in params.values() if p.kind == "date"]) == 1
}


#: The columns of ``fb_search_value`` in the order of the tuples of ``index_tuples``.
INDEX_COLUMNS = ("resource_type", "resource_id", "param", "system", "value", "low", "high", "date_low", "date_high")


def index_rows(rtype: str, rid: str, resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``fb_search_value`` for one resource: its ``index_values``, every row but the dates' with the
    sort keys of its date (earliest start, latest end; see ``sorted_date``), so that a search by a code sorted by
    date reads one index range in key order instead of walking every date and probing it for the code."""
    return [dict(zip(INDEX_COLUMNS, row, strict=True)) for row in index_tuples(rtype, rid, resource)]


def index_tuples(rtype: str, rid: str, resource: dict[str, Any]) -> list[tuple[str | None, ...]]:
    """``index_rows`` as tuples of ``INDEX_COLUMNS`` (what a COPY writes; no dict per row)."""
    values = _values(resource)
    date = _SORTED_DATE.get(rtype)
    keys: tuple[str | None, str | None] = (None, None)
    if date is not None:
        lows = [v[3] for v in values if v[0] == date and v[3] is not None]
        highs = [v[4] for v in values if v[0] == date and v[4] is not None]
        keys = (min(lows, default=None), max(highs, default=None))
    return [(rtype, rid, *v, *keys) if v[3] is None else (rtype, rid, *v, None, None) for v in values]


def index_values(resource: dict[str, Any]) -> list[IndexedValue]:
    """The values of every supported search parameter of one resource (those of a parameter ``within`` another
    are among the other's)."""
    return [IndexedValue(*v) for v in _values(resource)]


def stored_as(rtype: str, param: str) -> tuple[str, str | None]:
    """The parameter whose search rows hold the values of ``param``, and the type their references must name
    (None: any): ``param`` itself, or for one ``within`` another, that one and its target."""
    definition = PARAMS.get(rtype, {}).get(param)
    if definition is None or definition.within is None or definition.targets is None:
        return param, None
    [target] = definition.targets
    return definition.within, target


#: Per type, each (parameter, kind, element, targets) that ``_values`` reads, in the order of ``PARAMS``; a
#: parameter ``within`` another has no rows of its own.
_ELEMENTS = {
    rtype: tuple((p.name, p.kind, element, p.targets) for p in params.values() if p.within is None
                 for element in p.elements)
    for rtype, params in PARAMS.items()
}


def _values(resource: dict[str, Any]) -> list[_Value]:
    """``index_values`` as (param, system, value, low, high) tuples."""
    found: list[_Value] = []
    for name, kind, element, targets in _ELEMENTS.get(resource.get("resourceType", ""), ()):
        value = resource.get(element)
        if value is None:
            continue
        if kind == "token":
            _add_tokens(name, value, found)
        elif kind == "reference":
            _add_references(name, value, targets, found)
        elif kind == "string":
            found.extend((name, text, normalise(text), None, None) for text in _strings(value))
        else:
            found.extend((name, None, None, lo, hi) for lo, hi in _dates(value))
    return found
