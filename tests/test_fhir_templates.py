"""Resources written from templates (``fhirbridge.formats.fhir.templates``) are the very bytes the ordinary
builders give, and the short check of a proven template lets through exactly what the whole output check (and
fhir.resources, the oracle) lets through, values from input spoiled or not."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import study_data

from fhirbridge.formats.fhir.checker.output import check_bundle
from fhirbridge.formats.fhir.context import FhirContext
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.formats.fhir.ndjson import relative_line
from fhirbridge.formats.fhir.sink import _passes, _prove, _targets_found
from fhirbridge.formats.fhir.templates import Elements, Hole, Template, Written, relative_references
from fhirbridge.formats.fhir.writer import entry, resource_id, resource_type, study_unit, subject_units
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.records import StudyData

RECORDED = "2025-01-01T00:00:00+00:00"
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _units(ctx: FhirContext, data: StudyData, templates: bool) -> tuple[list[Any], list[list[Any]]]:
    return study_unit(ctx, data, RECORDED), list(subject_units(ctx, data, {}, RECORDED, templates=templates))


def _types(study: list[Any], units: list[list[Any]]) -> dict[str, str]:
    return {resource_id(r): resource_type(r) for unit in (study, *units) for r in unit}


@_SETTINGS
@given(study_data())
def test_templates_give_the_builders_bytes(data: StudyData) -> None:
    ctx = FhirContext(load_fhir_mapping(None))
    study, built = _units(ctx, data, templates=False)
    _, written = _units(ctx, data, templates=True)
    types = _types(study, built)
    templated = 0
    for plain_unit, unit in zip(built, written, strict=True):
        assert len(plain_unit) == len(unit)
        for plain, resource in zip(plain_unit, unit, strict=True):
            expected = orjson.dumps(plain)
            if isinstance(resource, Written):
                templated += 1
                assert resource.encode(None) == expected
                assert resource.encode(types) == relative_line(expected, types)
                assert resource.line(relative_references(types)) == relative_line(expected, types)
                assert resource.line({}) == expected
                assert resource.rid == plain["id"] and resource.rtype == plain["resourceType"]
            else:
                assert orjson.dumps(resource) == expected
    assert templated >= len(built)  # every subject's Provenance at least


#: values from input that the records would refuse, put into them as a record read elsewhere might hold them
_SPOILED = st.sampled_from(
    [
        "",
        " ",
        "a\x00b",
        "\x01",
        "x\ty",
        "é",
        "2021-02-30",
        "2021-13",
        "20210101",
        "2021-02-28T25:00:00Z",
        "2020-02-29",
        "1999",
        "a b",
        "\u2028",
        "ok",
    ]
)
_FIELDS = {
    "isncsci_exams": ["visit", "exam_date", "examiner", "non_sci_condition", "subject_id"],
    "scim_assessments": ["visit", "assessment_date", "subject_id"],
    "subjects": ["subject_id", "site_id", "birth_date", "enrolment_date", "injury_date", "study_id"],
    "harvests": ["performed", "body_site", "harvest_id", "subject_id"],
    "infusions": ["start", "end", "product", "lot", "processing", "harvest_id", "subject_id"],
}


def _spoil(data: StudyData, kind: str, n: int, field: str, value: str) -> StudyData:
    records = getattr(data, kind)
    spoiled = StudyData()
    for name in ("studies", "subjects", "harvests", "infusions", "isncsci_exams", "scim_assessments", "adverse_events"):
        getattr(spoiled, name).extend(getattr(data, name))
    if records:
        record = records[n % len(records)]
        getattr(spoiled, kind)[n % len(records)] = record.model_copy(update={field: value})
    return spoiled


def _whole(resource: dict[str, Any]) -> bool:
    return not check_bundle({"entry": [entry(resource, "collection")]})


@_SETTINGS
@given(study_data(), st.sampled_from(sorted(_FIELDS)), st.integers(0, 5), st.data(), _SPOILED)
def test_a_proven_template_lets_through_only_what_the_whole_check_does(
    data: StudyData, kind: str, n: int, draw: st.DataObject, value: str
) -> None:
    field = draw.draw(st.sampled_from(_FIELDS[kind]))
    _short_check_agrees(data, _spoil(data, kind, n, field, value), field, value)


@_SETTINGS
@given(study_data(), st.sampled_from(["1999", "1900-01-01", "2013-07-31T10:00:00+09:00", "2999-12-31", "2021-02-30"]))
def test_an_infusion_period_goes_whole_unless_per_1_holds(data: StudyData, end: str) -> None:
    """per-1 compares a Period's start and end, two holes: an infusion whose end comes before its start must not
    pass the short check of its proven template."""
    spoiled = _spoil(data, "infusions", 0, "end", end)
    if spoiled.infusions:
        spoiled.infusions[:] = [i.model_copy(update={"end": end, "start": "2013-07-31T11:00:00+09:00"})
                                for i in spoiled.infusions]
    _short_check_agrees(data, spoiled, "end", end)


def _short_check_agrees(data: StudyData, spoiled: StudyData, field: str, value: str) -> None:
    ctx = FhirContext(load_fhir_mapping(None))
    study, units = _units(ctx, data, templates=True)
    for unit in units:  # prove the templates with the records as they are
        for resource in unit:
            if isinstance(resource, Written):
                _prove(resource, resource.build(), "R4")
    study, units = _units(ctx, spoiled, templates=True)
    types = _types(study, units)
    for unit in units:
        for resource in unit:
            if not isinstance(resource, Written) or not (resource.template.proven and resource.items_proven()):
                continue
            built = resource.build()
            # a resource checked alone cannot tell whether its references' targets are in the chunk (a spoiled
            # study id points a subject at a ResearchStudy there is not): the short check asks that as well
            fast, whole = _passes(resource, types), _whole(built) and _targets_found(resource, types)
            assert fast == whole, (field, value, built)
            if fast:
                assert resource.encode(None) == orjson.dumps(built)
                assert not structure_errors(built, "R4"), built  # the oracle, fhir.resources R4B


def test_a_hole_is_never_a_bound_code() -> None:
    """A value whose validity another value decides (a code of a required binding) must be part of the shape."""
    prototype = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    with pytest.raises(ValueError, match="bound"):
        Template.of(prototype, [Hole(("status",))])


def test_a_template_fills_to_the_prototypes_bytes() -> None:
    prototype = {
        "resourceType": "Observation",
        "id": "a",
        "status": "final",
        "code": {"text": 't"x'},
        "component": [{"code": {"text": "1"}}, {"code": {"text": "2"}}, {"code": {"text": "last"}}],
        "subject": {"reference": "urn:uuid:p"},
    }
    template = Template.of(
        prototype,
        [Hole(("id",)), Hole(("code", "text")), Elements(("component",), 2), Hole(("subject", "reference"), "Patient")],
    )
    assert template.kinds == ("id", "string", "string")
    from fhirbridge.formats.fhir.templates import Runs

    run = Runs().get("r", lambda: [("1", b'{"code":{"text":"1"}}'), ("2", b'{"code":{"text":"2"}}')])
    written = Written(template, "a", ["a", 't"x', [run], "p"], lambda: prototype)
    assert written.encode(None) == orjson.dumps(prototype)
    assert written.encode({"p": "Patient"}) == orjson.dumps(prototype).replace(b"urn:uuid:p", b"Patient/p")
    assert not written.items_proven()
    written.prove_items()
    assert written.items_proven()
