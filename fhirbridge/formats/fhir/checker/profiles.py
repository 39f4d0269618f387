"""fhirbridge's profiles, checked on any resource that claims one in ``meta.profile``: the codes that identify
it and the components it must hold; and the SCI content of any Observation, whatever its profile: a value coded
as something fhirbridge knows (LOINC 97843-7, the AIS grade; an ISNCSCI level, zone or score; an ISNCSCI cell;
a SCIM-III item or score) must be a value that code allows, so that third-party content is held to the same
rules as fhirbridge's own.

The facts come from where they already live: URLs and codes from the FHIR mapping spec, the ISNCSCI cells
and SCIM-III items from the domain modules, our CodeSystems from the terminology module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic.alias_generators import to_camel

from fhirbridge.domains.isncsci.structure import CLASSIFICATION_TITLES, EXAM_EXTRAS, cell_code, cells, value_pattern
from fhirbridge.domains.scim import ITEMS, score_maxima
from fhirbridge.formats.fhir.terminology import concepts
from fhirbridge.mapping.fhir_mapping import FhirMapping, load_fhir_mapping
from fhirbridge.records.isncsci import classification_problem

Node = dict[str, Any]
Emit = Callable[[str, str, str, Any, "str | None", "str | None"], None]
ProfileCheck = Callable[[Node, str, Emit], None]
#: at most this many (cell, value) pairs known to match are kept (the worksheet allows a few hundred)
_ALLOWED_KEPT = 10_000


def _codings(concept: Any) -> list[tuple[Any, Any]]:
    if not isinstance(concept, dict) or not isinstance(concept.get("coding"), list):
        return []
    return [(c.get("system"), c.get("code")) for c in concept["coding"]
            if isinstance(c, dict) and isinstance(c.get("system"), str) and isinstance(c.get("code"), str)]


class OwnProfiles:
    """The checks of each fhirbridge profile, by profile URL."""

    def __init__(self, mapping: FhirMapping) -> None:
        self.mapping = mapping
        self.canonical = mapping.canonical
        s = mapping.systems
        self.isncsci, self.scim, self.isncsci_value = s["isncsci"], s["scim"], s["isncsci_value"]
        p = mapping.profiles
        self.checks: dict[str, ProfileCheck] = {
            p["isncsci_exam"]: self._isncsci_exam,
            p["isncsci_value"]: self._isncsci_value,
            p["scim_panel"]: self._scim_panel,
            p["scim_score"]: self._scim_score,
            p["infusion"]: self._coded("stem_cell_transplantation"),
            p["harvest"]: self._coded("bone_marrow_aspiration"),
            p["Condition"]: self._coded("spinal_cord_injury"),
        }
        self.known = frozenset(p.values())
        self._cell_patterns = {cell_code(*c): value_pattern(c[1]) for c in cells()}
        self._allowed: set[tuple[str, str]] = set()  # (cell code, value) pairs that matched the cell's pattern
        optional = {code for code in EXAM_EXTRAS if "LowestNonKeyMuscle" in code}  # only when one was found
        self._exam_components = (*self._cell_patterns, *(code for code in EXAM_EXTRAS if code not in optional))
        self._classification_fields = {to_camel(f): f for f in CLASSIFICATION_TITLES}
        self._classification_codes = frozenset(self._classification_fields)
        self.ais = (mapping.codes["ais"].code, mapping.systems[mapping.codes["ais"].system])
        self._scores = {k.replace("_", "-"): maximum for k, maximum in score_maxima().items()}
        #: ``found``: ``_components`` of the resource this thread is checking, by system (an exam's are asked for
        #: by its profile check and by its content check; the service checks resources in several threads)
        self._local = threading.local()

    def check(self, resource: Node, path: str, emit: Emit) -> None:
        self._local.found = {}
        meta = resource.get("meta")
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        for i, url in enumerate(profiles if isinstance(profiles, list) else []):
            check = self.checks.get(url) if isinstance(url, str) else None
            if check is not None:
                check(resource, path, emit)
            elif isinstance(url, str) and url.startswith(self.canonical) and url not in self.known:
                emit("FB-FHIR-034", f"{url} is not a fhirbridge profile", f"{path}.meta.profile[{i}]", url,
                     "a profile fhirbridge publishes", None)
        if resource.get("resourceType") == "Observation":
            self._content(resource, path, emit)

    # --- SCI content, whatever the profile ----------------------------------------------------------------
    def _content(self, resource: Node, path: str, emit: Emit) -> None:
        codes = _codings(resource.get("code"))
        for system, code in codes:
            if system == self.ais[1] and code == self.ais[0]:
                self._classification_value(resource, path, emit, "asia_impairment_scale", f"LOINC {code}")
                return
        for system, code in codes:
            if system == self.isncsci and code in self._classification_fields:
                self._classification_value(resource, path, emit, self._classification_fields[code], code)
            elif system == self.isncsci and code == "isncsci-exam":
                self._exam_cells(resource, path, emit)
            elif system == self.scim and code == "panel":
                self._scim_items(resource, path, emit)
            elif system == self.scim and code in self._scores:
                self._score_range(resource, path, emit, code)
            else:
                continue
            return

    def _classification_value(self, resource: Node, path: str, emit: Emit, field: str, what: str) -> None:
        at, value = _observed(resource)
        if value is None:
            return
        problem = classification_problem(field, value)
        concept = resource.get("valueCodeableConcept")
        if problem is not None and isinstance(concept, dict):  # a coded answer may say it in its code or display
            codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
            spelled = [c.get(key) for c in codings for key in ("code", "display")]
            if any(isinstance(v, str) and classification_problem(field, v) is None for v in spelled):
                problem = None
        if problem is not None:
            emit("FB-FHIR-035", f"{what} ({CLASSIFICATION_TITLES[field]}): {problem}", f"{path}.{at}", value,
                 "a value the ISNCSCI classification allows", None)

    def _exam_cells(self, resource: Node, path: str, emit: Emit) -> None:
        """Each worksheet cell's value (its first code of the ISNCSCI value system, else its text) is one the cell
        allows: one loop over some 136 components per exam, without building the pairs of every coding, and a
        (cell, value) pair known to match is not matched again."""
        allowed, patterns, value_system = self._allowed, self._cell_patterns, self.isncsci_value
        for code, (i, component) in self._components(resource, path, self.isncsci).items():
            concept = component.get("valueCodeableConcept")
            if not isinstance(concept, dict):
                continue  # no value to check (a cell given another way is the structure rules' business)
            value = None
            coding = concept.get("coding")
            for c in coding if isinstance(coding, list) else ():
                if isinstance(c, dict) and c.get("system") == value_system and isinstance(c.get("code"), str):
                    value = c["code"]
                    break
            else:
                value = concept.get("text")
            if value is None:
                continue
            if isinstance(value, str) and (code, value) in allowed:
                continue
            pattern = patterns.get(code)
            if pattern is None:
                continue
            if isinstance(value, str) and pattern.fullmatch(value):
                if len(allowed) < _ALLOWED_KEPT:
                    allowed.add((code, value))  # a cell's values are few: each is matched once
                continue
            emit("FB-FHIR-035", f"{code}: {value!r} is not a value this cell allows",
                 f"{path}.component[{i}].valueCodeableConcept", value, pattern.pattern, None)

    def _scim_items(self, resource: Node, path: str, emit: Emit) -> None:
        found = self._components(resource, path, self.scim)
        for key, item in ITEMS.items():
            i, component = found.get(f"item-{key}", (None, None))
            score = component.get("valueInteger") if component is not None else None
            if score is not None and score not in item.allowed:
                emit("FB-FHIR-035", f"SCIM-III item {key} ({item.title}) scored {score!r}",
                     f"{path}.component[{i}].valueInteger", score, f"one of {', '.join(map(str, item.allowed))}",
                     None)

    def _score_range(self, resource: Node, path: str, emit: Emit, code: str) -> None:
        at, score = _observed(resource)
        if score is None:
            return
        if not (isinstance(score, str) and score.isdecimal() and 0 <= int(score) <= self._scores[code]):
            emit("FB-FHIR-035", f"SCIM-III {code} score {score!r} is outside 0-{self._scores[code]}", f"{path}.{at}",
                 score, f"an integer from 0 to {self._scores[code]}", None)

    # --- profiles --------------------------------------------------------------------------------------
    def _require_code(self, resource: Node, path: str, emit: Emit, system: str, codes: set[str] | frozenset[str],
                      what: str) -> str | None:
        found = [code for sys, code in _codings(resource.get("code")) if sys == system and code in codes]
        if not found:
            emit("FB-FHIR-031", f"{resource.get('resourceType')} claims the {what} profile but its code has no "
                 f"coding from {system} ({', '.join(sorted(codes)) if len(codes) < 6 else what})", f"{path}.code",
                 ", ".join(f"{s}|{c}" for s, c in _codings(resource.get("code"))) or None,
                 f"{system}|{' or '.join(sorted(codes)) if len(codes) < 6 else '...'}", None)
            return None
        return found[0]

    def _coded(self, key: str) -> ProfileCheck:
        coding = self.mapping.coding(key)

        def check(resource: Node, path: str, emit: Emit) -> None:
            self._require_code(resource, path, emit, coding["system"], {coding["code"]}, key.replace("_", " "))

        return check

    def _components(self, resource: Node, path: str, system: str) -> dict[str, tuple[int, Node]]:
        """The first component holding each code of ``system`` (a code given as text), with its index."""
        known: dict[str, dict[str, tuple[int, Node]]] = self._local.__dict__.setdefault("found", {})
        if system in known:
            return known[system]
        found: dict[str, tuple[int, Node]] = known.setdefault(system, {})
        components = resource.get("component")
        for i, component in enumerate(components if isinstance(components, list) else ()):
            concept = component.get("code") if isinstance(component, dict) else None
            coding = concept.get("coding") if isinstance(concept, dict) else None
            for c in coding if isinstance(coding, list) else ():  # every code of ``system``, in order
                if isinstance(c, dict) and c.get("system") == system:
                    value = c.get("code")
                    if isinstance(value, str) and value not in found:
                        found[value] = (i, component)
        return found

    def _isncsci_exam(self, resource: Node, path: str, emit: Emit) -> None:
        self._require_code(resource, path, emit, self.isncsci, {"isncsci-exam"}, "ISNCSCI exam")
        found = self._components(resource, path, self.isncsci)
        missing = [code for code in self._exam_components if code not in found]
        if missing:
            emit("FB-FHIR-032", f"ISNCSCI exam lacks {len(missing)} of its {len(self._exam_components)} required "
                 f"components: {', '.join(missing[:8])}{', ...' if len(missing) > 8 else ''}", f"{path}.component",
                 len(found), "one component per worksheet cell, VAC and DAP", None)

    def _isncsci_value(self, resource: Node, path: str, emit: Emit) -> None:
        self._require_code(resource, path, emit, self.isncsci, self._classification_codes,
                           "ISNCSCI classification value")
        if not resource.get("derivedFrom"):
            emit("FB-FHIR-032", "an ISNCSCI classification value must name the exam it is derived from",
                 f"{path}.derivedFrom", None, "a reference to the ISNCSCI exam panel", None)

    def _scim_panel(self, resource: Node, path: str, emit: Emit) -> None:
        self._require_code(resource, path, emit, self.scim, {"panel"}, "SCIM-III panel")
        found = self._components(resource, path, self.scim)
        missing = [f"item-{k}" for k in ITEMS if f"item-{k}" not in found]
        if missing:
            emit("FB-FHIR-032", f"SCIM-III panel lacks the item(s) {', '.join(missing)}", f"{path}.component",
                 len(found), "one component per SCIM-III item (19)", None)
        for key in ITEMS:
            i, component = found.get(f"item-{key}", (None, None))
            if component is None:
                continue
            if component.get("valueInteger") is None and "dataAbsentReason" not in component:
                emit("FB-FHIR-032", f"SCIM-III item {key} has neither a score nor a reason for its absence",
                     f"{path}.component[{i}]", None, "valueInteger or dataAbsentReason", None)

    def _scim_score(self, resource: Node, path: str, emit: Emit) -> None:
        self._require_code(resource, path, emit, self.scim, frozenset(self._scores), "SCIM-III score")
        if "valueInteger" not in resource:
            emit("FB-FHIR-033", "a SCIM-III score of fhirbridge's profile is a whole number", f"{path}.value[x]",
                 next((k for k in resource if k.startswith("value")), None), "valueInteger", None)




def _observed(resource: Node) -> tuple[str, str | None]:
    """(element, text) of an Observation's value as the ISNCSCI notation writes it: a number, a string, or the text
    (else the first code) of a CodeableConcept."""
    for key in ("valueInteger", "valueString", "valueQuantity", "valueCodeableConcept"):
        value = resource.get(key)
        if value is None:
            continue
        if key == "valueQuantity":
            value = value.get("value") if isinstance(value, dict) else None
        if isinstance(value, dict):
            text = value.get("text")
            codes = [code for _, code in _codings(value)]
            value = text if isinstance(text, str) else codes[0] if codes else None
        if isinstance(value, bool) or value is None:
            return key, None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return key, str(value)
    return "value[x]", None


@cache
def own_profiles() -> OwnProfiles:
    return OwnProfiles(load_fhir_mapping())


@cache
def own_codes() -> dict[str, frozenset[str]]:
    """fhirbridge's CodeSystems by URL, for the terminology check of every coding that names one."""
    systems = load_fhir_mapping().systems
    return {systems[key]: frozenset(codes) for key, codes in concepts().items()}
