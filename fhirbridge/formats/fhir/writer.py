"""The FHIR spoke, write direction: hub records → FHIR resources, a subject at a time, and Bundle entries.

Resources come in *units*: the study's (its ResearchStudy resources) and one per subject (Patient,
ResearchSubject, Condition, procedures, assessments, events), each unit closed by one Provenance naming the
unit's resources. A unit is what output files never split: its references resolve within it, or point at the
study, which every Bundle file carries. Units do not depend on how subjects were grouped into chunks, so the
output is the same whatever the chunk size or the number of worker processes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, Literal

from fhirbridge import __version__
from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.formats.fhir.isncsci_templates import exam_written
from fhirbridge.formats.fhir.models import Release
from fhirbridge.formats.fhir.procedure_templates import harvest_written, infusion_written
from fhirbridge.formats.fhir.scim_templates import scim_written
from fhirbridge.formats.fhir.subject_templates import injury_written, patient_written, research_subject_written
from fhirbridge.formats.fhir.templates import ANY_TARGET, Hole, Written, template
from fhirbridge.formats.fhir.write_adverse_event import adverse_event_resource, suspects_of
from fhirbridge.formats.fhir.write_isncsci import exam_resources
from fhirbridge.formats.fhir.write_procedures import harvest_resource, infusion_resources
from fhirbridge.formats.fhir.write_scim import scim_resources
from fhirbridge.formats.fhir.write_subject import injury, patient, research_study, research_subject
from fhirbridge.mapping.fhir_mapping import FhirMapping
from fhirbridge.records import IsncsciClassification, Record, StudyData, SubjectRecord

BundleType = Literal["collection", "transaction"]
Computed = dict[tuple[str, ...], IsncsciClassification]

#: Resources that carry a business identifier good enough for conditional create in a transaction.
_CONDITIONAL = {"Patient", "ResearchStudy", "ResearchSubject"}


def conversion_time() -> str:
    """When this conversion ran, as Provenance.recorded: taken once per run (so that every worker writes the same
    time), and fixed by ``SOURCE_DATE_EPOCH`` for byte-identical output."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return moment.isoformat(timespec="seconds")


def study_unit(ctx: FhirContext, data: StudyData, recorded: str) -> list[Resource]:
    """The studies' ResearchStudy resources and their Provenance (empty without a study)."""
    studies = [research_study(ctx, study) for study in data.studies]
    return [*studies, provenance(ctx, studies, _sources(data.studies), recorded)] if studies else []


def subject_units(
    ctx: FhirContext, data: StudyData, computed: Computed, recorded: str, templates: bool = False
) -> Iterator[list[Any]]:
    """Every subject's resources, subjects in the order given, each list closed by its Provenance; with
    ``templates``, the kinds written from templates come as ``Written`` (see ``templates``), the others as
    dicts."""
    by_subject: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for record in data.records():
        if isinstance(record, SubjectRecord):
            by_subject[(record.study_id, record.subject_id)].append(record)
    for subject in data.subjects:
        mine = StudyData()
        for record in by_subject.get((subject.study_id, subject.subject_id), []):
            mine.add(record)
        written = list(_subject_resources(ctx, mine, computed, templates))
        inputs = _sources(mine.records())
        yield [*written, (provenance_written if templates else provenance)(ctx, written, inputs, recorded)]


def _subject_resources(ctx: FhirContext, data: StudyData, computed: Computed, templates: bool = False) -> Iterator[Any]:
    """One subject's resources in a stable order (subject, procedures, assessments, events)."""
    injured = False
    for subject in data.subjects:
        if templates:
            yield patient_written(ctx, subject)
            yield research_subject_written(ctx, subject)
            condition: Any = injury_written(ctx, subject)
        else:
            yield patient(ctx, subject)
            yield research_subject(ctx, subject)
            condition = injury(ctx, subject)
        if condition is not None:
            injured = True
            yield condition
    for harvest in data.harvests:
        yield (harvest_written if templates else harvest_resource)(ctx, harvest)
    for infusion in data.infusions:
        yield from (infusion_written if templates else infusion_resources)(ctx, infusion, injured, data.harvests)
    exams = exam_written if templates else exam_resources
    for exam in data.isncsci_exams:
        yield from exams(ctx, exam, computed.get(exam.key()))
    for assessment in data.scim_assessments:
        yield from (scim_written if templates else scim_resources)(ctx, assessment)
    for event in data.adverse_events:
        yield adverse_event_resource(ctx, event, suspects_of(event, data.harvests, data.infusions))


