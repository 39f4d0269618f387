"""A harvest's Procedure, and an infusion's Procedure and BiologicallyDerivedProduct, from templates
(``fhirbridge.formats.fhir.templates``): the same bytes as ``write_procedures`` gives (R4 and R4B; R5 has other
shapes, built whole), without building and screening them as dicts once their shape is proven.

What decides the constant parts is in the shape: the status (a code of a required binding), whether the infusion
has an end (``performedPeriod`` or ``performedDateTime``), whether the SCI Condition is the reason, whether the
product's harvest is found, and which optional elements there are. The holes are the ids, identifiers, texts,
dates, quantities' values and references.

An infusion's ``performedPeriod`` holds a start and an end that per-1 compares: it is written from a template
only when per-1 (the checker's own rule) holds for them; otherwise the resources are built and checked whole, so
that what is reported is what the whole check reports. No other rule reads a hole: the profiles read the
procedure codes (constant parts), qty-3 a quantity's code and system (constant), and a quantity's value is a
plain decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from fhirbridge.formats.fhir.checker.invariants import COMPILED
from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.formats.fhir.templates import Hole, Written, template
from fhirbridge.formats.fhir.write_procedures import harvest_resource, infusion_resources
from fhirbridge.records import Harvest, Infusion

_SOURCE = Hole(("meta", "source"))
_STUDY = Hole(("extension", 0, "valueReference", "reference"), "ResearchStudy")
_IDENTIFIER = Hole(("identifier", 0, "value"))
_SUBJECT = Hole(("subject", "reference"), "Patient")
_PER_1 = COMPILED["per-1"]


def harvest_written(ctx: FhirContext, harvest: Harvest) -> Written | Resource:
    """``write_procedures.harvest_resource`` from a template."""
    build = partial(harvest_resource, ctx, harvest)
    if ctx.r5:
        return build()
    rid = ctx.resource_id("harvest", *harvest.key())
    source = ctx.source(harvest)
    volume = ctx.quantity(harvest.volume_ml, "ml")["value"] if harvest.volume_ml is not None else None
    shape = (
        "template",
        "harvest",
        source is not None,
        ctx.mapped("procedure_status", harvest.status),
        bool(harvest.body_site),
        volume is not None,
    )
    values: list[Any] = [rid]
    holes: list[Hole] = [Hole(("id",))]
    _optional(values, holes, source, _SOURCE, source is not None)
    values += [
        ctx.resource_id("ResearchStudy", harvest.study_id),
        ctx.record_id("harvest", harvest)["value"],
        ctx.resource_id("Patient", harvest.study_id, harvest.subject_id),
        harvest.performed,
    ]
    holes += [_STUDY, _IDENTIFIER, _SUBJECT, Hole(("performedDateTime",))]
    _optional(values, holes, harvest.body_site, Hole(("bodySite", 0, "text")))
    _optional(values, holes, volume, Hole(("extension", 1, "valueQuantity", "value")), volume is not None)
    return Written(template(ctx.constants, shape, build, lambda: holes), rid, values, build)


def infusion_written(
    ctx: FhirContext, infusion: Infusion, reason_condition: bool, harvests: Sequence[Harvest] = ()
) -> list[Written | Resource]:
    """``write_procedures.infusion_resources`` from templates: the Procedure and its product."""
    built: list[Resource] = []

    def build(n: int) -> Resource:  # both made once, by whichever of the two needs them first
        if not built:
            built.extend(infusion_resources(ctx, infusion, reason_condition, harvests))
        return built[n]

    if ctx.r5 or (infusion.end and not _period_holds(infusion.start, infusion.end)):
        return [build(0), build(1)]
    key = infusion.key()
    procedure_id, product_id = ctx.resource_id("infusion", *key), ctx.resource_id("product", *key)
    study = ctx.resource_id("ResearchStudy", infusion.study_id)
    patient = ctx.resource_id("Patient", infusion.study_id, infusion.subject_id)
    source = ctx.source(infusion)
    harvest = next((h for h in harvests if h.harvest_id == infusion.harvest_id), None)
    cells = ctx.quantity(infusion.total_cells, "cells")["value"] if infusion.total_cells is not None else None
    dose = ctx.quantity(infusion.dose_per_kg, "cells_per_kg")["value"] if infusion.dose_per_kg is not None else None
    volume = ctx.quantity(infusion.volume_ml, "ml")["value"] if infusion.volume_ml is not None else None

    # the product: extensions cell count, then collection procedure, when each is there
    values: list[Any] = [product_id]
    holes: list[Hole] = [Hole(("id",))]
    _optional(values, holes, source, _SOURCE, source is not None)
    values += [infusion.product, patient]
    holes += [Hole(("productCode", "text")), Hole(("collection", "source", "reference"), "Patient")]
    if harvest is not None:
        values.append(harvest.performed)
        holes.append(Hole(("collection", "collectedDateTime")))
    _optional(values, holes, infusion.lot, Hole(("identifier", 0, "value")))
    processing = Hole(("processing", 0, "description"))
    _optional(values, holes, infusion.processing, processing, infusion.processing is not None)
    at = 0
    if cells is not None:
        values.append(cells)
        holes.append(Hole(("extension", at, "valueQuantity", "value")))
        at += 1
    if harvest is not None:
        values.append(ctx.resource_id("harvest", *harvest.key()))
        holes.append(Hole(("extension", at, "valueReference", "reference"), "Procedure"))
    product_shape = (
        "template",
        "product",
        source is not None,
        bool(infusion.lot),
        infusion.processing is not None,
        cells is not None,
        harvest is not None,
    )
    product = Written(
        template(ctx.constants, product_shape, partial(build, 1), partial(list, holes)), product_id, values,
        partial(build, 1),
    )

    # the procedure: extensions study, product used, route, then dose and volume when each is there
    values = [procedure_id]
    holes = [Hole(("id",))]
    _optional(values, holes, source, _SOURCE, source is not None)
    values += [
        study,
        product_id,
        ctx.record_id("infusion", infusion)["value"],
        "Intravenous infusion of " + infusion.product,
        patient,
    ]
    holes += [
        _STUDY,
        Hole(("extension", 1, "valueReference", "reference"), "BiologicallyDerivedProduct"),
        _IDENTIFIER,
        Hole(("code", "text")),
        _SUBJECT,
    ]
    if infusion.end:
        values += [infusion.start, infusion.end]
        holes += [Hole(("performedPeriod", "start")), Hole(("performedPeriod", "end"))]
    else:
        values.append(infusion.start)
        holes.append(Hole(("performedDateTime",)))
    at = 3
    for value in (dose, volume):
        if value is not None:
            values.append(value)
            holes.append(Hole(("extension", at, "valueQuantity", "value")))
            at += 1
    if reason_condition:
        values.append(ctx.resource_id("Condition", infusion.study_id, infusion.subject_id))
        holes.append(Hole(("reasonReference", 0, "reference"), "Condition"))
    procedure_shape = (
        "template",
        "infusion",
        source is not None,
        ctx.mapped("procedure_status", infusion.status),
        bool(infusion.end),
        dose is not None,
        volume is not None,
        reason_condition,
    )
    procedure = Written(
        template(ctx.constants, procedure_shape, partial(build, 0), partial(list, holes)), procedure_id, values,
        partial(build, 0),
    )
    return [procedure, product]


def _period_holds(start: str, end: str) -> bool:
    """per-1 holds for a Period of ``start`` and ``end`` (False when the checker's rule cannot read them)."""
    try:
        return bool(_PER_1({"start": start, "end": end}, {}, {}))
    except (ValueError, TypeError):
        return False


def _optional(values: list[Any], holes: list[Hole], value: Any, hole: Hole, present: bool | None = None) -> None:
    """An optional element's value and hole, when the resource has it (as the builder decides)."""
    if bool(value) if present is None else present:
        values.append(value)
        holes.append(hole)
