"""An ISNCSCI exam's resources from templates (``fhirbridge.formats.fhir.templates``): the same bytes as
``write_isncsci.exam_resources`` gives, without building them as dicts when their shape is proven.

The panel's template has one elements hole for its worksheet components (~136, each one of a few values per
cell, serialised once per process); each classification value Observation has a template per field, method,
kind of value (and the value itself where it is coded) and which optional elements it has.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhirbridge.domains.isncsci.structure import EXAM_EXTRAS, cell_code, cell_title, cells
from fhirbridge.formats.fhir.context import FhirContext
from fhirbridge.formats.fhir.templates import Elements, Hole, Written, template
from fhirbridge.formats.fhir.write_isncsci import (
    cell_component,
    classification_values,
    non_key_muscle_component,
    panel_resource,
    value_kind,
    value_observation,
)
from fhirbridge.records import IsncsciClassification, IsncsciExam


def _groups() -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """The worksheet cells in order, grouped by side and modality: (side, modality, [(level, code, title)])."""
    groups: list[tuple[str, str, list[tuple[str, str, str]]]] = []
    for side, modality, level in cells():
        if not groups or groups[-1][:2] != (side, modality):
            groups.append((side, modality, []))
        groups[-1][2].append((level, cell_code(side, modality, level), cell_title(side, modality, level)))
    return groups


_GROUPS = _groups()
_STUDY = Hole(("extension", 0, "valueReference", "reference"), "ResearchStudy")
_VISIT = Hole(("extension", 1, "valueString"))
_SUBJECT = Hole(("subject", "reference"), "Patient")


def exam_written(ctx: FhirContext, exam: IsncsciExam, computed: IsncsciClassification | None = None
                 ) -> list[Written]:
    """The panel and its classification Observations, as ``write_isncsci.exam_resources`` makes them."""
    values, method = classification_values(exam, computed)
    shared = _Shared(ctx, exam)
    members = [_value(ctx, exam, shared, field, value, method) for field, value in values.items()]
    return [_panel(ctx, exam, shared, [m.rid for m in members]), *members]


class _Shared:
    """What the panel and every value Observation of an exam hold alike."""

    def __init__(self, ctx: FhirContext, exam: IsncsciExam) -> None:
        self.key = exam.key()
        self.panel = ctx.resource_id("isncsci-exam", *self.key)
        self.study = ctx.resource_id("ResearchStudy", exam.study_id)
        self.patient = ctx.resource_id("Patient", exam.study_id, exam.subject_id)
        self.source = ctx.source(exam)
        self.dated = bool(exam.exam_date)


def _panel(ctx: FhirContext, exam: IsncsciExam, shared: _Shared, members: list[str]) -> Written:
    source = shared.source
    items = _items(ctx, exam)
    key = ("template", "isncsci-exam", source is not None, shared.dated, bool(exam.non_sci_condition),
           bool(exam.examiner), len(members))

    def build() -> dict[str, Any]:
        return panel_resource(ctx, exam, members)

    values: list[Any] = [shared.panel, shared.study, exam.visit, ctx.record_id("isncsci", exam)["value"],
                         shared.patient, items]
    holes: list[Hole | Elements] = [Hole(("id",)), _STUDY, _VISIT, Hole(("identifier", 0, "value")), _SUBJECT,
                                    Elements(("component",), len(items))]
    if source is not None:
        holes.append(Hole(("meta", "source")))
        values.append(source)
    if exam.exam_date:
        holes.append(Hole(("effectiveDateTime",)))
        values.append(exam.exam_date)
    if exam.non_sci_condition:
        holes.append(Hole(("component", len(items), "valueString")))
        values.append(exam.non_sci_condition)
    if exam.examiner:
        holes.append(Hole(("performer", 0, "display")))
        values.append(exam.examiner)
    for n, member in enumerate(members):
        holes.append(Hole(("hasMember", n, "reference"), "Observation"))
        values.append(member)
    return Written(template(ctx.constants, key, build, holes), shared.panel, values, build)


def _items(ctx: FhirContext, exam: IsncsciExam) -> list[tuple[Any, bytes]]:
    """The worksheet components of the panel (not the non-SCI condition), each as (key, its JSON)."""
    serialised: dict[Any, bytes] = ctx.constants.setdefault(("isncsci-component-bytes",), {})
    items: list[tuple[Any, bytes]] = []
    for side, modality, group in _GROUPS:
        values = getattr(getattr(exam, side), modality)
        for level, code, title in group:
            key = (code, values[level])
            data = serialised.get(key)
            if data is None:
                data = serialised[key] = orjson.dumps(cell_component(ctx, code, title, key[1]))
            items.append((key, data))
    for code, value in (("analContraction", exam.vac), ("analSensation", exam.dap)):
        key = (code, value)
        data = serialised.get(key)
        if data is None:
            data = serialised[key] = orjson.dumps(cell_component(ctx, code, EXAM_EXTRAS[code], value))
        items.append((key, data))
    for side in ("right", "left"):
        level = getattr(exam, side).lowest_non_key_muscle
        if level is not None:
            key = (side, "lowest-non-key-muscle", level)
            data = serialised.get(key)
            if data is None:
                data = serialised[key] = orjson.dumps(non_key_muscle_component(ctx, side, level))
            items.append((key, data))
    return items


def _value(ctx: FhirContext, exam: IsncsciExam, shared: _Shared, field: str, value: str, method: str) -> Written:
    rid = ctx.resource_id("isncsci-value", *shared.key, field)
    source = shared.source
    kind = value_kind(field, value)
    key = ("template", "isncsci-value", field, method, kind, value if kind in ("ais_grade", "sci_level") else None,
           source is not None, shared.dated)

    def build() -> dict[str, Any]:
        return value_observation(ctx, exam, field, value, method)

    values: list[Any] = [rid, shared.study, exam.visit, shared.patient, shared.panel]
    holes: list[Hole | Elements] = [Hole(("id",)), _STUDY, _VISIT, _SUBJECT,
                                    Hole(("derivedFrom", 0, "reference"), "Observation")]
    if source is not None:
        holes.append(Hole(("meta", "source")))
        values.append(source)
    if exam.exam_date:
        holes.append(Hole(("effectiveDateTime",)))
        values.append(exam.exam_date)
    if kind == "integer":
        holes.append(Hole(("valueInteger",)))
        values.append(int(value))
    elif kind == "string":
        holes.append(Hole(("valueString",)))
        values.append(value)
    elif kind == "text":
        holes.append(Hole(("valueCodeableConcept", "text")))
        values.append(value)
    return Written(template(ctx.constants, key, build, holes), rid, values, build)
