"""A screen in Rust that tells, for the common case, that a resource is valid, so the walker need not run.

The compiled definitions become one pydantic-core schema per resource type (typed dicts that forbid unknown
keys, strict JSON types, the primitive grammars as anchored regular expressions, required code bindings as
literals, non-empty arrays and objects, the codes of our own CodeSystems as a literal per system); the few rules
the schema cannot say (a calendar date that exists, one value per choice element, required Coding bindings, the
invariants) are small Python functions called from the schema on the nodes that carry them. The screen says
nothing about *where* a problem is: a resource it rejects is walked by ``structure.Walker``, which reports every
problem with its FHIRPath. The screen is stricter than or as strict as the walker, never looser: a resource it
lets through has no issue the walker would report (``tests/test_fhir_checker_oracle.py``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from pydantic_core import PydanticCustomError, SchemaValidator, ValidationError
from pydantic_core import core_schema as cs

from fhirbridge.formats.fhir.checker.definitions import (
    STRING_LIKE_LIMIT,
    Constraint,
    Definitions,
    NodeModel,
    Slot,
    load,
    real_date,
)
from fhirbridge.formats.fhir.checker.invariants import BY_BUNDLE_LAYER, COMPILED_OF, GATES

Node = dict[str, Any]
#: a rule of the screen: True when the node keeps it
Rule = Callable[[Node], bool]
_NOTHING_CONTAINED: Node = {}
_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "unsignedInt": (0, 2**31 - 1), "positiveInt": (1, 2**31 - 1)}
_REJECT = PydanticCustomError("fhir", "rejected")
#: Invariants about contained resources, which hold when there are none: the screen lets no resource with
#: contained resources through (the walker checks those, with the container as their root)
_ABOUT_CONTAINED = frozenset({"dom-2", "dom-3", "dom-4", "dom-5"})
#: Invariants of Reference kept by ``_collect``, which runs on every Reference anyway (one Python call, not two)
_BY_COLLECT = frozenset({"ref-1"})


class Context:
    """What the screen met on its way that the bundle layer needs: references and their allowed targets; when
    it screens a list of nodes (``passes_all``), where the references of each node end."""

    __slots__ = ("ends", "references")

    def __init__(self) -> None:
        self.references: list[tuple[str, tuple[str, ...]]] = []
        self.ends: list[int] = []


class _Builder:
    """Builds the schemas of one set of definitions, sharing one definition per node model. A model is built when
    a validator first needs it (the screen of one resource type needs the data types and its own backbone
    elements, not the other resource types), and kept for the next validators of the same builder."""

    def __init__(self, defs: Definitions, own_codes: dict[str, frozenset[str]], best_practice: bool,
                 empty_objects_refused: bool = True) -> None:
        self.defs = defs
        #: False: the screen takes ``{}`` for an element (for nodes parsed from text known to hold none): the
        #: check of every object's size copies each object, a sixth of the screen's time
        self.empty_objects_refused = empty_objects_refused
        self.own_codes = own_codes
        self.best_practice = best_practice
        self.built: dict[str, cs.CoreSchema] = {}
        self.primitives: dict[str, cs.CoreSchema] = {}
        #: the definitions each built definition refers to, and the one being built
        self.refers: dict[str, set[str]] = {}
        self.building: list[str] = []
        self.lock = threading.Lock()  # a model half built (a placeholder) must not end up in another validator

    # --- primitives ----------------------------------------------------------------------------------------
    def primitive(self, kind: str) -> cs.CoreSchema:
        if kind in self.primitives:
            return self.primitives[kind]
        schema: cs.CoreSchema
        if kind == "boolean":
            schema = cs.bool_schema(strict=True)
        elif kind in _INT_RANGE:
            low, high = _INT_RANGE[kind]
            schema = cs.int_schema(strict=True, ge=low, le=high)
        elif kind == "decimal":
            schema = cs.union_schema([cs.int_schema(strict=True), cs.float_schema(strict=True, allow_inf_nan=False)],
                                     mode="left_to_right")
        else:
            regex = self.defs.primitive_regexes.get(kind)
            schema = cs.str_schema(strict=True, max_length=STRING_LIKE_LIMIT,
                                   pattern=f"^(?:{regex})$" if regex else None)
            if kind in ("date", "dateTime", "instant"):
                schema = cs.no_info_after_validator_function(_calendar, schema)
        self.primitives[kind] = schema
        return schema

    def value(self, slot: Slot) -> cs.CoreSchema:
        """The schema of one value of a slot (not the array around it)."""
        if slot.primitive:
            if slot.codes is not None:
                return cs.literal_schema(sorted(slot.codes))
            return self.primitive(slot.type)
        schema = self.reference(slot.model or "")
        if slot.type == "Reference":
            schema = cs.with_info_after_validator_function(_collect(slot.targets), schema)
        if slot.pairs is not None:
            check = _coding_in(slot.pairs) if slot.type == "Coding" else _concept_in(slot.pairs)
            schema = cs.no_info_after_validator_function(check, schema)
        return schema

    # --- complex nodes -------------------------------------------------------------------------------------
    def reference(self, name: str) -> cs.CoreSchema:
        """A reference to the definition of a node model (``Resource``: a resource of any type), built if need
        be, from the definition being built."""
        self.refers[self.building[-1]].add(self.model_ref(name))
        return cs.definition_reference_schema(name)

    def model_ref(self, name: str) -> str:
        if name not in self.built:
            self.built[name] = cs.any_schema()  # a placeholder while the model's own slots refer back to it
            self.refers[name] = set()
            self.building.append(name)
            try:
                self.built[name] = self.any_resource() if name == "Resource" else self.node(self.defs.models[name])
            finally:
                self.building.pop()
        return name

    def any_resource(self) -> cs.CoreSchema:
        """A resource of any type, told apart by its resourceType (every resource type is built)."""
        return cs.tagged_union_schema({name: self.reference(name) for name in sorted(self.defs.resource_types)},
                                      discriminator="resourceType", ref="Resource")

    def node(self, model: NodeModel) -> cs.CoreSchema:
        fields: dict[str, cs.TypedDictField] = {}
        element = "Element"
        if model.name != "Element":
            self.reference(element)
        for key, slot in model.slots.items():
            if model.is_resource and key == "contained":
                continue  # left to the walker (see _ABOUT_CONTAINED)
            one = self.value(slot)
            required = slot.min > 0 and not slot.choice and not slot.primitive
            if slot.many:
                fields[key] = cs.typed_dict_field(cs.list_schema(one, min_length=1, max_length=slot.max,
                                                                 strict=True), required=required)
            else:
                fields[key] = cs.typed_dict_field(one, required=required)
            if slot.primitive:
                extension = self.reference(element)
                fields[f"_{key}"] = cs.typed_dict_field(
                    cs.list_schema(cs.nullable_schema(extension), min_length=1, strict=True) if slot.many
                    else extension, required=False)
        if model.is_resource:
            fields["resourceType"] = cs.typed_dict_field(cs.literal_schema([model.name]), required=True)
        rules = self.rules(model)
        schema: cs.CoreSchema = cs.typed_dict_schema(fields, extra_behavior="forbid", strict=True)
        if model.name == "Coding" and self.own_codes:
            schema = self.coding(fields)
        if not model.is_resource and self.empty_objects_refused:
            schema = cs.chain_schema([cs.dict_schema(min_length=1, strict=True), schema])
        if not rules:
            return {**schema, "ref": model.name}  # type: ignore[typeddict-item]
        return cs.no_info_after_validator_function(_apply(rules), schema, ref=model.name)

    def coding(self, fields: dict[str, cs.TypedDictField]) -> cs.CoreSchema:
        """A Coding of one of our own CodeSystems must hold one of its codes: said in the schema (a Coding of
        another system, or a literal code per own system), so that no Python rule runs on every Coding."""
        assert self.defs.primitive_regexes["uri"] == r"\S*"  # the grammar _none_of keeps
        other = {**fields, "system": cs.typed_dict_field(cs.str_schema(
            strict=True, max_length=STRING_LIKE_LIMIT, pattern=f"^{_none_of(self.own_codes)}$"), required=False)}
        own = {system: cs.typed_dict_schema({
            **fields,
            "system": cs.typed_dict_field(cs.literal_schema([system]), required=True),
            "code": cs.typed_dict_field(cs.literal_schema(sorted(codes)), required=True),
        }, extra_behavior="forbid", strict=True) for system, codes in sorted(self.own_codes.items())}
        return cs.union_schema([cs.tagged_union_schema(own, discriminator="system"),
                                cs.typed_dict_schema(other, extra_behavior="forbid", strict=True)],
                               mode="left_to_right")

    def rules(self, model: NodeModel) -> list[Rule]:
        """The Python rules of a node: the ones the schema cannot say."""
        rules: list[Rule] = []
        choices: dict[str, list[str]] = {}
        for key, slot in model.slots.items():
            if slot.choice:
                choices.setdefault(slot.element, []).append(key)
            elif slot.primitive and slot.min > 0:
                rules.append(_required_primitive(key))
        for _, keys in model.required:
            if len(keys) > 1:
                rules.append(_one_of(frozenset(keys)))
        for keys in choices.values():
            if len(keys) > 1:
                rules.append(_at_most_one(frozenset(keys)))
        for constraint in model.constraints:
            rule = self.invariant(constraint)
            if rule is not None:
                rules.append(rule)
        return rules

    def invariant(self, constraint: Constraint) -> Rule | None:
        if constraint.ident in BY_BUNDLE_LAYER | _ABOUT_CONTAINED | _BY_COLLECT or (
                constraint.best_practice and not self.best_practice):
            return None
        compiled = COMPILED_OF[self.defs.release].get(constraint.ident)
        gate = GATES.get(constraint.ident)
        if compiled is not None:
            # the node is %resource (the one invariant that reads %resource, obs-7, is declared on the resource)
            # and %rootResource has no contained resources (the screen lets none through)
            return lambda node: compiled(node, node, _NOTHING_CONTAINED)
        if gate is not None:
            return lambda node: not any(k in node for k in gate)  # present: the walker evaluates it
        return lambda node: False  # only fhirpathpy evaluates it: the walker does

    def validator(self, root: str, many: bool = False) -> SchemaValidator:
        """One validator for a node model (``Resource``: a resource of any type), with the definitions it
        reaches only."""
        with self.lock:
            self.model_ref(root)
            reached: set[str] = set()
            todo = [root]
            while todo:
                name = todo.pop()
                if name not in reached:
                    reached.add(name)
                    todo.extend(self.refers[name])
            definitions = [schema for name, schema in self.built.items() if name in reached]
        top: cs.CoreSchema = cs.definition_reference_schema(root)
        if many:
            top = cs.list_schema(cs.with_info_after_validator_function(_end_of_node, top), strict=True)
        return SchemaValidator(cs.definitions_schema(top, definitions))


def _apply(rules: list[Rule]) -> Callable[[Node], Node]:
    """One validator function for a node's rules (called for every node of its kind: a node with one rule,
    such as every Coding, gets it without a loop)."""
    if len(rules) == 1:
        rule = rules[0]

        def check_one(node: Node) -> Node:
            if rule(node):
                return node
            raise _REJECT
        return check_one
    kept = tuple(rules)

    def check(node: Node) -> Node:
        for rule in kept:
            if not rule(node):
                raise _REJECT
        return node
    return check


def _calendar(value: str) -> str:
    if not real_date(value):
        raise _REJECT
    return value


def _required_primitive(key: str) -> Rule:
    return lambda node: node.get(key) is not None or f"_{key}" in node


def _one_of(keys: frozenset[str]) -> Rule:
    return lambda node: not keys.isdisjoint(node)


def _at_most_one(keys: frozenset[str]) -> Rule:
    return lambda node: len(keys.intersection(node)) <= 1


def _none_of(words: Iterable[str]) -> str:
    """A regular expression of the ``uri`` grammar (no white space) matching every string but ``words``, without
    look-ahead (which the Rust engine lacks): along the trie of the words, a string that ends early, leaves the
    trie, or goes on past a word."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # the end of a word

    def branch(node: dict[str, Any]) -> str:
        chars = sorted(c for c in node if c)
        ways = [] if "" in node else [""]
        ways.append(f"[^{''.join(re.escape(c) for c in chars)}\\s]\\S*")
        ways.extend(re.escape(c) + branch(node[c]) for c in chars)
        return "(?:" + "|".join(ways) + ")"
    return branch(trie)


