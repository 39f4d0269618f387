"""FHIRPath invariants of the specification: compiled to Python where they run on most resources, evaluated
with fhirpathpy (the R4 or R5 model) everywhere else.

An invariant fails when it evaluates to ``false``; an empty result is not a failure (the value it speaks of
is absent or not comparable). The compiled functions are proven equal to fhirpathpy on generated nodes in
``tests/test_validate_invariants.py``. Invariants that hold trivially when an element is absent are only
handed to fhirpathpy when that element is there (``GATES``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

Node = dict[str, Any]
#: (node, %resource, %rootResource) → True unless the invariant is violated
Check = Callable[[Node, Node, Node], bool]

def _has_value(inputs: list[Any]) -> list[bool]:
    """FHIRPath ``hasValue()``, which fhirpathpy lacks: one primitive that carries a value."""
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)]


def _quiet(label: str, value: Any) -> None:
    """trace() in the specification's expressions (ref-1, dom-3) would otherwise print to standard output."""


_OPTIONS = {"userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}}, "traceFn": _quiet}


class NotEvaluable(Exception):
    """fhirpathpy cannot evaluate this invariant on this node (an unsupported function, a type clash)."""


@cache
def fhirpath(base: str, expression: str, release: str = "R4") -> Check:
    """An invariant evaluated by fhirpathpy on a node of type (or backbone path) ``base`` of ``release``.

    fhirpathpy (and its ANTLR parser) is imported here, on first use: every invariant of the resources
    fhirbridge writes is compiled, so a conversion never needs it and does not pay for its import."""
    from fhirpathpy import apply_parsed_path
    from fhirpathpy.engine.nodes import ResourceNode
    from fhirpathpy.models import models
    from fhirpathpy.parser import parse

    parsed = parse(expression)
    model = models[release.lower()]

    def check(node: Node, resource: Node, root: Node) -> bool:
        try:
            result = apply_parsed_path(ResourceNode.create_node(node, base), parsed,
                                       {"resource": resource, "rootResource": root}, model, _OPTIONS)
        except Exception as exc:  # fhirpathpy raises bare Exceptions for unsupported functions and type clashes
            raise NotEvaluable(str(exc)) from exc
        return result != [False]

    return check


# --- compiled invariants ------------------------------------------------------------------------------------

def _present(node: Node, name: str) -> bool:
    return name in node or f"_{name}" in node


def _value_present(node: Node) -> bool:
    return any(k.startswith(("value", "_value")) and k not in ("valueSet",) for k in node)


def _ext_1(node: Node, resource: Node, root: Node) -> bool:
    """extension.exists() != value.exists()"""
    return bool(node.get("extension")) != _value_present(node)


def _ref_1(node: Node, resource: Node, root: Node) -> bool:
    """reference.startsWith('#').not() or (reference.substring(1) in %rootResource.contained.id)"""
    reference = node.get("reference")
    if not isinstance(reference, str) or not reference.startswith("#") or reference == "#":
        return True  # "#".substring(1) is empty (start past the end), so the comparison is empty, not false
    return reference[1:] in {c.get("id") for c in root.get("contained", ()) if isinstance(c, dict)}


def _moment(value: str) -> tuple[tuple[int, ...], int]:
    """A FHIR date/dateTime as comparable parts and its precision (1 year … 6 seconds)."""
    if "T" in value:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(dt.UTC)
        parts = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second, stamp.microsecond)
        return parts, 7
    pieces = tuple(int(p) for p in value.split("-"))
    return pieces, len(pieces)


def _per_1(node: Node, resource: Node, root: Node) -> bool:
    """start.hasValue().not() or end.hasValue().not() or (start <= end)"""
    start, end = node.get("start"), node.get("end")
    if not isinstance(start, str) or not isinstance(end, str):
        return True
    (a, pa), (b, pb) = _moment(start), _moment(end)
    common = min(pa, pb)
    return a[:common] <= b[:common]


def _qty_3(node: Node, resource: Node, root: Node) -> bool:
    """code.empty() or system.exists()"""
    return not _present(node, "code") or _present(node, "system")


def _obs_6(node: Node, resource: Node, root: Node) -> bool:
    """dataAbsentReason.empty() or value.empty()"""
    return "dataAbsentReason" not in node or not _value_present(node)


