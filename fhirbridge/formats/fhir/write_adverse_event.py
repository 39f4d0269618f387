"""AdverseEvent, following the HL7/CDISC joint mapping where it gives one.

| record field | R4 / R4B | R5 |
|---|---|---|
| ae_id | identifier (record system: ``ae/<study>/<subject>/<id>``) | identifier (a list) |
| term (AETERM) | event.text | code.text |
| meddra_code, meddra_term, meddra_version | event.coding (MedDRA; a term without code: no code) | code.coding |
| onset (AESTDTC) | date | occurrenceDateTime, or occurrencePeriod.start with a resolution |
| resolution (AEENDTC) | R5 cross-version extension ``AdverseEvent.occurrence`` (.end) | occurrencePeriod.end |
| serious (AESER) | seriousness (Serious / Non-serious) | same |
| serious_criteria | fhirbridge's ``serious-criterion`` extension, with the matching HL7 seriousness code | same |
| severity (AESEV) | severity | the ``ae-severity`` extension of HL7's Adverse Event Clinical Research IG |
| relationship (AEREL) | suspectEntity.causality.assessment | suspectEntity.causality.entityRelatedness |
| outcome (AEOUT) | outcome | outcome (a list) |
| action_taken (AEACN) | R5 cross-version extension ``AdverseEvent.mitigatingAction`` | mitigatingAction.item |

R5 requires ``status``: derived from the resolution date and the outcome (``ae_status`` in the mapping spec),
and not read back. The suspect entity is the subject's (first) infusion; a subject without one gets the
relationship against "the study treatment" by name, so the assessment is never lost. R5's ``resultingEffect``
(the condition the event led to) has no record field and is not written.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.records import AdverseEvent

#: The suspect of a relationship when the subject has no infusion record to point at.
STUDY_TREATMENT = "the study treatment (no infusion recorded)"


def adverse_event_resource(ctx: FhirContext, event: AdverseEvent, suspect: tuple[str, ...] | None) -> Resource:
    """``suspect`` is the key of the infusion the event may be related to, if the subject had one."""
    event_code = ctx.concept(text=event.term)
    if event.meddra_code or event.meddra_term:
        coding = {"system": ctx.system("meddra")}
        if event.meddra_code:
            coding["code"] = event.meddra_code
        if event.meddra_term:
            coding["display"] = event.meddra_term
        if event.meddra_version:
            coding["version"] = event.meddra_version
        event_code["coding"] = [coding]
    extensions: list[dict[str, Any]] = []
    for criterion in event.serious_criteria:
        extensions.append(ctx.extension("serious_criterion", valueCodeableConcept=ctx.concept(
            ctx.coding("serious_criterion", criterion),
            ctx.coding("ae_seriousness", ctx.mapped("ae_serious_criterion", criterion)),
        )))
    serious = "Serious" if event.serious else "Non-serious"
    resource: Resource = {
        "resourceType": "AdverseEvent",
        "id": ctx.resource_id("AdverseEvent", *event.key()),
        "meta": ctx.meta("AdverseEvent", event),
    }
    identifier = ctx.record_id("ae", event)
    severity = ctx.concept(ctx.coding("ae_severity", ctx.mapped("ae_severity", event.severity))) if event.severity \
        else None
    outcome = ctx.concept(ctx.coding("ae_outcome", ctx.mapped("ae_outcome", event.outcome)),
                          text=event.outcome.replace("_", " ")) if event.outcome else None
    action = ctx.concept(ctx.coding("ae_action", event.action_taken)) if event.action_taken else None
    if ctx.r5:
        if severity is not None:
            extensions.append(ctx.extension("ae_severity_r5", valueCodeableConcept=severity))
        resource["identifier"] = [identifier]
        resource["status"] = "completed" if event.resolution else (
            ctx.mapped("ae_status", event.outcome) if event.outcome else "unknown")
        resource["actuality"] = "actual"
        resource["code"] = event_code
        resource["subject"] = ctx.patient_ref(event)
        if event.resolution:
            resource["occurrencePeriod"] = {"start": event.onset, "end": event.resolution}
        else:
            resource["occurrenceDateTime"] = event.onset
    else:
        if event.resolution:
            extensions.append(ctx.extension("ae_occurrence", valuePeriod={"start": event.onset,
                                                                           "end": event.resolution}))
        if action is not None:
            extensions.append(ctx.extension("ae_mitigating_action",
                                            extension=[{"url": "item", "valueCodeableConcept": action}]))
        resource["identifier"] = identifier
        resource["actuality"] = "actual"
        resource["event"] = event_code
        resource["subject"] = ctx.patient_ref(event)
        resource["date"] = event.onset
    if extensions:
        resource["extension"] = extensions
    resource["seriousness"] = ctx.concept(ctx.coding("ae_seriousness", serious, serious))
    if severity is not None and not ctx.r5:
        resource["severity"] = severity
    if outcome is not None:
        resource["outcome"] = [outcome] if ctx.r5 else outcome
    resource["study"] = [ctx.reference("ResearchStudy", event.study_id)]
    if event.relationship:
        resource["suspectEntity"] = [_suspect(ctx, event.relationship, suspect)]
    if ctx.r5 and action is not None:
        resource["mitigatingAction"] = [{"itemCodeableConcept": action}]
    return resource


def _suspect(ctx: FhirContext, relationship: str, suspect: tuple[str, ...] | None) -> dict[str, Any]:
    codings = [ctx.coding("ae_relationship", relationship)]
    if relationship in ctx.mapping.value_maps["ae_causality"]:
        codings.insert(0, ctx.coding("ae_causality", ctx.mapped("ae_causality", relationship)))
    assessment = ctx.concept(*codings)
    infusion = ctx.reference("infusion", *suspect) if suspect is not None else None
    if ctx.r5:
        instance = {"instanceReference": infusion} if infusion else {"instanceCodeableConcept": {"text":
                                                                                                 STUDY_TREATMENT}}
        return {**instance, "causality": {"entityRelatedness": assessment}}
    return {"instance": infusion or {"display": STUDY_TREATMENT},
            "causality": [{"assessment": assessment, "productRelatedness": relationship.replace("_", " ")}]}