def _collect(targets: tuple[str, ...]) -> Callable[[Node, cs.ValidationInfo], Node]:
    """Notes a Reference for the bundle layer, and keeps ref-1: a reference to a contained resource (``#id``)
    fails it, as the screen lets no resource with contained resources through (``#`` alone refers to the
    container: its substring is empty, and so is the comparison)."""
    def collect(node: Node, info: cs.ValidationInfo) -> Node:
        reference = node.get("reference")
        if reference is not None:
            if reference[:1] == "#" and reference != "#":
                raise _REJECT
            info.context.references.append((reference, targets))
        return node
    return collect


def _end_of_node(node: Node, info: cs.ValidationInfo) -> Node:
    ends = info.context.ends
    ends.append(len(info.context.references))
    return node


def _coding_in(pairs: frozenset[tuple[str, str]]) -> Callable[[Node], Node]:
    def check(node: Node) -> Node:
        if (node.get("system"), node.get("code")) not in pairs:
            raise _REJECT
        return node
    return check


def _concept_in(pairs: frozenset[tuple[str, str]]) -> Callable[[Node], Node]:
    def check(node: Node) -> Node:
        if not any((c.get("system"), c.get("code")) in pairs for c in node.get("coding", ())):
            raise _REJECT
        return node
    return check


