"""Harvest → Procedure; Infusion → Procedure + BiologicallyDerivedProduct (the autologous MSC product).

R4 ``Procedure.usedReference`` cannot point at a BiologicallyDerivedProduct, so the product is linked with
HL7's cross-version extension for R5 ``Procedure.used``. FHIR has no dose, route or volume on Procedure:
fhirbridge's own extensions carry them (published with its profiles).
"""

from __future__ import annotations

from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.records import Harvest, Infusion


def _performed(start: str, end: str | None) -> dict[str, object]:
    return {"performedPeriod": {"start": start, "end": end}} if end else {"performedDateTime": start}


def harvest_resource(ctx: FhirContext, harvest: Harvest) -> Resource:
    resource: Resource = {
        "resourceType": "Procedure",
        "id": ctx.resource_id("harvest", *harvest.key()),
        "meta": ctx.meta("harvest", harvest),
        "extension": [ctx.study_ext(harvest)],
        "identifier": [{"system": ctx.system("record_id"), "value": "/".join(("harvest", *harvest.key()))}],
        "status": ctx.mapped("procedure_status", harvest.status),
        "code": ctx.named("bone_marrow_aspiration", text="Bone marrow aspiration for MSC expansion"),
        "subject": ctx.patient_ref(harvest),
        **_performed(harvest.performed, None),
    }
    if harvest.body_site:
        resource["bodySite"] = [ctx.named("iliac_crest", text=harvest.body_site)]
    if harvest.volume_ml is not None:
        resource["extension"].append(ctx.extension("volume", valueQuantity=ctx.quantity(harvest.volume_ml, "ml")))
    return resource


def infusion_resources(ctx: FhirContext, infusion: Infusion, reason_condition: bool) -> list[Resource]:
    """The infusion Procedure and its product; ``reason_condition`` links the SCI Condition as the reason."""
    product_id = ctx.resource_id("product", *infusion.key())
    product: Resource = {
        "resourceType": "BiologicallyDerivedProduct",
        "id": product_id,
        "meta": ctx.meta("BiologicallyDerivedProduct", infusion),
        "productCategory": "cells",
        "productCode": {"text": infusion.product},
        "collection": {"source": ctx.patient_ref(infusion)},
    }
    if infusion.lot:
        product["identifier"] = [{"system": ctx.system("product_lot"), "value": infusion.lot}]
    if infusion.total_cells is not None:
        product["extension"] = [ctx.extension("cell_count", valueQuantity=ctx.quantity(infusion.total_cells, "cells"))]

    procedure: Resource = {
        "resourceType": "Procedure",
        "id": ctx.resource_id("infusion", *infusion.key()),
        "meta": ctx.meta("infusion", infusion),
        "extension": [
            ctx.study_ext(infusion),
            ctx.extension("procedure_used", valueReference={"reference": f"urn:uuid:{product_id}"}),
            ctx.extension("route", valueCodeableConcept=ctx.named("intravenous_route")),
        ],
        "identifier": [{"system": ctx.system("record_id"), "value": "/".join(("infusion", *infusion.key()))}],
        "status": ctx.mapped("procedure_status", infusion.status),
        "code": ctx.named("stem_cell_transplantation", text="Intravenous infusion of " + infusion.product),
        "subject": ctx.patient_ref(infusion),
        **_performed(infusion.start, infusion.end),
    }
    if infusion.dose_per_kg is not None:
        dose = ctx.quantity(infusion.dose_per_kg, "cells_per_kg")
        procedure["extension"].append(ctx.extension("dose_per_kg", valueQuantity=dose))
    if infusion.volume_ml is not None:
        procedure["extension"].append(ctx.extension("volume", valueQuantity=ctx.quantity(infusion.volume_ml, "ml")))
    if reason_condition:
        procedure["reasonReference"] = [ctx.reference("Condition", infusion.study_id, infusion.subject_id)]
    return [procedure, product]
