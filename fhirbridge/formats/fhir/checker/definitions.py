"""The FHIR definitions of a release compiled, once, into per-type lookup tables the structure walker uses.

The data (``r4-definitions.json``, ``r5-definitions.json``) is extracted from the specification by
``generate_definitions``; here it becomes one ``NodeModel`` per datatype, resource and backbone element: JSON
property name → ``Slot`` (cardinality, type, required codes, reference targets, invariants), so that checking
a node is a few dictionary look-ups. Each release is compiled when first asked for: R4 work never pays for R5.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

import orjson

#: Complex types whose instances are not datatypes of their own: their children are defined at their path.
_BACKBONE = {"BackboneElement", "Element"}
#: The longest string value accepted (the specification's advice for strings without a stated limit).
STRING_LIKE_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Constraint:
    """A FHIRPath invariant of the specification."""

    ident: str
    key: str
    severity: str
    human: str
    expression: str
    best_practice: bool = False


@dataclass
class Slot:
    """One JSON property of a node: ``valueQuantity`` is the slot of ``value[x]`` typed Quantity."""

    element: str  # the element name as the specification writes it (value[x])
    key: str  # the JSON property name
    min: int
    many: bool
    max: int | None  # None: unbounded
    type: str
    primitive: bool
    choice: bool
    model: str | None = None  # the NodeModel of a complex value
    codes: frozenset[str] | None = None  # required binding on a code
    pairs: frozenset[tuple[str, str]] | None = None  # required binding on a Coding / CodeableConcept
    binding: str | None = None
    targets: tuple[str, ...] = ()


@dataclass
class NodeModel:
    """The properties a JSON object of one type (or backbone path) may hold."""

    name: str
    slots: dict[str, Slot] = field(default_factory=dict)
    required: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # element → its JSON keys
    constraints: tuple[Constraint, ...] = ()
    is_resource: bool = False


class Models(Mapping[str, NodeModel]):
    """The node models by type name or backbone path (``Observation.component``), a type's made when one of its
    paths is first asked for: a conversion meets a few dozen of the two hundred types, and making every one took
    two thirds of loading the definitions, before each process's first resource."""

    def __init__(self, types: dict[str, Any], make: Callable[[str, dict[str, Any]], dict[str, NodeModel]]) -> None:
        self._types = types
        self._make = make
        self._made: dict[str, NodeModel] = {}
        self._done: set[str] = set()

    def _of(self, path: str) -> None:
        """Make the models of the type ``path`` belongs to (every path of a type starts with its name)."""
        name = path.partition(".")[0]
        if name not in self._done and name in self._types:
            self._made.update(self._make(name, self._types[name]))
            self._done.add(name)  # after: another thread meanwhile makes the type too, rather than miss it

    def __getitem__(self, path: str) -> NodeModel:
        found = self._made.get(path)
        if found is None:
            self._of(path)
            return self._made[path]
        return found

    def __contains__(self, path: object) -> bool:
        if isinstance(path, str):
            self._of(path)
        return path in self._made

    def __iter__(self) -> Iterator[str]:
        for name in self._types:
            self._of(name)
        return iter(self._made)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class Definitions:
    models: Models
    resource_types: frozenset[str]
    primitive_patterns: dict[str, Callable[[str], Any]]
    primitive_regexes: dict[str, str]
    constraints: dict[str, Constraint]
    fhir_version: str
    release: str = "R4"  # the release of the definitions (R4B content is checked with R4's)


#: Invariants whose text says SHOULD (a recommendation) but which the specification does not mark best practice:
#: checked as best practice (FB-FHIR-019, opt-in). R5's cod-1 (a Coding with a display but no code) would
#: otherwise warn on every MedDRA term fhirbridge writes without its code, as the mapping documents.
SHOULD_ONLY = frozenset({"cod-1"})

#: The definitions each release is checked with: R4B's resources that fhirbridge reads and writes are R4's.
DEFINITIONS_OF = {"R4": "R4", "R4B": "R4", "R5": "R5"}


def _cap(name: str) -> str:
    return name[0].upper() + name[1:]


def load(release: str = "R4") -> Definitions:
    """The compiled definitions ``release`` is checked with (loaded once per process, when first asked for)."""
    return _load(DEFINITIONS_OF[release])


def _raw(release: str) -> dict[str, Any]:
    name = f"{release.lower()}-definitions.json"
    raw: dict[str, Any] = orjson.loads(files("fhirbridge.formats.fhir.checker").joinpath(name).read_bytes())
    return raw


