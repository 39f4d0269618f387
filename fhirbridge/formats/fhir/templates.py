"""Resources written as bytes from templates, checked once per shape and then only in the values from input.

Most resources fhirbridge writes differ only in a few values: an ISNCSCI classification value Observation is
the same JSON for every exam but for its id, its row, its visit, its date, its value and three references. A
*template* is such a resource's JSON bytes with *holes* where those values go, made once per *shape* (the record
kind and what decides the constant parts: the field, whether a date is given, which coded value...) from the
resource the ordinary builder makes, so that filling the holes gives the very bytes ``orjson.dumps`` of the
built resource would (``tests/test_fhir_templates.py`` proves it on generated records).

What "validate what we write" asks is kept, in two parts:

- the shape: a template is *proven* once a resource made from it, built the ordinary way, has passed the whole
  output check on its own and the template fills to that resource's very bytes; until then every resource of its
  shape is checked whole;
- the values: each hole is a FHIR primitive of the type the definitions give for its path, checked with the
  screen's own schema for that type (``screen.primitive_checker``), the values of all the resources of a template
  in a chunk in one call; a reference hole must point at a resource of the chunk of the type the template was
  proven with. A hole is never an element whose validity depends on another value (no code of a required
  binding, no choice, no invariant reads it: those are part of the shape), so a proven shape with valid values is
  a valid resource.

An *elements* hole holds items of an array (the ~130 worksheet cells of an ISNCSCI panel), each one of a finite
set of pre-serialised elements; an item is proven for a template once a resource of that template holding it
has passed the whole check. The screen checks each item of such an array on its own (only obs-7 compares a
component with the resource's code, which is part of the template), so items proven once are proven in any
combination. A resource whose values or items are not all proven goes the ordinary way: built as a dict and
checked whole, so what is reported is exactly what the whole check reports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import CodeType
from typing import Any

import orjson

from fhirbridge.formats.fhir.checker.screen import primitive_slot
from fhirbridge.formats.fhir.context import Resource

#: the target of a reference hole that may point at a resource of any type (``Provenance.target``)
ANY_TARGET = "*"
_MARK = "\ue000"  # a private-use character: never in a resource fhirbridge writes as a constant


@dataclass(frozen=True, slots=True)
class Hole:
    """Where a value from input goes: the path of its key in the resource (list items by index); ``target`` is
    the resource type a reference hole points at (its value is the target's id). Its FHIR type is the
    definitions' for that path."""

    path: tuple[str | int, ...]
    target: str | None = None  # ANY_TARGET: a reference to a resource of any type of the chunk


@dataclass(frozen=True, slots=True)
class Elements:
    """Where the items of an array go: ``path`` is the array's; the hole takes the first ``count`` items of the
    prototype's array, and the template keeps those after them as they are (an item holding a hole of its own)."""

    path: tuple[str | int, ...]
    count: int


@dataclass(frozen=True, slots=True, eq=False)
class Items:
    """A run of items of an elements hole, serialised (``data``, the items' JSON joined by commas): ``keys`` name
    each item (what is proven), ``number`` the run (a run met again is the same object, proven at once)."""

    number: int
    keys: tuple[Any, ...]
    data: bytes


class Runs:
    """The runs of items met, each made once (``FhirContext.constants`` keeps one per kind of run)."""

    def __init__(self) -> None:
        self.made: dict[Any, Items] = {}

    def get(self, key: Any, make: Callable[[], list[tuple[Any, bytes]]]) -> Items:
        """The run named ``key`` (its values), made by ``make`` (its items as (key, JSON)) the first time."""
        found = self.made.get(key)
        if found is None:
            items = make()
            found = self.made[key] = Items(
                len(self.made), tuple(k for k, _ in items), b",".join(data for _, data in items)
            )
        return found


@dataclass(slots=True)
class Template:
    """A resource's bytes with holes; ``order`` gives, for each gap between two parts, the hole filling it."""

    rtype: str
    parts: list[bytes]
    order: list[int]
    holes: list[Hole | Elements]
    kinds: tuple[str, ...]  # the primitive types of the value holes, in the order values are given
    #: for each gap between two parts: the hole's number, whether it is a reference, whether an elements hole
    gaps: list[tuple[int, bool, bool]] = field(default_factory=list)
    #: the numbers of the value holes, each with whether it is a reference
    primitives: list[tuple[int, bool]] = field(default_factory=list)
    references: list[tuple[int, str]] = field(default_factory=list)  # reference holes: number, target type
    elements: list[int] = field(default_factory=list)  # the numbers of the elements holes
    proven: bool = False
    items: set[Any] = field(default_factory=set)  # the keys of the element items proven with this template
    runs: set[int] = field(default_factory=set)  # the runs of items all proven with this template
    #: ``Written.encode`` and ``Written.primitives`` of this template, one expression each (see ``_compiled``)
    fill: Callable[[list[Any], dict[str, str] | None], bytes] | None = field(default=None, repr=False)
    pick: Callable[[list[Any]], tuple[Any, ...]] | None = field(default=None, repr=False)
    #: ``Written.line``: ``fill`` with the references' JSON looked up (see ``relative_references``)
    line: Callable[[list[Any], dict[str, bytes]], bytes] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, prototype: Resource, holes: Sequence[Hole | Elements]) -> Template:
        """The template of ``prototype`` (a resource the builder made) with ``holes`` made holes."""
        marked = orjson.loads(orjson.dumps(prototype))  # a copy: builders share constant parts between resources
        # value holes first: their paths are the prototype's, which an elements hole would shorten
        for n in sorted(range(len(holes)), key=lambda k: isinstance(holes[k], Elements)):
            hole, mark = holes[n], f"{_MARK}{n}{_MARK}"
            parent = marked
            for step in hole.path[:-1]:
                parent = parent[step]
            last = hole.path[-1]
            if isinstance(hole, Elements):
                parent[last] = [mark, *parent[last][hole.count :]]
            else:
                parent[last] = mark
        data = orjson.dumps(marked)
        parts, order, rest = [], [], data
        while True:
            start = rest.find(b'"' + _MARK.encode())
            if start < 0:
                parts.append(rest)
                break
            end = rest.index(_MARK.encode() + b'"', start + 4)
            parts.append(rest[:start])
            order.append(int(rest[start + 1 + len(_MARK.encode()) : end]))
            rest = rest[end + len(_MARK.encode()) + 1 :]
        if sorted(order) != list(range(len(holes))):
            raise ValueError(f"a hole of {prototype.get('resourceType')} is missing or repeated: {order}")
        gaps = [
            (n, isinstance(holes[n], Hole) and holes[n].target is not None, isinstance(holes[n], Elements))
            for n in order
        ]
        values = [(n, h.target) for n, h in enumerate(holes) if isinstance(h, Hole)]
        made = cls(
            prototype["resourceType"],
            parts,
            order,
            list(holes),
            _kinds(prototype["resourceType"], holes),
            gaps,
            [(n, target is not None) for n, target in values],
            [(n, target) for n, target in values if target is not None],
            [n for n, h in enumerate(holes) if isinstance(h, Elements)],
        )
        made.fill, made.pick, made.line = _compiled(made)
        return made


