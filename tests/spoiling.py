"""Spoiling the resources fhirbridge writes one way at a time, at one node, for the checker's oracle tests: a
required element dropped, an unknown element added, a value of the wrong JSON type, an impossible date, an array
where one value goes, one value where an array goes, more values than an element allows."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from fhirbridge.formats.fhir.checker.definitions import load
from fhirbridge.formats.fhir.checker.resources import ResourceChecker
from fhirbridge.formats.fhir.checker.screen import Context, passes
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.issues.issue import Severity

#: the codes of the checker's structure and value rules, which the oracle checks too
STRUCTURE = ("FB-FHIR-010", "FB-FHIR-011", "FB-FHIR-012", "FB-FHIR-013", "FB-FHIR-014", "FB-FHIR-015",
             "FB-FHIR-016")


@cache
def checker(release: str = "R4") -> ResourceChecker:
    return ResourceChecker(release)


def checker_errors(resource: Any, release: str = "R4") -> list[Any]:
    issues = checker(release).check(resource, str(resource.get("resourceType")))
    return [i for i in issues if i.severity >= Severity.ERROR]


def screen_passes(resource: dict[str, Any], release: str = "R4") -> bool:
    """The verdict of the screen of the resource's type (it names a type: spoiling never touches resourceType)."""
    return passes(checker(release).walker.screen(resource["resourceType"]), resource, Context())


def assert_agrees_with_the_oracle(resource: dict[str, Any], how: str, pick: int, release: str = "R4") -> None:
    """Spoil ``resource`` (``how``, at node ``pick``): the checker finds a structural error exactly when the
    fhir.resources models of ``release`` do, at the node spoiled, and its screen passes exactly what it passes."""
    spoiled, where = spoil(resource, how, pick, release)
    errors = checker_errors(spoiled, release)
    oracle = structure_errors(spoiled, release)
    structural = [e for e in errors if e.code in STRUCTURE]
    assert bool(structural) == bool(oracle), (how, where, errors, oracle)
    if where is not None:
        assert any(e.target is not None and e.target.startswith(where) for e in errors), (where, errors)
    if how == "none":  # what fhirbridge writes: no structural error (an invariant may fail on odd records)
        assert structural == [] and oracle == [], (structural, oracle)
    assert screen_passes(spoiled, release) == (errors == []), (how, where, errors)


def nodes(node: Any, path: str, type_name: str, release: str = "R4") -> list[tuple[dict[str, Any], str, str]]:
    """Every object of a resource with its FHIRPath and its node model name, resource first."""
    models = load(release).models
    found = [(node, path, type_name)]
    model = models.get(type_name)
    if model is None:
        return found
    for key, value in node.items():
        slot = model.slots.get(key)
        if slot is None or slot.primitive or slot.model in (None, "Resource"):
            continue
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, dict):
                where = f"{path}.{key}[{i}]" if isinstance(value, list) else f"{path}.{key}"
                found.extend(nodes(item, where, slot.model, release))
    return found


#: which elements each spoiling applies to, by their slot and value
SPOILABLE = {
    "drop-required": lambda slot, value: slot.min > 0 and not slot.choice,
    "wrong-type": lambda slot, value: slot.primitive and isinstance(value, str),
    "bad-date": lambda slot, value: slot.type in ("date", "dateTime") and not slot.many,
    "array-for-one": lambda slot, value: not slot.many and not slot.primitive,
    "one-for-array": lambda slot, value: slot.many and not slot.primitive,
    "bad-cardinality": lambda slot, value: slot.many and slot.max is not None,
}


def spoil(resource: dict[str, Any], how: str, pick: int, release: str = "R4") -> tuple[dict[str, Any], str | None]:
    """A copy of ``resource`` spoiled one way at one node (the ``pick``-th that allows it), and the FHIRPath of
    the spoiled element (None when nothing could be spoiled so)."""
    spoiled = copy.deepcopy(resource)
    models = load(release).models
    candidates = []
    for node, path, type_name in nodes(spoiled, str(spoiled["resourceType"]), str(spoiled["resourceType"]), release):
        for key, slot in models[type_name].slots.items() if type_name in models else ():
            if key in node and SPOILABLE.get(how, lambda slot, value: False)(slot, node[key]):
                candidates.append((node, path, key, slot))
        if how == "unknown-element":
            candidates.append((node, path, "spoiltElement", None))
    if how == "none" or not candidates:
        return spoiled, None
    node, path, key, slot = candidates[pick % len(candidates)]
    if how == "drop-required":
        del node[key]
    elif how == "unknown-element":
        node[key] = "x"
    elif how == "wrong-type":
        node[key] = {"value": 12345}  # an object for a primitive (the oracle turns a number into a date)
    elif how == "bad-date":
        node[key] = "2019-02-30"
    elif how == "array-for-one":
        node[key] = [node[key]]
    elif how == "one-for-array":
        node[key] = node[key][0]
    elif how == "bad-cardinality":
        node[key] = node[key] * (slot.max + 1)
    return spoiled, f"{path}.{key}"
