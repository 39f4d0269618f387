"""The SCIM-III panel Observation and its score Observations → ScimAssessment. The inverse of ``write_scim``.

Subscale and total scores that fhirbridge summed from the items (``method`` computed-sum) are not read back
as reported scores; scores without a method (from other producers) count as reported.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.domains.scim import ITEMS, score_titles
from fhirbridge.formats.fhir.read_context import Item, ReadContext, code_in, date_only
from fhirbridge.records import ScimAssessment, Subject

#: Score Observation code → record field.
SCORES = {key.replace("_", "-"): key for key in score_titles()}


def is_panel(ctx: ReadContext, concept: Any) -> bool:
    return code_in(concept, ctx.system("scim")) == "panel"


def score_field(ctx: ReadContext, concept: Any) -> str | None:
    return SCORES.get(code_in(concept, ctx.system("scim")) or "")


def read_assessment(panel: Item, members: list[Item], subject: Subject) -> ScimAssessment | None:
    ctx = panel.ctx
    values: dict[str, Any] = {"study_id": subject.study_id, "subject_id": subject.subject_id, "items": {}}
    columns: dict[str, str] = {}
    at, visit = panel.extension_value("visit", "valueString")
    values["visit"], columns["visit"] = visit, at or "extension"
    values["assessment_date"] = date_only(panel, panel.get("effectiveDateTime"), "effectiveDateTime")
    columns["assessment_date"] = "effectiveDateTime"
    for element in ("status", "category", "code", "subject", "identifier", "hasMember"):
        panel.get(element)
    panel.extensions("research_study")
    system = ctx.system("scim")
    for i, component in enumerate(panel.get("component") or []):
        key = (code_in(component.get("code"), system) or "").removeprefix("item-")
        if key not in ITEMS:
            panel.issue("FB-FHIR-056", "a component with a code fhirbridge does not know is not converted",
                        f"component[{i}].code")
            continue
        values["items"][key] = component.get("valueInteger")
        columns[f"items.{key}"] = f"component[{i}]"
    elsewhere: dict[str, str] = {}
    for member in members:
        for element in ("status", "category", "code", "subject", "derivedFrom", "effectiveDateTime"):
            member.get(element)
        member.extensions("research_study")
        member.member_of_visit(visit)
        field = score_field(ctx, member.resource.get("code"))
        method = member.get("method")
        summed_system, summed = ctx.named("method_summed")
        if field is None:
            member.reject("FB-FHIR-055", "derived from a SCIM-III panel but not one of its scores; it is not "
                         "converted", "code")
            continue
        if code_in(method, summed_system) == summed:
            member.get("valueInteger")  # summed from the items: derived again, not read
            continue
        if field in elsewhere:
            member.reject("FB-FHIR-061", f"the assessment has a second {field} score; it is not converted", "code")
            continue
        values[field], elsewhere[field] = member.get("valueInteger"), member.entry.at("valueInteger")
    return panel.build(ScimAssessment, values, columns, elsewhere)
