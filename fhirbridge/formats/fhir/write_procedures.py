"""Harvest → Procedure; Infusion → Procedure + BiologicallyDerivedProduct (the autologous MSC product).

| record field | R4 / R4B | R5 |
|---|---|---|
| harvest_id, infusion_id | Procedure.identifier (record system: ``harvest/<study>/<subject>/<id>``) | same |
| Harvest.performed | performedDateTime | occurrenceDateTime |
| Infusion.start, end | performedPeriod (performedDateTime without an end) | occurrencePeriod (occurrenceDateTime) |
| status | status | status |
| Harvest.body_site | bodySite.text (coded iliac crest) | same |
| volume_ml, dose_per_kg, route | fhirbridge extensions | same |
| product, lot, total_cells | BiologicallyDerivedProduct productCode.text, identifier, cell-count ext. | same |
| Infusion.harvest_id | product: ``collection-procedure`` ext. → harvest; collection.collected (date) | same |
| processing | product's processing.description | fhirbridge's ``product-processing`` extension |
| link to the product | HL7's cross-version extension for R5 ``Procedure.used`` | ``used`` (a CodeableReference) |
| the SCI Condition | reasonReference | reason (a CodeableReference) |

R4 ``Procedure.usedReference`` cannot point at a BiologicallyDerivedProduct, hence the extension; R5 can.
Neither release's ``BiologicallyDerivedProduct.collection`` can name the procedure that collected the cells, hence
``collection-procedure``; R5 dropped ``processing``, hence ``product-processing`` there.
FHIR has no dose, route or volume on Procedure: fhirbridge's own extensions carry them (published with its
profiles).
"""

from __future__ import annotations

from collections.abc import Sequence

from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.records import Harvest, Infusion


def _performed(ctx: FhirContext, start: str, end: str | None) -> dict[str, object]:
    prefix = "occurrence" if ctx.r5 else "performed"
    return {f"{prefix}Period": {"start": start, "end": end}} if end else {f"{prefix}DateTime": start}


def harvest_resource(ctx: FhirContext, harvest: Harvest) -> Resource:
    resource: Resource = {
        "resourceType": "Procedure",
        "id": ctx.resource_id("harvest", *harvest.key()),
        "meta": ctx.meta("harvest", harvest),
        "extension": [ctx.study_ext(harvest)],
        "identifier": [ctx.record_id("harvest", harvest)],
        "status": ctx.mapped("procedure_status", harvest.status),
        "code": ctx.named("bone_marrow_aspiration", text="Bone marrow aspiration for MSC expansion"),
        "subject": ctx.patient_ref(harvest),
        **_performed(ctx, harvest.performed, None),
    }
    if harvest.body_site:
        resource["bodySite"] = [ctx.named("iliac_crest", text=harvest.body_site)]
    if harvest.volume_ml is not None:
        resource["extension"].append(ctx.extension("volume", valueQuantity=ctx.quantity(harvest.volume_ml, "ml")))
    return resource


def infusion_resources(ctx: FhirContext, infusion: Infusion, reason_condition: bool,
                       harvests: Sequence[Harvest] = ()) -> list[Resource]:
    """The infusion Procedure and its product; ``reason_condition`` links the SCI Condition as the reason;
    ``harvests`` are the subject's, among which the product's source (``harvest_id``) is found."""
    product_id = ctx.resource_id("product", *infusion.key())
    product: Resource = {
        "resourceType": "BiologicallyDerivedProduct",
        "id": product_id,
        "meta": ctx.meta("BiologicallyDerivedProduct", infusion),
        "productCategory": ctx.named_coding("cell_product") if ctx.r5 else "cells",
        "productCode": {"text": infusion.product},
        "collection": {"source": ctx.patient_ref(infusion)},
    }
    if infusion.lot:
        product["identifier"] = [{"system": ctx.system("product_lot"), "value": infusion.lot}]
    extensions = []
    if infusion.total_cells is not None:
        extensions.append(ctx.extension("cell_count", valueQuantity=ctx.quantity(infusion.total_cells, "cells")))
    source = next((h for h in harvests if h.harvest_id == infusion.harvest_id), None)
    if source is not None:  # a harvest the subject does not have is reported by the checks (FB-REF-003)
        extensions.append(ctx.extension("collection_procedure", valueReference=ctx.reference("harvest", *source.key())))
        product["collection"]["collectedDateTime"] = source.performed
    if infusion.processing is not None:
        if ctx.r5:
            extensions.append(ctx.extension("processing", valueString=infusion.processing))
        else:
            product["processing"] = [{"description": infusion.processing}]
    if extensions:
        product["extension"] = extensions

    used = {"reference": f"urn:uuid:{product_id}"}
    procedure: Resource = {
        "resourceType": "Procedure",
        "id": ctx.resource_id("infusion", *infusion.key()),
        "meta": ctx.meta("infusion", infusion),
        "extension": [ctx.study_ext(infusion)],
        "identifier": [ctx.record_id("infusion", infusion)],
        "status": ctx.mapped("procedure_status", infusion.status),
        "code": ctx.named("stem_cell_transplantation", text="Intravenous infusion of " + infusion.product),
        "subject": ctx.patient_ref(infusion),
        **_performed(ctx, infusion.start, infusion.end),
    }
    if ctx.r5:
        procedure["used"] = [{"reference": used}]
    else:
        procedure["extension"].append(ctx.extension("procedure_used", valueReference=used))
    procedure["extension"].append(ctx.extension("route", valueCodeableConcept=ctx.named("intravenous_route")))
    if infusion.dose_per_kg is not None:
        dose = ctx.quantity(infusion.dose_per_kg, "cells_per_kg")
        procedure["extension"].append(ctx.extension("dose_per_kg", valueQuantity=dose))
    if infusion.volume_ml is not None:
        procedure["extension"].append(ctx.extension("volume", valueQuantity=ctx.quantity(infusion.volume_ml, "ml")))
    if reason_condition:
        condition = ctx.reference("Condition", infusion.study_id, infusion.subject_id)
        if ctx.r5:
            procedure["reason"] = [{"reference": condition}]
        else:
            procedure["reasonReference"] = [condition]
    return [procedure, product]
