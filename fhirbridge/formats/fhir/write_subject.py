"""Study → ResearchStudy; Subject → Patient, ResearchSubject and (when the injury is known) Condition.

Where each field goes:

| record field | R4 / R4B | R5 |
|---|---|---|
| Study.study_id, registry_id | ResearchStudy.identifier (study and registry systems) | same |
| Study.title | title | title |
| Study.sponsor | sponsor.display | associatedParty (role sponsor).name |
| Study.country | location (ISO 3166) | region (ISO 3166) |
| Study.arm_code, arm | arm.name, arm.description | comparisonGroup.name, .description |
| Study.status | status (research-study-status) | progressStatus.state; status is the publication status |
| Subject.subject_id | Patient.identifier (subject system of the study) | same |
| Subject.sex, birth_date, age | Patient.gender, birthDate, the age-at-enrolment extension | same |
| Subject.site_id | ResearchSubject.identifier (site system) | same |
| Subject.enrolment_date | ResearchSubject.period.start | same; progress holds the on-study state |
| Subject.injury_date, injury_level | Condition.onsetDateTime, bodySite (sci-level) | same |

The age is in completed years; an Age must be positive (FHIR's age-1), so an age of 0 is written as under one
year (``comparator <``, value 1), and read back as 0.

``arm.name`` is required: without an arm code it carries the data-absent-reason extension instead of a value,
so that reading it back gives no arm code rather than inventing one.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.records import Study, Subject


def research_study(ctx: FhirContext, study: Study) -> Resource:
    resource: Resource = {
        "resourceType": "ResearchStudy",
        "id": ctx.resource_id("ResearchStudy", study.study_id),
        "meta": ctx.meta("ResearchStudy", study),
        "identifier": [{"system": ctx.system("study_id"), "value": study.study_id}],
    }
    if study.registry_id:
        resource["identifier"].append({"system": ctx.system("registry_id"), "value": study.registry_id})
    if study.title:
        resource["title"] = study.title
    state = ctx.mapped("study_status", study.status)
    if ctx.r5:
        resource["status"] = "active"
        if study.country:
            resource["region"] = [ctx.concept(ctx.coding("iso3166", study.country))]
        if study.sponsor:
            resource["associatedParty"] = [{"name": study.sponsor, "role": ctx.named("sponsor")}]
        if study.arm_code or study.arm:
            resource["comparisonGroup"] = [_arm(ctx, study)]
        resource["progressStatus"] = [{"state": ctx.concept(ctx.coding("research_study_status", state)),
                                       "actual": True}]
        return resource
    resource["status"] = state
    if study.country:
        resource["location"] = [ctx.concept(ctx.coding("iso3166", study.country))]
    if study.sponsor:
        resource["sponsor"] = {"display": study.sponsor}
    if study.arm_code or study.arm:
        resource["arm"] = [_arm(ctx, study)]
    return resource


def _arm(ctx: FhirContext, study: Study) -> dict[str, Any]:
    arm: dict[str, Any] = {"name": study.arm_code} if study.arm_code else {"_name": ctx.absent()}
    if study.arm:
        arm["description"] = study.arm
    return arm


def subject_identifier_system(ctx: FhirContext, study_id: str) -> str:
    """Subject ids are unique within a study: the study is part of the identifier system."""
    return f"{ctx.system('subject_id')}/{study_id}"


def patient(ctx: FhirContext, subject: Subject) -> Resource:
    resource: Resource = {
        "resourceType": "Patient",
        "id": ctx.resource_id("Patient", subject.study_id, subject.subject_id),
        "meta": ctx.meta("Patient", subject),
        "identifier": [{"system": subject_identifier_system(ctx, subject.study_id), "value": subject.subject_id}],
        "gender": ctx.mapped("sex", subject.sex),
    }
    if subject.birth_date:
        resource["birthDate"] = subject.birth_date
    if subject.age is not None:
        resource["extension"] = [ctx.extension("age", valueAge=age_in_years(ctx, subject.age))]
    return resource


def age_in_years(ctx: FhirContext, years: int) -> dict[str, Any]:
    """An age in completed years as a FHIR Age. An Age must be positive (FHIR's age-1), so an infant's age 0 is
    written as what it means, under one year (``< 1 a``); the reader reads that back as 0."""
    if years == 0:
        return {"value": 1, "comparator": "<", "unit": "a", "system": ctx.system("ucum"), "code": "a"}
    return {"value": years, "unit": "a", "system": ctx.system("ucum"), "code": "a"}


def research_subject(ctx: FhirContext, subject: Subject) -> Resource:
    """Enrolment of the patient in the study; the identifiers carry USUBJID and the site."""
    system = subject_identifier_system(ctx, subject.study_id)
    resource: Resource = {
        "resourceType": "ResearchSubject",
        "id": ctx.resource_id("ResearchSubject", subject.study_id, subject.subject_id),
        "meta": ctx.meta("ResearchSubject", subject),
        "identifier": [
            {"type": {"text": "USUBJID"}, "system": system, "value": subject.usubjid},
            {"type": {"text": "SITEID"}, "system": f"{system}/site", "value": subject.site_id},
        ],
    }
    if ctx.r5:
        resource["status"] = "active"
        resource["progress"] = [{"subjectState": ctx.named("on_study")}]
    else:
        resource["status"] = "on-study"
    if subject.enrolment_date:
        resource["period"] = {"start": subject.enrolment_date}
    resource["study"] = ctx.reference("ResearchStudy", subject.study_id)
    resource["subject" if ctx.r5 else "individual"] = ctx.patient_ref(subject)
    return resource


def injury(ctx: FhirContext, subject: Subject) -> Resource | None:
    """The spinal cord injury as a Condition, when its date or level is known."""
    if not (subject.injury_date or subject.injury_level):
        return None
    resource: Resource = {
        "resourceType": "Condition",
        "id": ctx.resource_id("Condition", subject.study_id, subject.subject_id),
        "meta": ctx.meta("Condition", subject),
        "clinicalStatus": ctx.named("active"),
        "verificationStatus": ctx.named("confirmed"),
        "code": ctx.named("spinal_cord_injury"),
        "subject": ctx.patient_ref(subject),
    }
    if subject.injury_date:
        resource["onsetDateTime"] = subject.injury_date
    if subject.injury_level:
        level = subject.injury_level
        resource["bodySite"] = [ctx.concept(ctx.coding("sci_level", level), text=level)]
    return resource
