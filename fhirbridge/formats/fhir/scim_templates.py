"""A SCIM-III assessment's resources from templates (``fhirbridge.formats.fhir.templates``): the same bytes as
``write_scim.scim_resources`` gives. The panel's template has one elements hole for its 19 item components (each
one of a few scores per item, serialised once per process); each score Observation has a template per score,
method and which optional elements it has."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson

from fhirbridge.domains.scim import ITEMS
from fhirbridge.formats.fhir.context import FhirContext, resource_ids
from fhirbridge.formats.fhir.templates import Elements, Hole, Runs, Written, template
from fhirbridge.formats.fhir.write_scim import item_component, scim_panel, score_observation, scores
from fhirbridge.records import ScimAssessment

_STUDY = Hole(("extension", 0, "valueReference", "reference"), "ResearchStudy")
_VISIT = Hole(("extension", 1, "valueString"))
_SUBJECT = Hole(("subject", "reference"), "Patient")


def scim_written(ctx: FhirContext, assessment: ScimAssessment) -> list[Written]:
    """The panel and its score Observations, as ``write_scim.scim_resources`` makes them."""
    key = assessment.key()
    panel_id = ctx.resource_id("scim-panel", *key)
    score_id = resource_ids("scim-score", *key)
    study = ctx.resource_id("ResearchStudy", assessment.study_id)
    patient = ctx.resource_id("Patient", assessment.study_id, assessment.subject_id)
    source = ctx.source(assessment)
    dated = bool(assessment.assessment_date)
    common: list[Any] = [study, assessment.visit, patient]
    optional: list[tuple[Hole, Any]] = []
    if source is not None:
        optional.append((Hole(("meta", "source")), source))
    if dated:
        optional.append((Hole(("effectiveDateTime",)), assessment.assessment_date))
    members = []
    for score, title, value, method in scores(assessment):
        rid = score_id(score)

        def build(score: str = score, title: str = title, value: int = value, method: str = method) -> dict[str, Any]:
            return score_observation(ctx, assessment, score, title, value, method, panel_id)

        values = [rid, *common, value, panel_id, *(v for _, v in optional)]
        shape = ("template", "scim-score", score, method, source is not None, dated)
        members.append(
            Written(template(ctx.constants, shape, build, partial(_score_holes, optional)), rid, values, build)
        )
    ids = [m.rid for m in members]

    def build_panel() -> dict[str, Any]:
        return scim_panel(ctx, assessment, ids)

    runs: Runs = ctx.constants.setdefault(("scim-component-runs",), Runs())
    scores_given = tuple(assessment.items.get(item) for item in ITEMS)
    items = [runs.get(scores_given, partial(_components, ctx, scores_given))]
    values = [
        panel_id,
        *common[:2],
        ctx.record_id("scim", assessment)["value"],
        patient,
        items,
        *(v for _, v in optional),
        *ids,
    ]
    shape = ("template", "scim-panel", source is not None, dated, len(ids))
    return [
        Written(
            template(ctx.constants, shape, build_panel, partial(_panel_holes, optional, len(ids))),
            panel_id,
            values,
            build_panel,
        ),
        *members,
    ]


def _score_holes(optional: list[tuple[Hole, Any]]) -> list[Hole | Elements]:
    return [
        Hole(("id",)),
        _STUDY,
        _VISIT,
        _SUBJECT,
        Hole(("valueInteger",)),
        Hole(("derivedFrom", 0, "reference"), "Observation"),
        *(h for h, _ in optional),
    ]


def _panel_holes(optional: list[tuple[Hole, Any]], members: int) -> list[Hole | Elements]:
    return [
        Hole(("id",)),
        _STUDY,
        _VISIT,
        Hole(("identifier", 0, "value")),
        _SUBJECT,
        Elements(("component",), len(ITEMS)),
        *(h for h, _ in optional),
        *(Hole(("hasMember", n, "reference"), "Observation") for n in range(members)),
    ]


def _components(ctx: FhirContext, scores_given: tuple[int | None, ...]) -> list[tuple[Any, bytes]]:
    """Each item's component as (key, JSON)."""
    return [
        ((item, score), orjson.dumps(item_component(ctx, item, score)))
        for item, score in zip(ITEMS, scores_given, strict=True)
    ]
