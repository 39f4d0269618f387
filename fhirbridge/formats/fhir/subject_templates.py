"""A subject's Patient, ResearchSubject and Condition from templates (``fhirbridge.formats.fhir.templates``): the
same bytes as ``write_subject`` gives, without building and screening them as dicts once their shape is proven.

What decides the constant parts is in the shape: the gender (a code of a required binding), the age (its Age's
value is read by age-1, so it is never a hole), the injury level (a code of fhirbridge's own CodeSystem, checked
by the screen's own-code rule), and which optional elements there are. The holes are the ids, identifiers,
dates and references. The ResearchSubject's ``period`` holds a start only: per-1 compares a start with an end,
and with no end it holds whatever the start is.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.formats.fhir.templates import Hole, Written, template
from fhirbridge.formats.fhir.write_subject import injury, patient, research_subject, subject_identifier_system
from fhirbridge.records import Subject

_SOURCE = Hole(("meta", "source"))
_PATIENT = Hole(("subject", "reference"), "Patient")


def patient_written(ctx: FhirContext, subject: Subject) -> Written | Resource:
    """``write_subject.patient`` from a template."""
    rid = ctx.resource_id("Patient", subject.study_id, subject.subject_id)
    source = ctx.source(subject)
    shape = (
        "template",
        "Patient",
        source is not None,
        ctx.mapped("sex", subject.sex),
        bool(subject.birth_date),
        subject.age,
    )
    values: list[Any] = [rid, subject_identifier_system(ctx, subject.study_id), subject.subject_id]
    holes: list[Hole] = [Hole(("id",)), Hole(("identifier", 0, "system")), Hole(("identifier", 0, "value"))]
    _optional(values, holes, source, _SOURCE, source is not None)
    _optional(values, holes, subject.birth_date, Hole(("birthDate",)))
    build = partial(patient, ctx, subject)
    return Written(template(ctx.constants, shape, build, lambda: holes), rid, values, build)


def research_subject_written(ctx: FhirContext, subject: Subject) -> Written | Resource:
    """``write_subject.research_subject`` from a template (R4 and R4B: R5 has another shape, built whole)."""
    if ctx.r5:
        return research_subject(ctx, subject)
    rid = ctx.resource_id("ResearchSubject", subject.study_id, subject.subject_id)
    source = ctx.source(subject)
    system = subject_identifier_system(ctx, subject.study_id)
    shape = ("template", "ResearchSubject", source is not None, bool(subject.enrolment_date))
    values: list[Any] = [
        rid,
        system,
        subject.usubjid,
        f"{system}/site",
        subject.site_id,
        ctx.resource_id("ResearchStudy", subject.study_id),
        ctx.resource_id("Patient", subject.study_id, subject.subject_id),
    ]
    holes: list[Hole] = [
        Hole(("id",)),
        Hole(("identifier", 0, "system")),
        Hole(("identifier", 0, "value")),
        Hole(("identifier", 1, "system")),
        Hole(("identifier", 1, "value")),
        Hole(("study", "reference"), "ResearchStudy"),
        Hole(("individual", "reference"), "Patient"),
    ]
    _optional(values, holes, source, _SOURCE, source is not None)
    _optional(values, holes, subject.enrolment_date, Hole(("period", "start")))
    build = partial(research_subject, ctx, subject)
    return Written(template(ctx.constants, shape, build, lambda: holes), rid, values, build)


def injury_written(ctx: FhirContext, subject: Subject) -> Written | None:
    """``write_subject.injury`` from a template (None when the subject has no injury date or level)."""
    if not (subject.injury_date or subject.injury_level):
        return None
    rid = ctx.resource_id("Condition", subject.study_id, subject.subject_id)
    source = ctx.source(subject)
    shape = ("template", "Condition", source is not None, bool(subject.injury_date), subject.injury_level or None)
    values: list[Any] = [rid, ctx.resource_id("Patient", subject.study_id, subject.subject_id)]
    holes: list[Hole] = [Hole(("id",)), _PATIENT]
    _optional(values, holes, source, _SOURCE, source is not None)
    _optional(values, holes, subject.injury_date, Hole(("onsetDateTime",)))

    def build() -> Resource:
        built = injury(ctx, subject)
        assert built is not None  # it has a date or a level
        return built

    return Written(template(ctx.constants, shape, build, lambda: holes), rid, values, build)


def _optional(values: list[Any], holes: list[Hole], value: Any, hole: Hole, present: bool | None = None) -> None:
    """An optional element's value and hole, when the resource has it (as the builder decides: a value that is
    not empty, or ``present``); the shape tells whether it does."""
    if bool(value) if present is None else present:
        values.append(value)
        holes.append(hole)
