"""The ISNCSCI panel Observation and its classification Observations → IsncsciExam. The inverse of
``write_isncsci``.

Classification values whose ``method`` says fhirbridge computed them are not read back as a reported
classification: they were derived from the raw exam, and are derived again, so that records → FHIR → records
is the identity. Values without a method (from other producers) count as reported.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.alias_generators import to_camel

from fhirbridge.domains.isncsci.structure import CLASSIFICATION_TITLES, NON_SCI_CONDITION, cell_code, cells
from fhirbridge.formats.fhir.read_context import Item, ReadContext, code_in, date_only
from fhirbridge.records import IsncsciExam, Subject

_EXTRAS = {"analContraction": "vac", "analSensation": "dap",
           "rightLowestNonKeyMuscleWithMotorFunction": "right.lowest_non_key_muscle",
           "leftLowestNonKeyMuscleWithMotorFunction": "left.lowest_non_key_muscle"}


@cache
def _cell_fields() -> dict[str, str]:
    """Component code → record field path (``c5RightMotor`` → ``right.motor.C5``), VAC, DAP and non-key muscles."""
    fields = {cell_code(side, modality, level): f"{side}.{modality}.{level}" for side, modality, level in cells()}
    return {**fields, **_EXTRAS}


@cache
def _cells() -> dict[str, tuple[str, tuple[str, ...], str, bool]]:
    """Component code → (record field path, its parents, its leaf, whether the value is a level)."""
    found = {}
    for code, field in _cell_fields().items():
        *parents, leaf = field.split(".")
        found[code] = (field, tuple(parents), leaf, "lowest" in field)
    return found


@cache
def _classification_fields() -> dict[str, str]:
    return {to_camel(field): field for field in CLASSIFICATION_TITLES}


def is_exam(ctx: ReadContext, concept: Any) -> bool:
    return code_in(concept, ctx.system("isncsci")) == "isncsci-exam"


def classification_field(ctx: ReadContext, concept: Any) -> str | None:
    """The classification field an Observation code stands for (the AIS grade also by its LOINC code)."""
    code = code_in(concept, ctx.system("isncsci"))
    if code in _classification_fields():
        return _classification_fields()[code]
    system, loinc = ctx.named("ais")
    return "asia_impairment_scale" if code_in(concept, system) == loinc else None


def is_computed(item: Item) -> bool:
    """A value fhirbridge derived (its method says so), as opposed to one a site reported."""
    method = item.get("method")
    system, computed = item.ctx.named("method_computed")
    return code_in(method, system) == computed


def read_exam(panel: Item, members: list[Item], subject: Subject) -> IsncsciExam | None:
    ctx = panel.ctx
    values: dict[str, Any] = {"study_id": subject.study_id, "subject_id": subject.subject_id,
                              "right": {"motor": {}, "light_touch": {}, "pin_prick": {}},
                              "left": {"motor": {}, "light_touch": {}, "pin_prick": {}}}
    columns: dict[str, str] = {}
    at, visit = panel.extension_value("visit", "valueString")
    values["visit"], columns["visit"] = visit, at or "extension"
    values["exam_date"] = date_only(panel, panel.get("effectiveDateTime"), "effectiveDateTime")
    columns["exam_date"] = "effectiveDateTime"
    performers = panel.get("performer") or []
    if performers:
        values["examiner"], columns["examiner"] = performers[0].get("display"), "performer[0].display"
    for element in ("status", "category", "code", "subject", "identifier", "hasMember"):
        panel.get(element)
    panel.extensions("research_study")
    value_system, level_system = ctx.system("isncsci_value"), ctx.system("sci_level")
    # some 136 components an exam: what each code means is looked up once per process (``_cells``)
    isncsci, cells_by_code, non_sci = ctx.system("isncsci"), _cells(), NON_SCI_CONDITION[0]
    for i, component in enumerate(panel.get("component") or []):
        code = code_in(component.get("code"), isncsci)
        if code == non_sci:
            values["non_sci_condition"], columns["non_sci_condition"] = component.get("valueString"), \
                f"component[{i}].valueString"
            continue
        cell = cells_by_code.get(code or "")
        if cell is None:
            panel.issue("FB-FHIR-056", "a component with a code fhirbridge does not know is not converted",
                        f"component[{i}].code")
            continue
        field, parents, leaf, level = cell
        concept = component.get("valueCodeableConcept") or {}
        value = code_in(concept, level_system if level else value_system) or concept.get("text")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        columns[field] = f"component[{i}].valueCodeableConcept"
    classification = _classification(members, visit)
    if classification:
        values["classification"] = classification
    return panel.build(IsncsciExam, values, columns)




def _classification(members: list[Item], visit: Any) -> dict[str, str]:
    """The reported classification values of the exam's member Observations, by field."""
    found: dict[str, str] = {}
    for member in members:
        for element in ("status", "category", "code", "subject", "derivedFrom", "effectiveDateTime"):
            member.get(element)
        member.extensions("research_study")
        member.member_of_visit(visit)
        field = classification_field(member.ctx, member.resource.get("code"))
        if field is None:
            member.reject("FB-FHIR-055", "derived from an ISNCSCI exam but not one of its classification values; it "
                         "is not converted", "code")
            continue
        if is_computed(member):
            _value(member)  # computed from the raw exam: derived again, not read
            continue
        if field in found:
            member.reject("FB-FHIR-061", f"the exam has a second {field}; it is not converted", "code")
            continue
        value = _value(member)
        if value is not None:
            found[field] = value
    return found


def _value(member: Item) -> str | None:
    """The exact text of a classification value: a whole number, or the text of a coded or string value."""
    if (number := member.get("valueInteger")) is not None:
        return str(number)
    if (text := member.get("valueString")) is not None:
        return str(text)
    concept = member.get("valueCodeableConcept") or {}
    return concept.get("text") or next((c.get("code") for c in concept.get("coding", [])), None)
