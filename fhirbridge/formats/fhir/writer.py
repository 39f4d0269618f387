"""The FHIR spoke, write direction: hub records → a Bundle (collection or transaction) of one FHIR release."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Literal

from fhirbridge import __version__
from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.formats.fhir.models import Release
from fhirbridge.formats.fhir.write_adverse_event import adverse_event_resource
from fhirbridge.formats.fhir.write_isncsci import exam_resources
from fhirbridge.formats.fhir.write_procedures import harvest_resource, infusion_resources
from fhirbridge.formats.fhir.write_scim import scim_resources
from fhirbridge.formats.fhir.write_subject import injury, patient, research_study, research_subject
from fhirbridge.mapping.fhir_mapping import FhirMapping
from fhirbridge.records import IsncsciClassification, StudyData

BundleType = Literal["collection", "transaction"]

#: Resources that carry a business identifier good enough for conditional create in a transaction.
_CONDITIONAL = {"Patient", "ResearchStudy", "ResearchSubject"}


def resources(
    ctx: FhirContext, data: StudyData, computed: dict[tuple[str, ...], IsncsciClassification]
) -> Iterator[Resource]:
    """Every resource of the study, in a stable order (study, subjects, procedures, assessments, events)."""
    for study in data.studies:
        yield research_study(ctx, study)
    injured: set[tuple[str, ...]] = set()
    for subject in data.subjects:
        yield patient(ctx, subject)
        yield research_subject(ctx, subject)
        condition = injury(ctx, subject)
        if condition is not None:
            injured.add(subject.key())
            yield condition
    for harvest in data.harvests:
        yield harvest_resource(ctx, harvest)
    infusion_of: dict[tuple[str, str], tuple[str, ...]] = {}
    for infusion in data.infusions:
        infusion_of.setdefault((infusion.study_id, infusion.subject_id), infusion.key())
        yield from infusion_resources(ctx, infusion, (infusion.study_id, infusion.subject_id) in injured)
    for exam in data.isncsci_exams:
        yield from exam_resources(ctx, exam, computed.get(exam.key()))
    for assessment in data.scim_assessments:
        yield from scim_resources(ctx, assessment)
    for event in data.adverse_events:
        yield adverse_event_resource(ctx, event, infusion_of.get((event.study_id, event.subject_id)))


def provenance(ctx: FhirContext, targets: list[Resource], inputs: list[str]) -> Resource:
    """One Provenance for the conversion: what was produced, from which files, by which fhirbridge."""
    resource: Resource = {
        "resourceType": "Provenance",
        "id": ctx.resource_id("Provenance", *sorted(r["id"] for r in targets)),
        "meta": {"profile": [ctx.profile("Provenance")]},
        "target": [{"reference": f"urn:uuid:{r['id']}"} for r in targets],
        "recorded": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "activity": {"text": "conversion"},
        "agent": [{"who": {"display": f"fhirbridge {__version__}"}}],
    }
    if inputs:  # records made in memory come from no file; FHIR allows no empty array
        resource["entity"] = [{"role": "source", "what": {"display": name}} for name in inputs]
    return resource


def bundle(
    mapping: FhirMapping,
    data: StudyData,
    *,
    bundle_type: BundleType = "collection",
    computed: dict[tuple[str, ...], IsncsciClassification] | None = None,
    inputs: list[str] | None = None,
    release: Release = "R4",
) -> Resource:
    """A Bundle of every record; ``computed`` holds classifications derived where the site reported none."""
    ctx = FhirContext(mapping, release)
    written = list(resources(ctx, data, computed or {}))
    written.append(provenance(ctx, written, inputs or []))
    entries = []
    for resource in written:
        entry: Resource = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
        if bundle_type == "transaction":
            entry["request"] = _request(resource)
        entries.append(entry)
    return {
        "resourceType": "Bundle",
        "id": ctx.resource_id("Bundle", bundle_type, *sorted(r["id"] for r in written[:-1])),
        "type": bundle_type,
        "entry": entries,
    }


def _request(resource: Resource) -> dict[str, str]:
    """Conditional create on the business identifier where there is one, else PUT on the stable id."""
    rtype = resource["resourceType"]
    if rtype in _CONDITIONAL:
        ident = resource["identifier"][0]
        return {"method": "POST", "url": rtype, "ifNoneExist": f"identifier={ident['system']}|{ident['value']}"}
    return {"method": "PUT", "url": f"{rtype}/{resource['id']}"}