def _sources(records: object) -> list[str]:
    names = {r.source.file for r in records if r.source and r.source.file}  # type: ignore[attr-defined]
    return sorted({os.path.basename(name) for name in names})


def provenance(ctx: FhirContext, targets: list[Any], inputs: list[str], recorded: str) -> Resource:
    """One Provenance for a unit of the conversion: what was produced, from which files, by which fhirbridge."""
    ids = [resource_id(r) for r in targets]
    resource: Resource = {
        "resourceType": "Provenance",
        "id": ctx.resource_id("Provenance", *sorted(ids)),
        "meta": {"profile": [ctx.profile("Provenance")]},
        "target": [{"reference": f"urn:uuid:{i}"} for i in ids],
        "recorded": recorded,
        "activity": {"text": "conversion"},
        "agent": [{"who": {"display": f"fhirbridge {__version__}"}}],
    }
    if inputs:  # records made in memory come from no file; FHIR allows no empty array
        resource["entity"] = [{"role": "source", "what": {"display": name}} for name in inputs]
    return resource


def resource_id(resource: Resource | Written) -> str:
    return resource.rid if isinstance(resource, Written) else resource["id"]


def resource_type(resource: Resource | Written) -> str:
    return resource.rtype if isinstance(resource, Written) else resource["resourceType"]


def provenance_written(ctx: FhirContext, targets: list[Any], inputs: list[str], recorded: str) -> Written:
    """``provenance`` from a template per number of targets and of input files (and conversion time)."""
    ids = [resource_id(r) for r in targets]
    rid = ctx.resource_id("Provenance", *sorted(ids))

    def build() -> Resource:
        return provenance(ctx, targets, inputs, recorded)

    def holes() -> list[Hole]:
        return [
            Hole(("id",)),
            *(Hole(("target", n, "reference"), ANY_TARGET) for n in range(len(ids))),
            *(Hole(("entity", n, "what", "display")) for n in range(len(inputs))),
        ]

    shape = ("template", "Provenance", len(ids), len(inputs), recorded)
    return Written(template(ctx.constants, shape, build, holes), rid, [rid, *ids, *inputs], build)


def entry(resource: Resource, bundle_type: BundleType) -> Resource:
    """The Bundle entry of a resource: its fullUrl, and in a transaction the request that stores it."""
    result: Resource = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
    if bundle_type == "transaction":
        result["request"] = _request(resource)
    return result


def bundle_header(ctx: FhirContext, bundle_type: BundleType, *key: str) -> Resource:
    """A Bundle without its entries; its id is derived from ``key`` (what the Bundle holds)."""
    return {"resourceType": "Bundle", "id": ctx.resource_id("Bundle", bundle_type, *key), "type": bundle_type}


def bundle(
    mapping: FhirMapping,
    data: StudyData,
    *,
    bundle_type: BundleType = "collection",
    computed: Computed | None = None,
    recorded: str | None = None,
    release: Release = "R4",
) -> Resource:
    """One Bundle of every record, in memory; ``computed`` holds classifications derived where the site reported
    none. Files are written a unit at a time instead (``fhirbridge.formats.fhir.sink``)."""
    ctx = FhirContext(mapping, release)
    recorded = recorded or conversion_time()
    study = study_unit(ctx, data, recorded)
    subjects = list(subject_units(ctx, data, computed or {}, recorded))
    header = bundle_header(ctx, bundle_type, study[0]["id"] if study else "", subjects[0][0]["id"] if subjects else "")
    return {**header, "entry": [entry(r, bundle_type) for unit in (study, *subjects) for r in unit]}


def _request(resource: Resource) -> dict[str, str]:
    """Conditional create on the business identifier where there is one, else PUT on the stable id."""
    rtype = resource["resourceType"]
    if rtype in _CONDITIONAL:
        ident = resource["identifier"][0]
        return {"method": "POST", "url": rtype, "ifNoneExist": f"identifier={ident['system']}|{ident['value']}"}
    return {"method": "PUT", "url": f"{rtype}/{resource['id']}"}
