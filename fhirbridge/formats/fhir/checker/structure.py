"""Structure, primitive values, required bindings and invariants of any FHIR R4 (or R5) resource, in one walk.

The walker visits every JSON node once, checks it against the compiled definitions and reports every
problem (not only the first), each with the FHIRPath of the node. References are collected on the way for
the bundle integrity layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic_core import SchemaValidator

from fhirbridge.formats.fhir.checker.definitions import (
    STRING_LIKE_LIMIT,
    Constraint,
    Definitions,
    NodeModel,
    Slot,
    load,
    real_date,
)
from fhirbridge.formats.fhir.checker.invariants import BY_BUNDLE_LAYER, COMPILED_OF, GATES, NotEvaluable, fhirpath
from fhirbridge.formats.fhir.checker.screen import Context, passes, passes_all, screen, screen_many

Node = dict[str, Any]
#: (code, message, FHIRPath, value found, expected, severity or None for the rule's own)
Emit = Callable[[str, str, str, Any, "str | None", "str | None"], None]

_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "unsignedInt": (0, 2**31 - 1), "positiveInt": (1, 2**31 - 1)}


@dataclass(slots=True)
class Reference:
    """A reference met during the walk, for the bundle layer to resolve (slots: a bundle's references are kept
    until its end, several for each entry)."""

    path: str  # the reference's FHIRPath, or the resource's when ``within`` is given
    reference: str
    targets: tuple[str, ...]
    within: Node | None = None  # the resource holding it, when the screen passed it without walking it

    def located(self) -> str:
        """The FHIRPath of the reference element, found in its resource when the walk did not note it."""
        if self.within is None:
            return self.path
        return _find(self.within, self.reference, self.path) or self.path


def _find(node: Any, reference: str, path: str) -> str | None:
    return locate_all(node, {reference}, path).get(reference)


def locate_all(node: Any, references: set[str], path: str) -> dict[str, str]:
    """The FHIRPath of the first element (depth first) holding each of ``references`` in ``node`` at ``path``:
    one walk for all of them, which stops when every one is found."""
    found: dict[str, str] = {}
    _locate(node, references, path, found)
    return found


def _locate(node: Any, wanted: set[str], path: str, found: dict[str, str]) -> bool:
    """Walks ``node``; True when every reference of ``wanted`` has been found."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str) and reference in wanted and reference not in found:
            found[reference] = f"{path}.reference"
            if len(found) == len(wanted):
                return True
        for key, value in node.items():
            if isinstance(value, (dict, list)) and _locate(value, wanted, f"{path}.{key}", found):
                return True
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)) and _locate(value, wanted, f"{path}[{i}]", found):
                return True
    return False


class EntriesRead(list[Node]):
    """Stands for ``entry`` in the shell of a Bundle whose entries were checked one by one as they were read:
    the walk of the shell calls ``replay`` where it reaches it, to put what the entries gave in its place. The
    items are a few stubs of entries: what the Bundle's invariants look at (the first entry's resource type, and
    one entry of each kind by ``search`` and ``response``), not the entries themselves."""

    def __init__(self, stubs: list[Node], replay: Callable[[], None]) -> None:
        super().__init__(stubs)
        self.replay = replay


@dataclass
class WalkOptions:
    best_practice: bool = False  # evaluate best-practice invariants (dom-6, ...) too
    own_codes: dict[str, frozenset[str]] = field(default_factory=dict)  # our CodeSystems: url → codes


