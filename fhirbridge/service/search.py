"""Search requests: the query string → a checked ``SearchRequest``, every limit and syntax rule applied before
any query runs.

FHIR rules: repeated parameters are AND-ed, comma-separated values OR-ed (``\\,`` is a literal comma). A
parameter, modifier or result parameter the service does not support is refused (400, not-supported), or
ignored and reported in the Bundle under ``Prefer: handling=lenient``.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from fhirbridge.issues.issue import Issue
from fhirbridge.service.responses import ServiceError
from fhirbridge.service.search_limits import SearchLimits
from fhirbridge.store.search_params import DATE_PREFIXES, PARAMS, BadSearchValue, date_range
from fhirbridge.store.search_query import ID, LAST_UPDATED, Criterion, Sort, kind_of

#: Parameters that shape the result rather than select resources.
RESULT_PARAMS = ("_count", "_offset", "_cursor", "_format", "_sort", "_total", "_summary", "_elements",
                 "_include", "_revinclude", "_pretty")
#: Modifiers by parameter kind (``missing`` applies to all; a reference also takes a resource type).
MODIFIERS = {"token": {"not"}, "string": {"exact", "contains"}, "reference": set(), "date": set(), "id": set()}
_PREFIXED = re.compile(r"^([a-z]{2})(\d.*)$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ELEMENT = re.compile(r"^[a-z][A-Za-z0-9]{0,63}$")
_COMMA = re.compile(r"(?<!\\),")


@dataclass
class SearchRequest:
    """A search as checked: what selects resources, and how the result is to be shaped."""

    criteria: list[Criterion] = field(default_factory=list)
    count: int = 50
    offset: int = 0
    cursor: tuple[str, str] | None = None
    sort: Sort | None = None
    #: counting every match costs more than finding a page of them, so the total is given only when asked for
    #: (``_total=accurate`` or ``estimate``, ``_summary=count``); FHIR leaves the default to the server
    with_total: bool = False
    summary_count: bool = False
    elements: list[str] | None = None
    include: list[tuple[str, str | None]] = field(default_factory=list)
    revinclude: list[tuple[str, str]] = field(default_factory=list)
    #: the parameters as read (NUL-free, UTF-8), for the links
    query: list[tuple[str, str]] = field(default_factory=list)
    #: issues about parameters ignored under ``Prefer: handling=lenient``
    ignored: list[Issue] = field(default_factory=list)


def bad(param: str | None, message: str, value: str | None = None) -> ServiceError:
    return ServiceError(400, Issue.of("FB-SRV-011", message, target=param, value=value))


def not_supported(param: str | None, message: str) -> ServiceError:
    return ServiceError(400, Issue.of("FB-REST-001", message, target=param))


def query_pairs(raw: bytes, limits: SearchLimits) -> list[tuple[str, str]]:
    """The parameters of a query string: percent-encoding must give UTF-8 and no NUL character."""
    if len(raw) > limits.max_query_bytes:
        raise bad(None, f"the query string is longer than {limits.max_query_bytes} bytes")
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeError:
        raise bad(None, "the query string is not UTF-8 once percent-decoded") from None
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise bad(name.replace("\x00", ""), "the query holds a NUL character")
    return pairs


def supported_type(rtype: str) -> None:
    if rtype not in PARAMS:
        raise not_supported(None, f"resource type {rtype} is not supported; supported: {', '.join(sorted(PARAMS))}")


def parse_search(rtype: str, pairs: list[tuple[str, str]], limits: SearchLimits, default_count: int,
                 max_count: int, lenient: bool = False) -> SearchRequest:
    """Every parameter checked (limits, syntax, support) and turned into criteria and result options."""
    supported_type(rtype)
    repeats = Counter(name for name, _ in pairs)
    name, most = repeats.most_common(1)[0] if repeats else ("", 0)
    if most > limits.max_repeats:
        raise bad(name, f"{name} is repeated {most} times; at most {limits.max_repeats} are allowed")
    request = SearchRequest(count=min(default_count, max_count), query=pairs)
    values = 0
    for name, raw in pairs:
        if len(raw) > limits.max_value_length * limits.max_values:
            raise bad(name, f"the value of {name} is too long")
        parts = [p.replace("\\,", ",") for p in _COMMA.split(raw)]
        values += len(parts)
        if values > limits.max_values:
            raise bad(name, f"the search has more than {limits.max_values} values in all")
        if any(len(p) > limits.max_value_length for p in parts):
            raise bad(name, f"a value of {name} is longer than {limits.max_value_length} characters")
        try:
            if name in RESULT_PARAMS:
                _result_param(rtype, name, raw, parts, request, limits, max_count)
            else:
                request.criteria.append(criterion(rtype, name, parts))
        except ServiceError as exc:
            if not (lenient and exc.issues[0].code == "FB-REST-001"):
                raise
            request.ignored.append(Issue.of("FB-REST-006", f"ignored: {exc.issues[0].message}", target=name))
    if request.count == 0 and "_total" not in repeats:  # a page of nothing asks for how many there are
        request.with_total = True
    return request


def filter_criteria(rtype: str, query: str, limits: SearchLimits) -> list[Criterion]:
    """The criteria of a search given as a query string (a bulk export's ``_typeFilter``): selecting parameters
    only, since the export, not the filter, shapes the result."""
    pairs = parse_qsl(query, keep_blank_values=True)
    shaping = sorted({name for name, _ in pairs if name in RESULT_PARAMS})
    if shaping:
        raise bad("_typeFilter", f"_typeFilter takes search parameters only, not {', '.join(shaping)}")
    return parse_search(rtype, pairs, limits, 1, 1).criteria


def criterion(rtype: str, name: str, parts: list[str]) -> Criterion:
    """One selecting parameter: ``name[:modifier]`` or a chain ``name[:Type].param``."""
    base, _, modifier = name.partition(":")
    if "." in base or "." in modifier:
        return _chained(rtype, name, parts)
    supported = PARAMS[rtype]
    if base not in supported and base not in (ID, LAST_UPDATED):
        raise not_supported(name, f"{rtype} cannot be searched by {base!r}; supported: "
                                  f"{', '.join([ID, LAST_UPDATED, *supported])}")
    kind = kind_of(rtype, base)
    if not parts or any(p == "" for p in parts):
        raise bad(name, f"{name} has an empty value", ",".join(parts))
    if modifier == "missing":
        if any(p not in ("true", "false") for p in parts):
            raise bad(name, f"{name} takes true or false", ",".join(parts))
        return Criterion(base, tuple(p == "true" for p in parts), "missing")
    target = None
    if modifier and kind == "reference" and _TYPE.match(modifier):
        target, modifier = modifier, ""
    if modifier and modifier not in MODIFIERS[kind]:
        raise not_supported(name, f"modifier :{modifier} is not supported on {base} ({kind})")
    try:
        values = tuple(_value(kind, p, target) for p in parts)
    except BadSearchValue as exc:
        raise bad(name, str(exc), ",".join(parts)) from None
    return Criterion(base, values, modifier or None)


def _chained(rtype: str, name: str, parts: list[str]) -> Criterion:
    """``subject:Patient.identifier=system|value``: the reference parameter's targets that meet the chained one."""
    head, _, tail = name.partition(".")
    base, _, target = head.partition(":")
    param = PARAMS[rtype].get(base)
    if param is None or param.kind != "reference":
        raise not_supported(name, f"{rtype}.{base} is not a reference parameter to chain from")
    targets = (target,) if target else param.targets
    if not targets or len(targets) != 1:
        raise bad(name, f"say which type {base} points to: {base}:Type.{tail}")
    chained_type = targets[0]
    if chained_type not in PARAMS or "." in tail or ":" in tail:
        raise not_supported(name, "only one level of chaining, to a supported type, without modifiers, is supported")
    inner = criterion(chained_type, tail, parts)
    return Criterion(base, inner.values, None, (chained_type, inner.param))


def _value(kind: str, text: str, target: str | None = None) -> Any:
    if kind == "id":
        if not _ID.match(text):
            raise BadSearchValue(f"not a resource id: {text!r}")
        return text
    if kind == "string":
        return text
    if kind == "date":
        match = _PREFIXED.match(text)
        prefix, date = (match.group(1), match.group(2)) if match else ("eq", text)
        if prefix not in DATE_PREFIXES:
            raise BadSearchValue(f"date prefix {prefix!r} is not supported; use one of {', '.join(DATE_PREFIXES)}")
        return prefix, date_range(date)
    if kind == "reference":
        rtype, _, rid = text.rstrip("/").rpartition("/")
        rtype = rtype.rpartition("/")[2] or target
        if not _ID.match(rid) or (rtype is not None and not _TYPE.match(rtype)):
            raise BadSearchValue(f"not a reference (Type/id or id): {text!r}")
        return rtype, rid
    if "|" in text:  # token: system|code, |code (no system) or system| (any code of the system)
        system, _, code = text.partition("|")
        if not system and not code:
            raise BadSearchValue("a token needs a code, a system or both: code, system|code, |code or system|")
        return (system if system else None), (code or None)
    return None, text


def _result_param(rtype: str, name: str, raw: str, parts: list[str], request: SearchRequest, limits: SearchLimits,
                  max_count: int) -> None:
    if name == "_count":
        request.count = min(_whole(name, raw, max_count * 1000), max_count)
    elif name == "_offset":
        request.offset = _whole(name, raw, limits.max_offset)
    elif name == "_cursor":
        request.cursor = _cursor(raw)
    elif name == "_sort":
        request.sort = _sort(rtype, parts)
    elif name == "_total":
        if raw not in ("none", "estimate", "accurate"):
            raise bad(name, "_total takes none, estimate or accurate", raw)
        request.with_total = raw != "none"
    elif name == "_summary":
        if raw not in ("count", "false"):
            raise not_supported(name, f"_summary={raw} is not supported; use count or false")
        request.summary_count = raw == "count"
    elif name == "_elements":
        if not all(_ELEMENT.match(p) for p in parts):
            raise bad(name, "_elements takes element names separated by commas", raw)
        request.elements = parts
    elif name == "_include":
        param, target = _reference_param(rtype, name, raw, own=True)
        request.include.append((param, target))
    elif name == "_revinclude":
        other, param = _revinclude(name, raw)
        request.revinclude.append((other, param))


def _whole(name: str, raw: str, maximum: int) -> int:
    if not raw.isdigit() or len(raw) > 12 or int(raw) > maximum:
        raise bad(name, f"{name} must be a whole number from 0 to {maximum}", raw)
    return int(raw)


def _sort(rtype: str, parts: list[str]) -> Sort:
    if len(parts) != 1:
        raise not_supported("_sort", "sorting by more than one parameter is not supported")
    descending = parts[0].startswith("-")
    param = parts[0].removeprefix("-")
    if param not in PARAMS[rtype] and param not in (ID, LAST_UPDATED):
        raise not_supported("_sort", f"{rtype} cannot be sorted by {param!r}")
    return Sort(param, descending)


def _reference_param(rtype: str, name: str, raw: str, own: bool) -> tuple[str, str | None]:
    """``Type:param[:target]`` of ``_include``: Type is the searched type, param one of its reference parameters."""
    source, _, rest = raw.partition(":")
    param, _, target = rest.partition(":")
    if source != rtype if own else source not in PARAMS:
        raise not_supported(name, f"{name}={raw}: only {rtype}:parameter is supported")
    definition = PARAMS[source].get(param)
    if definition is None or definition.kind != "reference":
        raise not_supported(name, f"{name}={raw}: {source} has no reference parameter {param!r}")
    if target and not _TYPE.match(target):
        raise bad(name, f"{name}={raw}: {target!r} is not a resource type", raw)
    return param, target or None


def _revinclude(name: str, raw: str) -> tuple[str, str]:
    other = raw.partition(":")[0]
    if other not in PARAMS:
        raise not_supported(name, f"{name}={raw}: {other!r} is not a supported resource type")
    param, _ = _reference_param(other, name, raw, own=False)
    return other, param


def encode_cursor(cursor: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(cursor))).decode().rstrip("=")


def _cursor(raw: str) -> tuple[str, str]:
    try:
        key, rid = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError):
        raise bad("_cursor", "not a cursor this service gave", raw) from None
    if not isinstance(key, str) or not isinstance(rid, str) or not _ID.match(rid):
        raise bad("_cursor", "not a cursor this service gave", raw)
    return key, rid