def resource_elements(release: str = "R4") -> dict[str, frozenset[str]]:
    """The JSON property names of each (concrete) resource type of ``release``, read from its definitions
    without compiling them: telling an input's release by its shape needs R4's and R5's on every FHIR read, and
    that must not cost R5's compiled definitions (nor anyone's models)."""
    return _resource_elements(DEFINITIONS_OF[release])


@cache
def _resource_elements(release: str) -> dict[str, frozenset[str]]:
    return {
        type_name: frozenset(key for name, element in spec["elements"][type_name].items()
                             for key in _json_keys(name, element))
        for type_name, spec in _raw(release)["types"].items()
        if _concrete_resource(spec)
    }


def _concrete_resource(spec: dict[str, Any]) -> bool:
    return bool(spec["kind"] == "resource" and not spec["abstract"])


def is_resource_type(release: str, name: object) -> bool:
    """Whether ``name`` is a concrete resource type of ``release`` (R4B: R4's, as everywhere in the checker)."""
    return isinstance(name, str) and name in resource_elements(release)


def _type_codes(element: dict[str, Any]) -> list[str]:
    return [element["ref"]] if "ref" in element else element["types"] or ["Element"]


def _json_key(name: str, type_code: str) -> str:
    """The JSON property name of an element of a type: ``value[x]`` typed Quantity is valueQuantity."""
    return f"{name[:-3]}{_cap(type_code)}" if name.endswith("[x]") else name


def _json_keys(name: str, element: dict[str, Any]) -> set[str]:
    return {_json_key(name, code) for code in _type_codes(element)}


@cache
def _load(release: str) -> Definitions:
    raw = _raw(release)
    primitives: dict[str, str] = raw["primitives"]
    value_sets: dict[str, list[list[str]]] = raw["valueSets"]
    constraints = {
        ident: Constraint(ident, c["key"], c["severity"], c["human"], c["expression"],
                          c.get("bestPractice", False) or ident in SHOULD_ONLY)
        for ident, c in raw["constraints"].items()
    }
    resource_types = frozenset(name for name, spec in raw["types"].items() if _concrete_resource(spec))

    def make(type_name: str, spec: dict[str, Any]) -> dict[str, NodeModel]:
        models: dict[str, NodeModel] = {}
        for path, elements in spec["elements"].items():
            model = models.setdefault(path, NodeModel(path))
            if path == type_name:
                model.is_resource = spec["kind"] == "resource"
                model.constraints = tuple(constraints[c] for c in spec.get("constraints", ()))
            for name, element in elements.items():
                _add_element(model, path, name, element, primitives, value_sets)
        # backbone paths get the invariants declared on the element that introduces them
        for path, elements in spec["elements"].items():
            for name, element in elements.items():
                child = f"{path}.{name}"
                if child in models and element.get("constraints"):
                    models[child].constraints = tuple(constraints[c] for c in element["constraints"])
        return models

    regexes = {name: regex for name, regex in primitives.items() if regex}
    patterns = {name: re.compile(regex).fullmatch for name, regex in regexes.items()}
    return Definitions(Models(raw["types"], make), resource_types, patterns, regexes, constraints,
                       raw["fhirVersion"], release)


def _add_element(model: NodeModel, path: str, name: str, element: dict[str, Any], primitives: dict[str, str],
                 value_sets: dict[str, list[list[str]]]) -> None:
    many = element["max"] != "1"
    maximum = None if element["max"] == "*" else int(element["max"])
    choice = name.endswith("[x]")
    keys = []
    for type_code in _type_codes(element):
        key = _json_key(name, type_code)
        primitive = type_code in primitives
        if "ref" in element:
            sub_model = element["ref"]
        elif type_code in _BACKBONE:
            sub_model = f"{path}.{name}"
        elif type_code == "Resource":
            sub_model = "Resource"
        else:
            sub_model = None if primitive else type_code
        slot = Slot(element=name, key=key, min=element["min"], many=many, max=maximum,
                    type="Element" if "ref" in element else type_code, primitive=primitive, choice=choice,
                    model=sub_model, targets=tuple(element.get("targets", ())), binding=element.get("binding"))
        binding = element.get("binding")
        if binding in value_sets:
            if type_code == "code":
                slot.codes = frozenset(code for _, code in value_sets[binding])
            elif type_code in ("Coding", "CodeableConcept"):
                slot.pairs = frozenset((system, code) for system, code in value_sets[binding])
        model.slots[key] = slot
        keys.append(key)
    if element["min"] > 0:
        model.required.append((name, tuple(keys)))


def real_date(value: str) -> bool:
    """The grammar allows 2019-02-30; the calendar does not."""
    if len(value) < 10:
        return True
    try:
        dt.date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True
