"""Procedure → Harvest; Procedure + BiologicallyDerivedProduct → Infusion. The inverse of ``write_procedures``
(its docstring lists where each field is, per release)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirbridge.formats.fhir.read_context import Item, code_in, reference
from fhirbridge.records import Harvest, Infusion, Subject


def procedure_kind(item: Item) -> str | None:
    """``harvest`` or ``infusion`` by the procedure's code; None for a procedure fhirbridge does not read."""
    for kind, key in (("harvest", "bone_marrow_aspiration"), ("infusion", "stem_cell_transplantation")):
        system, code = item.ctx.named(key)
        if code_in(item.resource.get("code"), system) == code:
            return kind
    return None


def record_id(item: Item, prefix: str, subject: Subject) -> tuple[str, str] | None:
    """(element, id) of a record within its subject, from fhirbridge's record identifier
    (``harvest/<study>/<subject>/<id>``), else the only identifier there is."""
    identifiers = item.get("identifier")
    identifiers = identifiers if isinstance(identifiers, list) else [identifiers] if identifiers else []
    head = "/".join((prefix, subject.study_id, subject.subject_id)) + "/"
    record_system = item.ctx.system("record_id")
    for i, ident in enumerate(identifiers):
        value = ident.get("value") or ""
        if ident.get("system") == record_system and value.startswith(head):
            return f"identifier[{i}].value", value[len(head):]
    if len(identifiers) == 1 and identifiers[0].get("value"):
        return "identifier[0].value", identifiers[0]["value"]
    return None


def _common(item: Item, prefix: str, subject: Subject) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {"study_id": subject.study_id, "subject_id": subject.subject_id}
    columns: dict[str, str] = {}
    key = record_id(item, prefix, subject)
    if key is not None:
        values[f"{prefix}_id"], columns[f"{prefix}_id"] = key[1], key[0]
    status = item.get("status")
    values["status"], columns["status"] = item.ctx.unmapped("procedure_status", status) or status, "status"
    for element in ("code", "subject"):
        item.get(element)
    item.extensions("research_study")
    at, volume = item.extension_value("volume", "valueQuantity")
    if volume is not None:
        values["volume_ml"], columns["volume_ml"] = volume.get("value"), f"{at}.value"
    return values, columns


def _occurrence(item: Item) -> tuple[str, Any, Any]:
    """(element, start, end) of when the procedure was performed."""
    prefix = "occurrence" if item.ctx.r5 else "performed"
    if (when := item.get(f"{prefix}DateTime")) is not None:
        return f"{prefix}DateTime", when, None
    period = item.get(f"{prefix}Period") or {}
    return f"{prefix}Period", period.get("start"), period.get("end")


def read_harvest(item: Item, subject: Subject) -> Harvest | None:
    values, columns = _common(item, "harvest", subject)
    element, start, end = _occurrence(item)
    values["performed"], columns["performed"] = start, element
    if end is not None:
        item.issue("FB-FHIR-056", f"the harvest's end ({end}) is not kept: the record has one date", f"{element}.end")
    sites = item.get("bodySite") or []
    if sites:
        values["body_site"], columns["body_site"] = sites[0].get("text") or _display(sites[0]), "bodySite[0]"
    return item.build(Harvest, values, columns)


def _display(concept: dict[str, Any]) -> str | None:
    return next((c.get("display") for c in concept.get("coding", []) if c.get("display")), None)


def product_reference(item: Item) -> tuple[str, str] | None:
    """(element, reference) of the cell product the infusion used."""
    if item.ctx.r5:
        for i, used in enumerate(item.get("used") or []):
            if ref := reference(used.get("reference")):
                return f"used[{i}].reference", ref
        return None
    at, value = item.extension_value("procedure_used", "valueReference")
    ref = reference(value)
    return (at, ref) if ref else None


def read_infusion(item: Item, subject: Subject, product: Item,
                  resolve: Callable[[str | None], Item | None]) -> Infusion | None:
    """``product`` is the BiologicallyDerivedProduct the infusion used; ``resolve`` finds the harvest it names."""
    values, columns = _common(item, "infusion", subject)
    element, start, end = _occurrence(item)
    values["start"], values["end"] = start, end
    columns.update(start=f"{element}.start" if end else element, end=f"{element}.end")
    item.get("reason" if item.ctx.r5 else "reasonReference")  # the subject's injury, a Condition of its own
    at, dose = item.extension_value("dose_per_kg", "valueQuantity")
    if dose is not None:
        values["dose_per_kg"], columns["dose_per_kg"] = dose.get("value"), f"{at}.value"
    at, route = item.extension_value("route", "valueCodeableConcept")
    system, iv = item.ctx.named("intravenous_route")
    if route is not None and code_in(route, system) != iv:
        values["route"], columns["route"] = route.get("text") or _display(route) or "not intravenous", at
    for element in ("productCategory", "collection"):
        product.get(element)
    values["product"] = (product.get("productCode") or {}).get("text")
    elsewhere = {"product": product.entry.at("productCode.text")}
    for i, ident in enumerate(product.get("identifier") or []):
        if ident.get("system") == item.ctx.system("product_lot"):
            values["lot"], elsewhere["lot"] = ident.get("value"), product.entry.at(f"identifier[{i}].value")
    at, cells = product.extension_value("cell_count", "valueQuantity")
    if cells is not None:
        values["total_cells"], elsewhere["total_cells"] = cells.get("value"), product.entry.at(f"{at}.value")
    _collection(product, subject, resolve, values, elsewhere)
    return item.build(Infusion, values, columns, elsewhere)


def _collection(product: Item, subject: Subject, resolve: Callable[[str | None], Item | None],
                values: dict[str, Any], elsewhere: dict[str, str]) -> None:
    """The product's source harvest (its collection; the date repeats the harvest's) and its processing."""
    at, ref = product.extension_value("collection_procedure", "valueReference")
    if ref is not None:
        harvest = resolve(reference(ref))
        key = record_id(harvest, "harvest", subject) if harvest is not None and procedure_kind(harvest) == "harvest" \
            else None
        if key is None:
            product.issue("FB-FHIR-060", "the harvest the product was collected by is not in the input; the link is "
                          "not converted", at)
        else:
            values["harvest_id"], elsewhere["harvest_id"] = key[1], product.entry.at(at)
    if product.ctx.r5:
        at, processing = product.extension_value("processing", "valueString")
        if processing is not None:
            values["processing"], elsewhere["processing"] = processing, product.entry.at(at)
    else:
        steps = product.get("processing") or []
        if steps:
            values["processing"] = steps[0].get("description")
            elsewhere["processing"] = product.entry.at("processing[0].description")
        if len(steps) > 1:
            product.issue("FB-FHIR-056", "only the first processing step is read", "processing[1]")
