"""AdverseEvent (R4), following the HL7/CDISC joint mapping where it gives one.

- AETERM → event.text, MedDRA preferred term → event.coding; AESTDTC → date.
- AEENDTC → the R5 cross-version extension ``AdverseEvent.occurrence`` (valuePeriod.end), as the joint
  mapping does; AEACN → the R5 cross-version extension ``AdverseEvent.mitigatingAction``.
- AESER → seriousness (Serious / Non-serious); the serious criteria (R4 has a single seriousness) in
  fhirbridge's ``serious-criterion`` extension, each with the HL7 seriousness code that matches it.
- AEREL → suspectEntity.causality (WHO-UMC code where one matches, always fhirbridge's own code) with
  the study infusion as the suspect instance.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.records import AdverseEvent


def adverse_event_resource(
    ctx: FhirContext, event: AdverseEvent, suspect: tuple[str, ...] | None
) -> Resource:
    """``suspect`` is the key of the infusion the event may be related to, if the subject had one."""
    vmap = ctx.mapping.value_maps
    event_code = ctx.concept(text=event.term)
    if event.meddra_code:
        event_code["coding"] = [ctx.coding("meddra", event.meddra_code, event.meddra_term)]
    extensions: list[dict[str, Any]] = []
    if event.resolution:
        extensions.append(ctx.extension("ae_occurrence", valuePeriod={"start": event.onset, "end": event.resolution}))
    if event.action_taken:
        action = ctx.concept(ctx.coding("ae_action", event.action_taken))
        extensions.append(ctx.extension("ae_mitigating_action", extension=[{"url": "item",
                                                                              "valueCodeableConcept": action}]))
    for criterion in event.serious_criteria:
        extensions.append(ctx.extension("serious_criterion", valueCodeableConcept=ctx.concept(
            ctx.coding("serious_criterion", criterion),
            ctx.coding("ae_seriousness", vmap["ae_serious_criterion"][criterion]),
        )))
    resource: Resource = {
        "resourceType": "AdverseEvent",
        "id": ctx.resource_id("AdverseEvent", *event.key()),
        "meta": ctx.meta("AdverseEvent", event),
        "identifier": {"system": ctx.system("record_id"), "value": "/".join(("ae", *event.key()))},
        "actuality": "actual",
        "event": event_code,
        "subject": ctx.patient_ref(event),
        "date": event.onset,
        "seriousness": ctx.concept(
            ctx.coding("ae_seriousness", "Serious" if event.serious else "Non-serious",
                       "Serious" if event.serious else "Non-serious")
        ),
        "study": [ctx.reference("ResearchStudy", event.study_id)],
    }
    if extensions:
        resource["extension"] = extensions
    if event.severity:
        resource["severity"] = ctx.concept(ctx.coding("ae_severity", vmap["ae_severity"][event.severity]))
    if event.outcome:
        resource["outcome"] = ctx.concept(ctx.coding("ae_outcome", vmap["ae_outcome"][event.outcome]),
                                          text=event.outcome.replace("_", " "))
    if event.relationship and suspect is not None:
        codings = [ctx.coding("ae_relationship", event.relationship)]
        if event.relationship in vmap["ae_causality"]:
            codings.insert(0, ctx.coding("ae_causality", vmap["ae_causality"][event.relationship]))
        resource["suspectEntity"] = [{
            "instance": ctx.reference("infusion", *suspect),
            "causality": [{"assessment": ctx.concept(*codings),
                           "productRelatedness": event.relationship.replace("_", " ")}],
        }]
    return resource