def _obs_7(node: Node, resource: Node, root: Node) -> bool:
    """value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()"""
    if not _value_present(node):
        return True
    own = resource.get("code", {}).get("coding", []) if isinstance(resource.get("code"), dict) else []
    for component in node.get("component", ()):
        code = component.get("code") if isinstance(component, dict) else None
        if isinstance(code, dict) and any(c in own for c in code.get("coding", ())):
            return False
    return True


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _dom_3(node: Node, resource: Node, root: Node) -> bool:
    """Every contained resource is referred to from elsewhere in the resource ('#' + id), or refers to its
    container ('#'). fhirpathpy 2.2 cannot evaluate the specification's expression (its ``as`` wants a
    singleton), so this one is compiled from the constraint's text and tested on hand-made cases."""
    contained = [c for c in node.get("contained", ()) if isinstance(c, dict)]
    if not contained:
        return True
    outside = {k: v for k, v in node.items() if k != "contained"}
    pointers = set(_strings(outside))
    for c in contained:
        pointers.update(s for s in _strings(c) if s != c.get("id"))
    return all(f"#{c.get('id')}" in pointers or "#" in set(_strings(c)) for c in contained)


_VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _con_5(node: Node, resource: Node, root: Node) -> bool:
    """verificationStatus.coding.where(system=ver-status and code='entered-in-error').empty() or
    clinicalStatus.empty()"""
    status = node.get("verificationStatus")
    codings = status.get("coding", ()) if isinstance(status, dict) else ()
    erroneous = any(c.get("system") == _VER_STATUS and c.get("code") == "entered-in-error" for c in codings)
    return not erroneous or "clinicalStatus" not in node


_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _con_4(node: Node, resource: Node, root: Node) -> bool:
    """abatement.empty() or clinicalStatus.coding.where(system=condition-clinical and
    (code='resolved' or code='remission' or code='inactive')).exists()"""
    if not any(k.startswith(("abatement", "_abatement")) for k in node):
        return True
    status = node.get("clinicalStatus")
    codings = status.get("coding", ()) if isinstance(status, dict) else ()
    return any(c.get("system") == _CLINICAL and c.get("code") in ("resolved", "remission", "inactive")
               for c in codings)


def _age_1(node: Node, resource: Node, root: Node) -> bool:
    """(code.exists() or value.empty()) and (system.empty() or system = %ucum) and
    (value.empty() or value.hasValue().not() or value > 0)"""
    value = node.get("value")
    if not _present(node, "code") and _present(node, "value"):
        return False
    if "system" in node and node["system"] != "http://unitsofmeasure.org":
        return False
    return not isinstance(value, int | float) or value > 0


def _entries(bundle: Node) -> list[Node]:
    entries = bundle.get("entry")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _bdl_1(node: Node, resource: Node, root: Node) -> bool:
    """total.empty() or (type = 'searchset') or (type = 'history')"""
    return not _present(node, "total") or node.get("type") in ("searchset", "history")


def _bdl_2(node: Node, resource: Node, root: Node) -> bool:
    """entry.search.empty() or (type = 'searchset')"""
    return node.get("type") == "searchset" or not any("search" in e for e in _entries(node))


def _bdl_4(node: Node, resource: Node, root: Node) -> bool:
    """entry.all(response.exists() = (%resource.type = 'batch-response' or ... 'transaction-response' or
    ... 'history'))"""
    responding = node.get("type") in ("batch-response", "transaction-response", "history")
    return all(("response" in e) == responding for e in _entries(node))


def _document(node: Node, check: Callable[[], bool]) -> bool:
    return node.get("type") != "document" or check()


def _bdl_9(node: Node, resource: Node, root: Node) -> bool:
    """type = 'document' implies (identifier.system.exists() and identifier.value.exists())"""
    ident = node.get("identifier") if isinstance(node.get("identifier"), dict) else {}
    return _document(node, lambda: _present(ident, "system") and _present(ident, "value"))


def _bdl_10(node: Node, resource: Node, root: Node) -> bool:
    """type = 'document' implies (timestamp.hasValue())"""
    return _document(node, lambda: node.get("timestamp") is not None)


def _first_resource_is(node: Node, kind: str) -> bool:
    """entry.first().resource.is(kind); no first resource is an empty result, which does not fail."""
    entries = node.get("entry")
    first = entries[0] if isinstance(entries, list) and entries and isinstance(entries[0], dict) else {}
    resource = first.get("resource")
    return not isinstance(resource, dict) or resource.get("resourceType") == kind


def _bdl_11(node: Node, resource: Node, root: Node) -> bool:
    """type = 'document' implies entry.first().resource.is(Composition)"""
    return _document(node, lambda: _first_resource_is(node, "Composition"))


