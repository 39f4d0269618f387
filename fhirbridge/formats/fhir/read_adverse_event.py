"""AdverseEvent → AdverseEvent record. The inverse of ``write_adverse_event`` (its docstring lists where each
field is, per release)."""

from __future__ import annotations

from typing import Any

from fhirbridge.formats.fhir.read_context import Item, code_in
from fhirbridge.formats.fhir.read_procedures import record_id
from fhirbridge.records import AdverseEvent, Subject


def read_adverse_event(item: Item, subject: Subject) -> AdverseEvent | None:
    ctx = item.ctx
    values: dict[str, Any] = {"study_id": subject.study_id, "subject_id": subject.subject_id}
    columns: dict[str, str] = {}
    key = record_id(item, "ae", subject)
    if key is not None:
        values["ae_id"], columns["ae_id"] = key[1], key[0]
    for element in ("subject", "study"):
        item.get(element)
    if item.get("actuality") not in (None, "actual"):
        item.issue("FB-FHIR-056", "a potential adverse event is read as an actual one", "actuality")
    code_at = "code" if ctx.r5 else "event"
    concept = item.get(code_at) or {}
    meddra = next((c for c in concept.get("coding", []) if c.get("system") == ctx.system("meddra")), {})
    values["term"] = concept.get("text") or meddra.get("display")
    values["meddra_code"], values["meddra_term"] = meddra.get("code"), meddra.get("display")
    values["meddra_version"] = meddra.get("version")
    columns.update(term=f"{code_at}.text", meddra_code=f"{code_at}.coding", meddra_term=f"{code_at}.coding",
                   meddra_version=f"{code_at}.coding")
    if ctx.r5:
        item.get("status")  # derived from the resolution and the outcome
        if (onset := item.get("occurrenceDateTime")) is not None:
            values["onset"], columns["onset"] = onset, "occurrenceDateTime"
        else:
            period = item.get("occurrencePeriod") or {}
            values["onset"], values["resolution"] = period.get("start"), period.get("end")
            columns.update(onset="occurrencePeriod.start", resolution="occurrencePeriod.end")
        at, severity = item.extension_value("ae_severity_r5", "valueCodeableConcept")
        outcomes = item.get("outcome") or []
        outcome, outcome_at = (outcomes[0], "outcome[0]") if outcomes else (None, "outcome")
        actions = item.get("mitigatingAction") or []
        action, action_at = ((actions[0].get("itemCodeableConcept"), "mitigatingAction[0]") if actions
                             else (None, "mitigatingAction"))
    else:
        values["onset"], columns["onset"] = item.get("date"), "date"
        end_at, period = item.extension_value("ae_occurrence", "valuePeriod")
        if period is not None:
            values["resolution"], columns["resolution"] = period.get("end"), f"{end_at}.end"
        at, severity = "severity", item.get("severity")
        outcome, outcome_at = item.get("outcome"), "outcome"
        action_at, mitigation = item.extension_value("ae_mitigating_action", "extension")
        action = next((e.get("valueCodeableConcept") for e in mitigation or [] if e.get("url") == "item"), None)
    if severity is not None:
        code = code_in(severity, ctx.system("ae_severity"))
        values["severity"], columns["severity"] = ctx.unmapped("ae_severity", code or "") or code, at
    if outcome is not None:
        code = code_in(outcome, ctx.system("ae_outcome"))
        values["outcome"], columns["outcome"] = ctx.unmapped("ae_outcome", code or "") or code, outcome_at
    if action is not None:
        values["action_taken"], columns["action_taken"] = ctx.code(action, "ae_action"), action_at
    serious = code_in(item.get("seriousness"), ctx.system("ae_seriousness"))
    if serious is not None:
        values["serious"], columns["serious"] = serious == "Serious", "seriousness"
    criteria = []
    for i, extension in item.extensions("serious_criterion"):
        criteria.append(ctx.code(extension.get("valueCodeableConcept"), "serious_criterion"))
        columns["serious_criteria"] = f"extension[{i}]"
    values["serious_criteria"] = criteria
    suspects = item.get("suspectEntity") or []
    if suspects:
        values["relationship"], columns["relationship"] = _relationship(item, suspects[0]), "suspectEntity[0]"
        if len(suspects) > 1:
            item.issue("FB-FHIR-056", "only the first suspect entity is read", "suspectEntity[1]")
    return item.build(AdverseEvent, values, columns)


def _relationship(item: Item, suspect: dict[str, Any]) -> str | None:
    """fhirbridge's relationship code, else the one the WHO-UMC causality code stands for."""
    ctx = item.ctx
    causality = suspect.get("causality")
    if ctx.r5:
        concept = (causality or {}).get("entityRelatedness")
    else:
        concept = causality[0].get("assessment") if causality else None
    ours = ctx.code(concept, "ae_relationship")
    if ours is not None:
        return ours
    who = ctx.code(concept, "ae_causality")
    return ctx.unmapped("ae_causality", who) if who is not None else None
