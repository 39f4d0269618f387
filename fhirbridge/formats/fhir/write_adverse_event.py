"""AdverseEvent, following the HL7/CDISC joint mapping where it gives one.

| record field | R4 / R4B | R5 |
|---|---|---|
| ae_id | identifier (record system: ``ae/<study>/<subject>/<id>``) | identifier (a list) |
| term (AETERM) | event.text | code.text |
| meddra_code, meddra_term, meddra_version | event.coding (MedDRA; a term without code: no code) | code.coding |
| the other MedDRA levels | a second MedDRA coding (LLT), ``meddra-*`` extensions (module ``meddra``) | same |
| related_procedure | which Procedure(s) suspectEntity.instance names | suspectEntity.instanceReference |
| onset (AESTDTC) | date | occurrenceDateTime, or occurrencePeriod.start with a resolution |
| resolution (AEENDTC) | R5 cross-version extension ``AdverseEvent.occurrence`` (.end) | occurrencePeriod.end |
| serious (AESER) | seriousness (Serious / Non-serious) | same |
| serious_criteria | fhirbridge's ``serious-criterion`` extension, with the matching HL7 seriousness code | same |
| severity (AESEV) | severity | the ``ae-severity`` extension of HL7's Adverse Event Clinical Research IG |
| relationship (AEREL) | suspectEntity.causality.assessment | suspectEntity.causality.entityRelatedness |
| outcome (AEOUT) | outcome | outcome (a list) |
| action_taken (AEACN) | R5 cross-version extension ``AdverseEvent.mitigatingAction`` | mitigatingAction.item |

R5 requires ``status``: derived from the resolution date and the outcome (``ae_status`` in the mapping spec),
and not read back. The term goes to ``event`` (R4) / ``code`` (R5) as HL7's Adverse Event Clinical Research IG
does, not to a Condition behind ``resultingCondition`` as the HL7/CDISC joint mapping does; the reader takes
both (docs/fhir-mapping.md says why). A seriousness criterion without an HL7 code of the same meaning (ICH's
"important medical event") carries fhirbridge's code only.

The suspect entity is what the investigator judged the relationship against, as the export names it
(``related_procedure``): the harvest, the infusion, or both (two suspect entities with the same assessment),
each the subject's latest such procedure started on or before the onset (else its first). When the export
does not name it, or the subject has no such procedure, the suspect is "the study treatment" by name only: the
assessment is never lost, and no procedure is guessed.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.formats.fhir.meddra import LLT, UPPER_LEVELS, meddra_coding
from fhirbridge.records import AdverseEvent, Harvest, Infusion
from fhirbridge.records.dates import date_part

#: The suspect of a relationship when the export names no procedure, or the subject has none to point at.
STUDY_TREATMENT = "the study treatment (no procedure named or recorded)"

#: (record kind, key) of a procedure a relationship was judged against.
Suspect = tuple[str, tuple[str, ...]]


def adverse_event_resource(ctx: FhirContext, event: AdverseEvent, suspects: list[Suspect]) -> Resource:
    """``suspects`` are the procedures the relationship was judged against (``suspects_of``)."""
    event_code = ctx.concept(text=event.term)
    meddra = ctx.system("meddra")
    pt = meddra_coding(meddra, event.meddra_code, event.meddra_term, event.meddra_version)
    llt = meddra_coding(meddra, event.meddra_llt_code, event.meddra_llt, event.meddra_version)
    if llt is not None:
        llt = {"extension": [ctx.extension("meddra_level", valueCode=LLT)], **llt}
    if pt is not None or llt is not None:
        event_code["coding"] = [c for c in (pt, llt) if c is not None]
    extensions: list[dict[str, Any]] = []
    for level in UPPER_LEVELS:
        coding = meddra_coding(meddra, getattr(event, f"{level}_code"), getattr(event, level), event.meddra_version)
        if coding is not None:
            extensions.append(ctx.extension(level, valueCoding=coding))
    hl7_criteria = ctx.mapping.value_maps["ae_serious_criterion"]
    for criterion in event.serious_criteria:
        codings = [ctx.coding("serious_criterion", criterion)]
        if criterion in hl7_criteria:
            codings.append(ctx.coding("ae_seriousness", hl7_criteria[criterion]))
        extensions.append(ctx.extension("serious_criterion", valueCodeableConcept=ctx.concept(*codings)))
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
        resource["suspectEntity"] = [_suspect(ctx, event.relationship, suspect) for suspect in suspects or [None]]
    if ctx.r5 and action is not None:
        resource["mitigatingAction"] = [{"itemCodeableConcept": action}]
    return resource


def suspects_of(event: AdverseEvent, harvests: list[Harvest], infusions: list[Infusion]) -> list[Suspect]:
    """The subject's procedures the event's relationship was judged against, harvest first."""
    kinds = {"harvest": ("harvest",), "infusion": ("infusion",), "both": ("harvest", "infusion")}
    found: list[Suspect] = []
    for kind in kinds.get(event.related_procedure or "", ()):
        records: list[Harvest] | list[Infusion] = harvests if kind == "harvest" else infusions
        if not records:
            continue
        onset = date_part(event.onset) or ""
        before = [r for r in records if (date_part(_when(r)) or "") <= onset]
        chosen = max(before, key=lambda r: date_part(_when(r)) or "") if before else records[0]
        found.append((kind, chosen.key()))
    return found


def _when(record: Harvest | Infusion) -> str:
    return record.performed if isinstance(record, Harvest) else record.start


def _suspect(ctx: FhirContext, relationship: str, suspect: Suspect | None) -> dict[str, Any]:
    codings = [ctx.coding("ae_relationship", relationship)]
    if relationship in ctx.mapping.value_maps["ae_causality"]:
        codings.insert(0, ctx.coding("ae_causality", ctx.mapped("ae_causality", relationship)))
    assessment = ctx.concept(*codings)
    procedure = ctx.reference(suspect[0], *suspect[1]) if suspect is not None else None
    if ctx.r5:
        instance = {"instanceReference": procedure} if procedure else {"instanceCodeableConcept": {"text":
                                                                                                  STUDY_TREATMENT}}
        return {**instance, "causality": {"entityRelatedness": assessment}}
    return {"instance": procedure or {"display": STUDY_TREATMENT},
            "causality": [{"assessment": assessment, "productRelatedness": relationship.replace("_", " ")}]}