def _bdl_12(node: Node, resource: Node, root: Node) -> bool:
    """type = 'message' implies entry.first().resource.is(MessageHeader)"""
    return node.get("type") != "message" or _first_resource_is(node, "MessageHeader")


def _bdl_5(node: Node, resource: Node, root: Node) -> bool:
    """resource.exists() or request.exists() or response.exists()"""
    return any(k in node for k in ("resource", "request", "response"))


def _bdl_8(node: Node, resource: Node, root: Node) -> bool:
    """fullUrl.exists() implies fullUrl.contains('/_history/').not()"""
    full_url = node.get("fullUrl")
    return not isinstance(full_url, str) or "/_history/" not in full_url


COMPILED: dict[str, Check] = {
    "ext-1": _ext_1,
    "ref-1": _ref_1,
    "per-1": _per_1,
    "qty-3": _qty_3,
    "obs-6": _obs_6,
    "obs-7": _obs_7,
    "con-4": _con_4,
    "con-5": _con_5,
    "age-1": _age_1,
    "dom-3": _dom_3,
    "bdl-1": _bdl_1,
    "bdl-2": _bdl_2,
    "bdl-4": _bdl_4,
    "bdl-5": _bdl_5,
    "bdl-8": _bdl_8,
    "bdl-9": _bdl_9,
    "bdl-10": _bdl_10,
    "bdl-11": _bdl_11,
    "bdl-12": _bdl_12,
}

def _cod_1(node: Node, resource: Node, root: Node) -> bool:
    """code.exists().not() implies display.exists().not() (R5)"""
    return _present(node, "code") or not _present(node, "display")


def _ident_1(node: Node, resource: Node, root: Node) -> bool:
    """value.exists() (R5)"""
    return _present(node, "value")


def _ref_2(node: Node, resource: Node, root: Node) -> bool:
    """reference.exists() or identifier.exists() or display.exists() or extension.exists() (R5)"""
    return _present(node, "reference") or "identifier" in node or _present(node, "display") or "extension" in node


def _obs_8(node: Node, resource: Node, root: Node) -> bool:
    """bodySite.exists() implies bodyStructure.empty() (R5)"""
    return "bodySite" not in node or "bodyStructure" not in node


_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


def _con_2_r5(node: Node, resource: Node, root: Node) -> bool:
    """category.coding.where(system=condition-category and code='problem-list-item').exists() implies
    clinicalStatus.coding.where(system=condition-clinical and code='unknown').exists().not() (R5)"""
    categories = node.get("category") if isinstance(node.get("category"), list) else ()
    problem = any(isinstance(c, dict) and isinstance(c.get("coding"), list) and any(
        isinstance(x, dict) and x.get("system") == _CATEGORY and x.get("code") == "problem-list-item"
        for x in c["coding"]) for c in categories)
    status = node.get("clinicalStatus")
    codings = status.get("coding", ()) if isinstance(status, dict) else ()
    return not problem or not any(isinstance(c, dict) and c.get("system") == _CLINICAL and c.get("code") == "unknown"
                                  for c in codings)


#: The compiled invariants of each release's definitions. A key can name another invariant in another release
#: (R5's con-3 is R4's con-4; R4's con-2 and con-3 are others, not compiled). The R5 expressions of ref-1,
#: per-1, dom-3 and bdl-2 are written differently from R4's but mean the same (per-1: comparing the low boundary
#: of the start with the high boundary of the end is comparing both at their common precision), which
#: ``tests/test_fhir_checker_r5.py`` pins.
COMPILED_OF: dict[str, dict[str, Check]] = {
    "R4": COMPILED,
    "R5": {**COMPILED, "con-2": _con_2_r5, "con-3": _con_4, "cod-1": _cod_1, "ident-1": _ident_1, "ref-2": _ref_2,
           "obs-8": _obs_8},
}

#: Invariants that hold whenever none of these properties is present; fhirpathpy runs only otherwise.
GATES: dict[str, tuple[str, ...]] = {
    "dom-2": ("contained",),
    "dom-4": ("contained",),
    "dom-5": ("contained",),
    # R5: "... onBehalfOf ... implies ...", true without onBehalfOf (fhirpathpy cannot resolve() otherwise)
    "prc-1": ("onBehalfOf",),
    "prov-1": ("onBehalfOf",),
    "prov-2": ("onBehalfOf",),
    "prov-3": ("onBehalfOf",),
}

#: Bundle invariants checked, entry by entry, by the bundle integrity layer under codes of their own.
BY_BUNDLE_LAYER = frozenset({"bdl-3", "bdl-7"})
