"""ScimAssessment → a panel Observation with the 19 item scores as components, and one Observation for each
subscale, each mobility sub-score (room and toilet; indoors and outdoors) and the total (reported by the site,
or summed from complete items when not reported).

The visit is fhirbridge's ``visit`` extension on the panel and on every score Observation; a missing item score
is a component with a data-absent reason. ``method`` tells reported scores from summed ones; only reported ones
are read back.
"""

from __future__ import annotations

from fhirbridge.domains.scim import ITEMS, score_titles, subscale_sums, subscore_sums
from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.records import ScimAssessment


def scim_resources(ctx: FhirContext, assessment: ScimAssessment) -> list[Resource]:
    panel_id = ctx.resource_id("scim-panel", *assessment.key())
    members = [score_observation(ctx, assessment, key, title, value, method, panel_id)
               for key, title, value, method in scores(assessment)]
    return [scim_panel(ctx, assessment, [m["id"] for m in members]), *members]


def scim_panel(ctx: FhirContext, assessment: ScimAssessment, members: list[str]) -> Resource:
    """The panel of item scores, with ``hasMember`` naming the ids of its score Observations."""
    code = ctx.concept(ctx.coding("scim", "panel", "SCIM-III"), text="Spinal Cord Independence Measure III")
    panel = ctx.panel("scim-panel", "scim", "scim_panel", assessment, assessment.visit, "category_survey", code,
                      assessment.assessment_date)
    panel["component"] = [item_component(ctx, key, assessment.items.get(key)) for key in ITEMS]
    if members:  # FHIR allows no empty array
        panel["hasMember"] = [{"reference": f"urn:uuid:{m}"} for m in members]
    return panel


def item_component(ctx: FhirContext, key: str, score: int | None) -> Resource:
    """One item's score, or a data-absent reason when it is missing."""
    return {
        "code": ctx.concept(ctx.coding("scim", f"item-{key}", f"{key}. {ITEMS[key].title}")),
        **({"valueInteger": score} if score is not None else {
            "dataAbsentReason": ctx.concept(ctx.coding("data_absent_reason", "unknown", "Unknown"))
        }),
    }


def scores(assessment: ScimAssessment) -> list[tuple[str, str, int, str]]:
    """(key, title, value, method) of each score written: the site's, else summed from complete items."""
    sums = subscale_sums(assessment.items)
    complete = all(s is not None for s in sums.values())
    summed_scores = {**sums, **subscore_sums(assessment.items),
                     "total": sum(s for s in sums.values() if s is not None) if complete else None}
    found = []
    for key, title in score_titles().items():
        reported, summed = getattr(assessment, key), summed_scores[key]
        value, method = (reported, "method_reported") if reported is not None else (summed, "method_summed")
        if value is not None:
            found.append((key, title, value, method))
    return found


def score_observation(ctx: FhirContext, assessment: ScimAssessment, key: str, title: str, value: int, method: str,
                      panel_id: str) -> Resource:
    member: Resource = {
        "resourceType": "Observation",
        "id": ctx.resource_id("scim-score", *assessment.key(), key),
        "meta": ctx.meta("scim_score", assessment),
        "extension": [ctx.study_ext(assessment), ctx.visit_ext(assessment.visit)],
        "status": "final",
        "category": [ctx.named("category_survey")],
        "code": ctx.concept(ctx.coding("scim", key.replace("_", "-"), f"SCIM-III {title}")),
        "subject": ctx.patient_ref(assessment),
        "method": ctx.named(method),
        "valueInteger": value,
        "derivedFrom": [{"reference": f"urn:uuid:{panel_id}"}],
    }
    if assessment.assessment_date:
        member["effectiveDateTime"] = assessment.assessment_date
    return member