@cache
def _builder(own_codes: tuple[tuple[str, frozenset[str]], ...], best_practice: bool, release: str,
             empty_objects_refused: bool = True) -> _Builder:
    """One builder per set of options: the screens of several resource types share the models built."""
    return _Builder(load(release), dict(own_codes), best_practice, empty_objects_refused)


@cache
def screen(own_codes: tuple[tuple[str, frozenset[str]], ...] = (), best_practice: bool = False,
           root: str = "Resource", release: str = "R4") -> SchemaValidator:
    """The screen of a resource of one type (``root``: ``Patient``), of any type (``Resource``: every type's
    schema built at once, three times what the nine types a conversion writes take), or of another node model
    such as ``Bundle.entry``, of the definitions of ``release`` (compiled once per process for each set of
    options)."""
    return _builder(own_codes, best_practice, release).validator(root)


def passes(validator: SchemaValidator, node: Node, ctx: Context) -> bool:
    """Whether the screen lets a resource (or a node holding one, such as a bundle entry) through; the
    references it met are then in ``ctx.references``."""
    try:
        validator.validate_python(node, context=ctx)
    except ValidationError:
        return False
    return True


@cache
def primitive_checker(kinds: tuple[str, ...]) -> SchemaValidator:
    """A validator of a list of tuples of primitive values of the FHIR types ``kinds``, with the very schemas
    the screen holds a primitive of each type to (grammar, length, calendar, integer range): what resources
    written from a proven template still have to pass (``fhirbridge.formats.fhir.templates``), the values of
    many resources in one call (an error's ``loc`` starts with the tuple's index)."""
    builder = _Builder(load(), {}, False)
    return SchemaValidator(cs.list_schema(cs.tuple_schema([builder.primitive(kind) for kind in kinds])))


