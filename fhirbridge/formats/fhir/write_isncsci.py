"""IsncsciExam → one panel Observation holding every raw value, plus one Observation per classification value.

Raw values are CodeableConcepts of fhirbridge's ``isncsci-value`` CodeSystem, whose codes are the
worksheet notation itself (``4``, ``NT``, ``0*``, ``NT**``), so nothing is lost; the reason for ``*`` values
(the non-SCI condition) is a component of its own with a string value. Classification values
carry their text exactly as reported or computed (``B,C,D``, ``ND``, ``INT*``); a coding is added where the
value is one plain grade or level. The AIS grade is coded LOINC 97843-7.

The visit is fhirbridge's ``visit`` extension, on the panel and on each classification value (so that a value
found on its own, by a search for LOINC 97843-7, still says when it was taken); the examiner is
``performer.display``; ``method`` says whether the classification was reported by the site or computed by
fhirbridge. Only reported values are read back as the exam's classification: computed ones are derived again
from the raw exam.
"""

from __future__ import annotations

from typing import Any

from pydantic.alias_generators import to_camel

from fhirbridge.domains.isncsci.structure import (
    AIS_GRADES,
    CLASSIFICATION_TITLES,
    EXAM_EXTRAS,
    LEVEL_INDEX,
    NON_SCI_CONDITION,
    cell_code,
    cell_title,
    cells,
)
from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.records import IsncsciClassification, IsncsciExam

_LEVEL_FIELDS = {"neurological_level_of_injury", "right_sensory", "left_sensory", "right_motor", "left_motor"}


def exam_resources(
    ctx: FhirContext, exam: IsncsciExam, computed: IsncsciClassification | None = None
) -> list[Resource]:
    """The panel and its classification Observations; ``computed`` is used when the site reported none."""
    values, method = classification_values(exam, computed)
    members = [value_observation(ctx, exam, field, value, method) for field, value in values.items()]
    return [panel_resource(ctx, exam, [m["id"] for m in members]), *members]


def classification_values(exam: IsncsciExam, computed: IsncsciClassification | None) -> tuple[dict[str, str], str]:
    """The classification values written (the site's, else ``computed``) by field, and the method saying which."""
    classification, method = (exam.classification, "method_reported")
    if classification is None and computed is not None:
        classification, method = computed, "method_computed"
    return (classification.present() if classification is not None else {}), method


def panel_resource(ctx: FhirContext, exam: IsncsciExam, members: list[str]) -> Resource:
    """The panel, with ``hasMember`` naming the ids of its classification values."""
    panel = _panel(ctx, exam)
    if members:  # FHIR allows no empty array
        panel["hasMember"] = [{"reference": f"urn:uuid:{m}"} for m in members]
    return panel


def _panel(ctx: FhirContext, exam: IsncsciExam) -> Resource:
    components = [cell_component(ctx, code, title, exam.cell(*cell)) for code, title, cell in _CELLS]
    components.append(cell_component(ctx, "analContraction", EXAM_EXTRAS["analContraction"], exam.vac))
    components.append(cell_component(ctx, "analSensation", EXAM_EXTRAS["analSensation"], exam.dap))
    for side in ("right", "left"):
        level = getattr(exam, side).lowest_non_key_muscle
        if level is not None:
            components.append(non_key_muscle_component(ctx, side, level))
    if exam.non_sci_condition:
        components.append({"code": ctx.concept(ctx.coding("isncsci", *NON_SCI_CONDITION)),
                           "valueString": exam.non_sci_condition})
    code = ctx.concept(ctx.coding("isncsci", "isncsci-exam", "ISNCSCI examination"),
                       text="International Standards for Neurological Classification of SCI examination")
    resource = ctx.panel("isncsci-exam", "isncsci", "isncsci_exam", exam, exam.visit, "category_exam", code,
                         exam.exam_date)
    resource["component"] = components
    if exam.examiner:
        resource["performer"] = [{"display": exam.examiner}]
    return resource


#: every worksheet cell, in order, with its code and title
_CELLS = [(cell_code(*cell), cell_title(*cell), cell) for cell in cells()]


def non_key_muscle_component(ctx: FhirContext, side: str, level: str) -> dict[str, Any]:
    code = f"{side}LowestNonKeyMuscleWithMotorFunction"
    return _component(ctx, code, EXAM_EXTRAS[code], ctx.concept(ctx.coding("sci_level", level), text=level))


def cell_component(ctx: FhirContext, code: str, title: str, value: str) -> dict[str, Any]:
    """The component of a worksheet cell holding ``value``: the same in every exam with that value there, so
    built once (a panel has some 130 of them) and shared (``FhirContext.constants``)."""
    key = ("isncsci-cell", code, value)
    component = ctx.constants.get(key)
    if component is None:
        component = ctx.constants[key] = _component(ctx, code, title, _raw(ctx, value))
    return component


def _raw(ctx: FhirContext, value: str) -> dict[str, Any]:
    return ctx.concept(ctx.coding("isncsci_value", value), text=value)


def _component(ctx: FhirContext, code: str, title: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"code": ctx.concept(ctx.coding("isncsci", code, title)), "valueCodeableConcept": value}


def value_observation(ctx: FhirContext, exam: IsncsciExam, field: str, value: str, method: str) -> Resource:
    code = to_camel(field)
    codings = [ctx.coding("isncsci", code, CLASSIFICATION_TITLES[field])]
    if field == "asia_impairment_scale":
        codings.insert(0, ctx.mapping.coding("ais"))
    resource: Resource = {
        "resourceType": "Observation",
        "id": ctx.resource_id("isncsci-value", *exam.key(), field),
        "meta": ctx.meta("isncsci_value", exam),
        "extension": [ctx.study_ext(exam), ctx.visit_ext(exam.visit)],
        "status": "final",
        "category": [ctx.named("category_exam")],
        "code": ctx.concept(*codings),
        "subject": ctx.patient_ref(exam),
        "method": ctx.named(method),
        "derivedFrom": [ctx.reference("isncsci-exam", *exam.key())],
    }
    if exam.exam_date:
        resource["effectiveDateTime"] = exam.exam_date
    resource.update(_value(ctx, field, value))
    return resource


def _value(ctx: FhirContext, field: str, value: str) -> dict[str, Any]:
    """valueInteger for a determined score, otherwise a CodeableConcept whose text is the exact value."""
    kind = value_kind(field, value)
    if kind == "integer":
        return {"valueInteger": int(value)}
    if kind == "string":
        return {"valueString": value}
    if kind == "text":
        return {"valueCodeableConcept": ctx.concept(text=value)}
    return {"valueCodeableConcept": ctx.concept(ctx.coding(kind, value), text=value)}


_CODED_LEVEL_FIELDS = _LEVEL_FIELDS | {"right_sensory_zpp", "left_sensory_zpp", "right_motor_zpp", "left_motor_zpp"}


def value_kind(field: str, value: str) -> str:
    """How a classification value is written: ``integer`` (a determined score), ``string`` (another score),
    ``ais_grade`` or ``sci_level`` (a CodeableConcept coded in that system), ``text`` (a CodeableConcept with the
    value as text only)."""
    if field.endswith("_total"):
        return "integer" if value.isdigit() and str(int(value)) == value else "string"
    if field == "asia_impairment_scale" and value in AIS_GRADES:
        return "ais_grade"
    if field in _CODED_LEVEL_FIELDS and (value in LEVEL_INDEX or value == "INT"):
        return "sci_level"
    return "text"