@dataclass(slots=True)
class Written:
    """A resource made from a template: its id, and the values of its holes (in the template's order of holes);
    ``build`` makes it as a dict, the ordinary way (to prove the template, or when a value fails)."""

    template: Template
    rid: str
    values: list[Any]  # an elements hole's value: a list of ``Items``
    build: Callable[[], Resource]

    @property
    def rtype(self) -> str:
        return self.template.rtype

    def references(self) -> list[tuple[str, str]]:
        """(target type, target id) of every reference hole."""
        values = self.values
        return [(target, values[n]) for n, target in self.template.references]

    def primitives(self) -> tuple[Any, ...]:
        """The values of the primitive holes as the resource holds them (a reference as ``urn:uuid:``)."""
        return self.template.pick(self.values)  # type: ignore[misc]

    def items_proven(self) -> bool:
        template = self.template
        for n in template.elements:
            for run in self.values[n]:
                if run.number not in template.runs:
                    if not template.items.issuperset(run.keys):
                        return False
                    template.runs.add(run.number)
        return True

    def prove_items(self) -> None:
        for n in self.template.elements:
            for run in self.values[n]:
                self.template.items.update(run.keys)

    def encode(self, types: dict[str, str] | None) -> bytes:
        """The resource's JSON; with ``types`` (id → resource type), references to those ids are relative
        (``Patient/<id>``), as NDJSON has them, else ``urn:uuid:`` as in a Bundle."""
        return self.template.fill(self.values, types)  # type: ignore[misc]

    def line(self, references: dict[str, bytes]) -> bytes:
        """``encode(types)``, given ``relative_references(types)``: the NDJSON line, each reference's JSON looked
        up instead of made."""
        return self.template.line(self.values, references)  # type: ignore[misc]

    def resource(self) -> Resource:
        """The resource as a dict, parsed from its bytes (for the whole check)."""
        return orjson.loads(self.encode(None))