def primitive_slot(rtype: str, path: tuple[str | int, ...]) -> Slot:
    """The slot of the primitive value at ``path`` in a resource of type ``rtype`` (list indices skipped)."""
    defs = load()
    model = defs.models[rtype]
    steps = [step for step in path if isinstance(step, str)]
    for step in steps[:-1]:
        model = defs.models[model.slots[step].model or ""]
    slot = model.slots[steps[-1]]
    if not slot.primitive:
        raise ValueError(f"{rtype}.{'.'.join(steps)} is not a primitive")
    return slot


@cache
def screen_many(own_codes: tuple[tuple[str, frozenset[str]], ...] = (), best_practice: bool = False,
                root: str = "Resource", empty_objects_refused: bool = True, release: str = "R4") -> SchemaValidator:
    """The screen of a list of resources or other nodes (``screen``'s options), for ``passes_all``. Without
    ``empty_objects_refused`` it lets an empty object through where an element is expected: only for nodes
    parsed from JSON text that holds no ``{}`` (``bundle_stream.Chunk``), for which both verdicts are the same."""
    return _builder(own_codes, best_practice, release, empty_objects_refused).validator(root, many=True)


def passes_all(validator: SchemaValidator, nodes: list[Node], ctx: Context) -> bool:
    """Whether a ``screen_many`` screen lets every node of a list through, in one call (no Python between the
    nodes); the references met are then in ``ctx.references``, those of node i ending at ``ctx.ends[i]``."""
    try:
        validator.validate_python(nodes, context=ctx)
    except ValidationError:
        return False
    return True
