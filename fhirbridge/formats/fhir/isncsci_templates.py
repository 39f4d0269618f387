"""An ISNCSCI exam's resources from templates (``fhirbridge.formats.fhir.templates``): the same bytes as
``write_isncsci.exam_resources`` gives, without building them as dicts when their shape is proven.

The panel's template has one elements hole for its worksheet components (~136, each one of a few values per
cell, serialised once per process); each classification value Observation has a template per field, method,
kind of value (and the value itself where it is coded) and which optional elements it has.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from operator import itemgetter
from typing import Any

import orjson

from fhirbridge.domains.isncsci.structure import EXAM_EXTRAS, cell_code, cell_title, cells
from fhirbridge.formats.fhir.context import FhirContext, resource_ids
from fhirbridge.formats.fhir.templates import Elements, Hole, Items, Runs, Written, template
from fhirbridge.formats.fhir.write_isncsci import (
    cell_component,
    classification_values,
    non_key_muscle_component,
    panel_resource,
    value_kind,
    value_observation,
)
from fhirbridge.records import IsncsciClassification, IsncsciExam


def _groups() -> list[tuple[str, str, Callable[[dict[str, str]], tuple[str, ...]], list[tuple[str, str]]]]:
    """The worksheet cells in order, grouped by side and modality: (side, modality, the values of the group's
    levels from the side's dict, [(code, title)])."""
    groups: list[tuple[str, str, list[str]]] = []
    for side, modality, level in cells():
        if not groups or groups[-1][:2] != (side, modality):
            groups.append((side, modality, []))
        groups[-1][2].append(level)
    return [
        (
            side,
            modality,
            _values_of(levels),
            [(cell_code(side, modality, level), cell_title(side, modality, level)) for level in levels],
        )
        for side, modality, levels in groups
    ]


def _values_of(levels: list[str]) -> Callable[[dict[str, str]], tuple[str, ...]]:
    get = itemgetter(*levels)
    return get if len(levels) > 1 else lambda values: (get(values),)


_GROUPS = _groups()
_STUDY = Hole(("extension", 0, "valueReference", "reference"), "ResearchStudy")
_VISIT = Hole(("extension", 1, "valueString"))
_SUBJECT = Hole(("subject", "reference"), "Patient")


def exam_written(ctx: FhirContext, exam: IsncsciExam, computed: IsncsciClassification | None = None) -> list[Written]:
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
        self.value_id = resource_ids("isncsci-value", *self.key)  # a value Observation's, by its field
        self.study = ctx.resource_id("ResearchStudy", exam.study_id)
        self.patient = ctx.resource_id("Patient", exam.study_id, exam.subject_id)
        self.source = ctx.source(exam)
        self.dated = bool(exam.exam_date)


def _panel(ctx: FhirContext, exam: IsncsciExam, shared: _Shared, members: list[str]) -> Written:
    source = shared.source
    items = _items(ctx, exam)
    count = sum(len(run.keys) for run in items)
    key = (
        "template",
        "isncsci-exam",
        source is not None,
        shared.dated,
        bool(exam.non_sci_condition),
        bool(exam.examiner),
        len(members),
    )

    def build() -> dict[str, Any]:
        return panel_resource(ctx, exam, members)

    values: list[Any] = [
        shared.panel,
        shared.study,
        exam.visit,
        ctx.record_id("isncsci", exam)["value"],
        shared.patient,
        items,
    ]
    if source is not None:
        values.append(source)
    if exam.exam_date:
        values.append(exam.exam_date)
    if exam.non_sci_condition:
        values.append(exam.non_sci_condition)
    if exam.examiner:
        values.append(exam.examiner)
    values.extend(members)

    def holes() -> list[Hole | Elements]:
        """In the order of ``values``."""
        found: list[Hole | Elements] = [
            Hole(("id",)),
            _STUDY,
            _VISIT,
            Hole(("identifier", 0, "value")),
            _SUBJECT,
            Elements(("component",), count),
        ]
        if source is not None:
            found.append(Hole(("meta", "source")))
        if exam.exam_date:
            found.append(Hole(("effectiveDateTime",)))
        if exam.non_sci_condition:
            found.append(Hole(("component", count, "valueString")))
        if exam.examiner:
            found.append(Hole(("performer", 0, "display")))
        found.extend(Hole(("hasMember", n, "reference"), "Observation") for n in range(len(members)))
        return found

    return Written(template(ctx.constants, key, build, holes), shared.panel, values, build)


def _items(ctx: FhirContext, exam: IsncsciExam) -> list[Items]:
    """The worksheet components of the panel (not the non-SCI condition): a run per side and modality, and one
    of the anal values and lowest non-key muscles."""
    runs: Runs = ctx.constants.setdefault(("isncsci-component-runs",), Runs())
    found = []
    for number, (side, modality, levels, group) in enumerate(_GROUPS):
        values = levels(getattr(getattr(exam, side), modality))
        found.append(runs.get((number, values), partial(_run, ctx, group, values)))
    lowest = (exam.right.lowest_non_key_muscle, exam.left.lowest_non_key_muscle)
    found.append(runs.get((exam.vac, exam.dap, lowest), partial(_others, ctx, exam.vac, exam.dap, lowest)))
    return found


def _run(ctx: FhirContext, group: list[tuple[str, str]], values: tuple[str, ...]) -> list[tuple[Any, bytes]]:
    return [_cell(ctx, code, title, value) for (code, title), value in zip(group, values, strict=True)]


def _cell(ctx: FhirContext, code: str, title: str, value: str) -> tuple[Any, bytes]:
    return (code, value), orjson.dumps(cell_component(ctx, code, title, value))


def _others(ctx: FhirContext, vac: str, dap: str, lowest: tuple[str | None, str | None]) -> list[tuple[Any, bytes]]:
    items = [
        _cell(ctx, "analContraction", EXAM_EXTRAS["analContraction"], vac),
        _cell(ctx, "analSensation", EXAM_EXTRAS["analSensation"], dap),
    ]
    for side, level in zip(("right", "left"), lowest, strict=True):
        if level is not None:
            items.append(
                ((side, "lowest-non-key-muscle", level), orjson.dumps(non_key_muscle_component(ctx, side, level)))
            )
    return items


def _value(ctx: FhirContext, exam: IsncsciExam, shared: _Shared, field: str, value: str, method: str) -> Written:
    rid = shared.value_id(field)
    source = shared.source
    kind = value_kind(field, value)
    key = (
        "template",
        "isncsci-value",
        field,
        method,
        kind,
        value if kind in ("ais_grade", "sci_level") else None,
        source is not None,
        shared.dated,
    )

    build = partial(value_observation, ctx, exam, field, value, method)
    values: list[Any] = [rid, shared.study, exam.visit, shared.patient, shared.panel]
    if source is not None:
        values.append(source)
    if shared.dated:
        values.append(exam.exam_date)
    if kind == "integer":
        values.append(int(value))
    elif kind in ("string", "text"):
        values.append(value)
    found = ctx.constants.get(key)
    if found is None:
        found = template(ctx.constants, key, build, partial(_value_holes, kind, source is not None, shared.dated))
    return Written(found, rid, values, build)


def _value_holes(kind: str, sourced: bool, dated: bool) -> list[Hole | Elements]:
    """In the order of ``_value``'s values."""
    holes: list[Hole | Elements] = [
        Hole(("id",)),
        _STUDY,
        _VISIT,
        _SUBJECT,
        Hole(("derivedFrom", 0, "reference"), "Observation"),
    ]
    if sourced:
        holes.append(Hole(("meta", "source")))
    if dated:
        holes.append(Hole(("effectiveDateTime",)))
    if kind in _VALUE_HOLES:
        holes.append(_VALUE_HOLES[kind])
    return holes


_VALUE_HOLES = {
    "integer": Hole(("valueInteger",)),
    "string": Hole(("valueString",)),
    "text": Hole(("valueCodeableConcept", "text")),
}