def _reference(value: str, types: dict[str, str] | None) -> bytes:
    """A reference hole's JSON: relative (``"Patient/<id>"``) to a resource of ``types``, else ``urn:uuid:``."""
    rtype = types.get(value) if types is not None else None
    return b'"%s/%s"' % (rtype.encode(), value.encode()) if rtype else b'"urn:uuid:%s"' % value.encode()


def relative_references(types: dict[str, str]) -> dict[str, bytes]:
    """The JSON of a reference hole to each id of ``types``, as ``_reference`` makes it with ``types``."""
    return {value: b'"%s/%s"' % (rtype.encode(), value.encode()) for value, rtype in types.items() if rtype}


def _urn(value: str) -> bytes:
    return b'"urn:uuid:%s"' % value.encode()


def _items(runs: list[Items]) -> bytes:
    return b",".join([run.data for run in runs])


def _compiled(
    template: Template,
) -> tuple[
    Callable[[list[Any], dict[str, str] | None], bytes],
    Callable[[list[Any]], tuple[Any, ...]],
    Callable[[list[Any], dict[str, bytes]], bytes],
]:
    """The template's fill (its parts and holes joined, each hole as ``orjson.dumps`` of its value, a reference
    or items), pick (the values of its primitive holes, a reference as ``urn:uuid:``) and line (fill with the
    references' JSON looked up in ``relative_references``), each one expression over the values made once per
    template: a loop over the gaps, for every resource written, cost more than filling them."""
    names: dict[str, Any] = {
        "join": b"".join, "dumps": orjson.dumps, "reference": _reference, "items": _items, "urn": _urn
    }
    pieces, lined = ["part0"], ["part0"]
    names["part0"] = template.parts[0]
    for gap, (n, reference, elements) in enumerate(template.gaps, start=1):
        hole = "reference" if reference else "items" if elements else "dumps"
        pieces.append(f"{hole}(values[{n}], types)" if reference else f"{hole}(values[{n}])")
        lined.append(f"(references.get(values[{n}]) or urn(values[{n}]))" if reference else pieces[-1])
        pieces.append(f"part{gap}")
        lined.append(f"part{gap}")
        names[f"part{gap}"] = template.parts[gap]
    picked = [f'f"urn:uuid:{{values[{n}]}}"' if reference else f"values[{n}]" for n, reference in template.primitives]
    source = (
        f"def fill(values, types):\n    return join(({', '.join(pieces)},))\n"
        f"def pick(values):\n    return ({''.join(p + ', ' for p in picked)})\n"
        f"def line(values, references):\n    return join(({', '.join(lined)},))\n"
    )
    exec(_code(source), names)  # our own text: no value from input
    return names["fill"], names["pick"], names["line"]


@cache
def _code(source: str) -> CodeType:
    """The compiled functions of a template: templates of the same gaps share them (a conversion makes a hundred
    templates of a dozen kinds, and each worker process makes them again: compiling each took 20 ms a process)."""
    return compile(source, "<template>", "exec")


def _kinds(rtype: str, holes: Sequence[Hole | Elements]) -> tuple[str, ...]:
    """The FHIR primitive type of each value hole; a hole is never a value whose validity another value decides
    (a code of a required binding), which would make it part of the shape."""
    kinds = []
    for hole in holes:
        if isinstance(hole, Hole):
            slot = primitive_slot(rtype, hole.path)
            if slot.codes is not None or slot.binding is not None:
                raise ValueError(f"{rtype} {hole.path} is bound to a value set: it cannot be a hole")
            kinds.append(slot.type)
    return tuple(kinds)


def template(
    constants: dict[Any, Any],
    key: tuple[Any, ...],
    build: Callable[[], Resource],
    holes: Callable[[], Sequence[Hole | Elements]],
) -> Template:
    """The template of shape ``key``, made from ``build()`` and ``holes()`` the first time (kept in
    ``FhirContext.constants``)."""
    found = constants.get(key)
    if found is None:
        found = constants[key] = Template.of(build(), holes())
    return found
