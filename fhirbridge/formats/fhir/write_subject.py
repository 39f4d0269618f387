"""Study → ResearchStudy; Subject → Patient, ResearchSubject and (when the injury is known) Condition."""

from __future__ import annotations

from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.records import Study, Subject


def research_study(ctx: FhirContext, study: Study) -> Resource:
    resource: Resource = {
        "resourceType": "ResearchStudy",
        "id": ctx.resource_id("ResearchStudy", study.study_id),
        "meta": ctx.meta("ResearchStudy", study),
        "identifier": [{"system": ctx.system("study_id"), "value": study.study_id}],
        "status": ctx.mapped("study_status", study.status),
    }
    if study.registry_id:
        resource["identifier"].append({"system": ctx.system("registry_id"), "value": study.registry_id})
    if study.title:
        resource["title"] = study.title
    if study.sponsor:
        resource["sponsor"] = {"display": study.sponsor}
    if study.country:
        resource["location"] = [ctx.concept(ctx.coding("iso3166", study.country))]
    if study.arm_code or study.arm:
        arm = {"name": study.arm_code or study.arm}
        if study.arm:
            arm["description"] = study.arm
        resource["arm"] = [arm]
    return resource


def patient(ctx: FhirContext, subject: Subject) -> Resource:
    resource: Resource = {
        "resourceType": "Patient",
        "id": ctx.resource_id("Patient", subject.study_id, subject.subject_id),
        "meta": ctx.meta("Patient", subject),
        "identifier": [
            {"system": f"{ctx.system('subject_id')}/{subject.study_id}", "value": subject.subject_id}
        ],
        "gender": ctx.mapped("sex", subject.sex),
    }
    if subject.birth_date:
        resource["birthDate"] = subject.birth_date
    if subject.age is not None:
        age = {"value": subject.age, "unit": "a", "system": ctx.system("ucum"), "code": "a"}
        resource["extension"] = [ctx.extension("age", valueAge=age)]
    return resource


def research_subject(ctx: FhirContext, subject: Subject) -> Resource:
    """Enrolment of the patient in the study; the identifiers carry USUBJID and the site."""
    system = f"{ctx.system('subject_id')}/{subject.study_id}"
    resource: Resource = {
        "resourceType": "ResearchSubject",
        "id": ctx.resource_id("ResearchSubject", subject.study_id, subject.subject_id),
        "meta": ctx.meta("ResearchSubject", subject),
        "identifier": [
            {"type": {"text": "USUBJID"}, "system": system, "value": subject.usubjid},
            {"type": {"text": "SITEID"}, "system": f"{system}/site", "value": subject.site_id},
        ],
        "status": "on-study",
        "study": ctx.reference("ResearchStudy", subject.study_id),
        "individual": ctx.patient_ref(subject),
    }
    if subject.enrolment_date:
        resource["period"] = {"start": subject.enrolment_date}
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