class Walker:
    """Checks resources against the definitions; one instance per run (it caches nothing per resource)."""

    def __init__(self, emit: Emit, options: WalkOptions | None = None, definitions: Definitions | None = None):
        self.defs = definitions or load()
        self.emit = emit
        self.options = options or WalkOptions()
        self.references: list[Reference] = []
        self.not_evaluated: set[str] = set()
        self._codes = tuple(sorted(self.options.own_codes.items()))
        self._screens: dict[str, SchemaValidator] = {}  # by resource type, each built when first met
        self._entries_screen_lax: SchemaValidator | None = None  # built when first asked for
        self.screened = Context()

    def screen(self, rtype: str) -> SchemaValidator:
        """The screen of a resource of type ``rtype``, built when the type is first met: a conversion meets a few
        types, whose screens together cost a third of the screen of every type."""
        found = self._screens.get(rtype)
        if found is None:
            found = self._screens[rtype] = screen(self._codes, self.options.best_practice, rtype, self.defs.release)
        return found

    @cached_property
    def entry_screen(self) -> SchemaValidator:
        """The screen of a bundle entry, built when a bundle is first checked (writing NDJSON never is)."""
        return screen(self._codes, self.options.best_practice, "Bundle.entry", self.defs.release)

    @cached_property
    def entries_screen(self) -> SchemaValidator:
        """The screen of a list of bundle entries (a chunk of a streamed bundle), built when first needed."""
        return screen_many(self._codes, self.options.best_practice, "Bundle.entry", release=self.defs.release)

    # --- resources -----------------------------------------------------------------------------------------
    def resource(self, node: Any, path: str, root: Node | None = None) -> None:
        """Check one resource at ``path`` (``Bundle.entry[3].resource``, or its type for a lone resource)."""
        if not isinstance(node, dict):
            self.emit("FB-FHIR-014", "a resource must be a JSON object", path, _short(node), "object", None)
            return
        rtype = node.get("resourceType")
        if not isinstance(rtype, str) or rtype not in self.defs.resource_types:
            kind = f"an {self.defs.release} resource type"
            self.emit("FB-FHIR-010", f"resourceType {rtype!r} is not {kind}" if rtype is not None
                      else "resourceType is missing", f"{path}.resourceType" if rtype is not None else path,
                      rtype, kind, None)
            return
        if root is None and rtype != "Bundle" and self._passes(self.screen(rtype), node, path, node):
            return
        model = self.defs.models[rtype]
        self._object(node, model, path, node, root if root is not None else node, rtype)

    def entry(self, item: Any, where: str, resource: Node, root: Node) -> None:
        """One element of ``Bundle.entry`` at ``where`` (``Bundle.entry[3]``): the screen's verdict on the whole
        entry in the common case, else the walk of it; also what the walk of a Bundle does for each entry."""
        if isinstance(item, dict) and isinstance(item.get("resource"), dict) \
                and self._passes(self.entry_screen, item, f"{where}.resource", item["resource"]):
            return
        self._value(item, self.defs.models["Bundle"].slots["entry"], where, resource, root)

    def screen_entries(self, items: list[Any], first: int, no_empty_object: bool = False
                       ) -> list[list[Reference]] | None:
        """The screen's verdict on a run of ``Bundle.entry`` elements at once (the first at index ``first``), in
        one call: when it lets every one through (each an object holding a resource), the references of each,
        as ``entry`` would note them (nothing else is left to do for them); else None, and each is left to
        ``entry``. ``no_empty_object``: the items were parsed from text holding no ``{}`` (a screen that does not
        check the size of each object gives the same verdict, faster)."""
        if not all(isinstance(item, dict) and isinstance(item.get("resource"), dict) for item in items):
            return None
        ctx = self.screened
        ctx.references.clear()
        ctx.ends.clear()
        validator = self.entries_screen
        if no_empty_object:
            if self._entries_screen_lax is None:
                self._entries_screen_lax = screen_many(self._codes, self.options.best_practice, "Bundle.entry",
                                                       False, self.defs.release)
            validator = self._entries_screen_lax
        if not passes_all(validator, items, ctx):
            return None
        found, start, none = ctx.references, 0, []
        met: list[list[Reference]] = []
        for i, end in enumerate(ctx.ends):
            if end > start:
                resource = items[i]["resource"]
                path = f"Bundle.entry[{first + i}].resource"
                met.append([Reference(path, reference, targets, resource) for reference, targets in found[start:end]])
                start = end
            else:
                met.append(none)
        return met

    def _passes(self, screen: SchemaValidator, node: Node, path: str, resource: Node) -> bool:
        """The screen's verdict on a node of the common case (a resource, or a bundle entry: a Bundle itself is
        walked, its entries screened one by one so that each keeps its path); the references it met are noted
        for the bundle layer, located in ``resource`` at ``path`` when one needs to be shown."""
        found = self.screened.references
        found.clear()
        if not passes(screen, node, self.screened):
            return False
        self.references.extend(Reference(path, reference, targets, resource) for reference, targets in found)
        return True

    # --- complex nodes -------------------------------------------------------------------------------------
    def _object(self, node: Node, model: NodeModel, path: str, resource: Node, root: Node, type_name: str) -> None:
        slots = model.slots
        seen_choices: dict[str, str] = {}
        if not model.is_resource and not any(k != "id" for k in node):
            self.emit("FB-FHIR-018", "ele-1: All FHIR elements must have a @value or children", path, node,
                      "a value or children", None)
        for key, value in node.items():
            slot = slots.get(key)
            if slot is None:
                if key == "resourceType" and model.is_resource:
                    continue
                if key.startswith("_") and (base := slots.get(key[1:])) is not None and base.primitive:
                    self._primitive_extensions(value, base, f"{path}.{key[1:]}", resource, root)
                    continue
                self.emit("FB-FHIR-011", f"unknown element {key!r} in {type_name}", f"{path}.{key}", _short(value),
                          None, None)
                continue
            if slot.choice:
                other = seen_choices.setdefault(slot.element, key)
                if other != key:
                    self.emit("FB-FHIR-016", f"{slot.element} is given twice: {other} and {key}", f"{path}.{key}",
                              key, f"one of {other} or {key}", None)
            self._slot(node, key, value, slot, path, resource, root)
        for element, keys in model.required:
            if not any(k in node or f"_{k}" in node for k in keys):
                shown = element if len(keys) == 1 else f"{element} ({', '.join(keys)})"
                self.emit("FB-FHIR-012", f"required element {shown} is missing in {type_name}",
                          f"{path}.{element}", None, "at least one value", None)
        if model.constraints:
            self._invariants(node, model, path, resource, root)

    def _slot(self, parent: Node, key: str, value: Any, slot: Slot, path: str, resource: Node, root: Node) -> None:
        where = f"{path}.{key}"
        if isinstance(value, EntriesRead):
            value.replay()
            return
        if slot.many:
            if not isinstance(value, list):
                self.emit("FB-FHIR-014", f"{key} must be a JSON array (it repeats)", where, _short(value), "array",
                          None)
                return
            if not value:
                self.emit("FB-FHIR-018", "ele-1: an array must not be empty; leave the element out instead", where,
                          value, "at least one item", None)
                return
            if slot.max is not None and len(value) > slot.max:
                self.emit("FB-FHIR-013", f"{key} has {len(value)} values; at most {slot.max} allowed", where,
                          len(value), f"at most {slot.max}", None)
            extensions = parent.get(f"_{key}") if slot.primitive else None
            for i, item in enumerate(value):
                if item is None and slot.primitive and isinstance(extensions, list) and i < len(extensions) \
                        and extensions[i] is not None:
                    continue  # the value is absent but its extensions are in the parallel _key array
                if slot.model == "Bundle.entry":
                    self.entry(item, f"{where}[{i}]", resource, root)
                    continue
                self._value(item, slot, f"{where}[{i}]", resource, root)
        else:
            if isinstance(value, list):
                self.emit("FB-FHIR-013", f"{key} takes one value, not an array", where, _short(value), "one value",
                          None)
                return
            self._value(value, slot, where, resource, root)

    def _value(self, value: Any, slot: Slot, where: str, resource: Node, root: Node) -> None:
        if slot.primitive:
            self._primitive(value, slot, where)
            return
        if not isinstance(value, dict):
            self.emit("FB-FHIR-014", f"{slot.type} must be a JSON object", where, _short(value), "object", None)
            return
        if slot.model == "Resource":
            # a contained resource's %rootResource is its container; a bundle entry is a root of its own
            self.resource(value, where, root if slot.key == "contained" else None)
            return
        model = self.defs.models.get(slot.model or "")
        if model is None:
            return  # a type the definitions do not describe (none in R4 or R5 core)
        if slot.type == "Reference":
            reference = value.get("reference")
            if isinstance(reference, str):
                self.references.append(Reference(f"{where}.reference", reference, slot.targets))
        elif slot.type == "Coding":
            self._coding(value, slot, where)
        elif slot.type == "CodeableConcept":
            self._concept(value, slot, where)
        self._object(value, model, where, resource, root, slot.type)

    # --- primitives ----------------------------------------------------------------------------------------
    def _primitive(self, value: Any, slot: Slot, where: str) -> None:
        kind = slot.type
        if value is None:
            self.emit("FB-FHIR-018", "ele-1: null is not a value; leave the element out instead", where, None,
                      "a value", None)
            return
        if kind == "boolean":
            if not isinstance(value, bool):
                self._bad(where, value, kind, "true or false")
            return
        if kind in _INT_RANGE:
            if isinstance(value, bool) or not isinstance(value, int):
                self._bad(where, value, kind, f"a JSON number without a fraction ({kind})")
            else:
                low, high = _INT_RANGE[kind]
                if not low <= value <= high:
                    self._bad(where, value, kind, f"{kind} between {low} and {high}")
            return
        if kind == "decimal":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self._bad(where, value, kind, "a JSON number")
            return
        if not isinstance(value, str):
            self._bad(where, value, kind, f"a JSON string ({kind})")
            return
        pattern = self.defs.primitive_patterns.get(kind)
        if pattern is not None and (len(value) > STRING_LIKE_LIMIT or pattern(value) is None):
            self._bad(where, value, kind, f"a valid {kind}")
            return
        if kind in ("date", "dateTime", "instant") and not real_date(value):
            self._bad(where, value, kind, "a calendar date that exists")
            return
        if slot.codes is not None and value not in slot.codes:
            self.emit("FB-FHIR-017", f"code {value!r} is not in the required value set {slot.binding}", where,
                      value, f"one of {', '.join(sorted(slot.codes))}", None)

    def _bad(self, where: str, value: Any, kind: str, expected: str) -> None:
        self.emit("FB-FHIR-015", f"{_short(value)!r} is not a valid {kind}", where, _short(value), expected, None)

    def _primitive_extensions(self, value: Any, slot: Slot, where: str, resource: Node, root: Node) -> None:
        """``_name``: the id and extensions of a primitive (an array parallel to ``name`` when it repeats)."""
        element = self.defs.models["Element"]
        items = value if isinstance(value, list) else [value]
        if slot.many and not isinstance(value, list):
            self.emit("FB-FHIR-014", f"_{slot.key} must be an array parallel to {slot.key}", f"{where}", _short(value),
                      "array", None)
            return
        for i, item in enumerate(items):
            if item is None:
                continue
            at = f"{where}[{i}]" if slot.many else where
            if not isinstance(item, dict):
                self.emit("FB-FHIR-014", "the extensions of a primitive must be a JSON object", at, _short(item),
                          "object", None)
                continue
            self._object(item, element, at, resource, root, "Element")

    # --- terminology ---------------------------------------------------------------------------------------
    def _coding(self, coding: Node, slot: Slot, where: str) -> None:
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            system = code = None  # absent or malformed: reported by the structure rules
        own = self.options.own_codes.get(system) if system is not None else None
        if own is not None and code not in own:
            self.emit("FB-FHIR-030", f"code {code!r} is not defined in {system}", f"{where}.code", code,
                      f"a code of {system}", None)
        if slot.pairs is not None and (system, code) not in slot.pairs:
            self.emit("FB-FHIR-017", f"{system}|{code} is not in the required value set {slot.binding}", where,
                      f"{system}|{code}", f"a code of {slot.binding}", None)

    def _concept(self, concept: Node, slot: Slot, where: str) -> None:
        if slot.pairs is None:
            return
        codings = concept.get("coding") if isinstance(concept.get("coding"), list) else []
        if not any(isinstance(c, dict) and isinstance(c.get("system"), str) and isinstance(c.get("code"), str)
                   and (c["system"], c["code"]) in slot.pairs for c in codings):
            found = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings if isinstance(c, dict)) or None
            self.emit("FB-FHIR-017", f"no coding from the required value set {slot.binding}", where, found,
                      f"a code of {slot.binding}", None)

    # --- invariants ----------------------------------------------------------------------------------------
    def _invariants(self, node: Node, model: NodeModel, path: str, resource: Node, root: Node) -> None:
        for constraint in model.constraints:
            ident = constraint.ident
            if ident in BY_BUNDLE_LAYER:
                continue
            if constraint.best_practice and not self.options.best_practice:
                continue
            gate = GATES.get(ident)
            if gate is not None and not any(k in node for k in gate):
                continue
            release = self.defs.release
            check = COMPILED_OF[release].get(ident) or fhirpath(model.name, constraint.expression, release)
            try:
                ok = check(node, resource, root)
            except (NotEvaluable, TypeError, AttributeError, ValueError, KeyError) as exc:
                # malformed content (already reported by the structure rules) or an expression fhirpathpy lacks
                if ident not in self.not_evaluated:
                    self.not_evaluated.add(ident)
                    self.emit("FB-FHIR-023", f"{constraint.key} could not be evaluated: {exc}", path, None,
                              constraint.expression, None)
                continue
            if not ok:
                self._violated(constraint, path)

    def _violated(self, constraint: Constraint, path: str) -> None:
        if constraint.best_practice:
            self.emit("FB-FHIR-019", f"{constraint.key}: {constraint.human}", path, None, constraint.expression, None)
        else:
            self.emit("FB-FHIR-018", f"{constraint.key}: {constraint.human}", path, None, constraint.expression,
                      "warning" if constraint.severity == "warning" else "error")


def _short(value: Any) -> Any:
    """A value small enough to show in a report."""
    if isinstance(value, dict | list):
        text = str(value)
        return text if len(text) <= 80 else text[:77] + "..."
    if isinstance(value, str) and len(value) > 200:
        return value[:197] + "..."
    return value

