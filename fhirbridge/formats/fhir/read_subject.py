"""ResearchStudy → Study; Patient + ResearchSubject (+ the SCI Condition) → Subject. The inverse of
``write_subject`` (its docstring lists where each field is, per release)."""

from __future__ import annotations

from typing import Any

from fhirbridge.formats.fhir.read_context import Item, code_in, date_only
from fhirbridge.records import Study, Subject


def record_key(item: Item, system: str) -> tuple[str, str] | None:
    """(element, value) of the identifier in ``system``, else of the only identifier there is."""
    identifiers = item.get("identifier")
    identifiers = identifiers if isinstance(identifiers, list) else [identifiers] if identifiers else []
    for i, ident in enumerate(identifiers):
        if ident.get("system") == system and ident.get("value"):
            return f"identifier[{i}].value", ident["value"]
    if len(identifiers) == 1 and identifiers[0].get("value"):
        return "identifier[0].value", identifiers[0]["value"]
    return None


def read_study(item: Item) -> Study | None:
    ctx = item.ctx
    key = record_key(item, ctx.system("study_id"))
    if key is None:
        item.issue("FB-FHIR-059", "no study identifier; the study is not converted", "identifier")
        return None
    values: dict[str, Any] = {"study_id": key[1]}
    columns = {"study_id": key[0]}
    for i, ident in enumerate(item.get("identifier") or []):
        if ident.get("system") == ctx.system("registry_id"):
            values["registry_id"], columns["registry_id"] = ident.get("value"), f"identifier[{i}].value"
    values["title"], columns["title"] = item.get("title"), "title"
    if ctx.r5:
        item.get("status")  # the publication status of the resource, not of the study
        states = item.get("progressStatus") or []
        state = ctx.code(states[0].get("state"), "research_study_status") if states else None
        regions, arms = item.get("region") or [], item.get("comparisonGroup") or []
        sponsor_role = ctx.named("sponsor")
        parties = item.get("associatedParty") or []
        sponsors = [(i, p) for i, p in enumerate(parties)
                    if code_in(p.get("role"), sponsor_role[0]) == sponsor_role[1]]
        if sponsors:
            values["sponsor"], columns["sponsor"] = sponsors[0][1].get("name"), f"associatedParty[{sponsors[0][0]}]"
        status_at, country_at, arm_at = "progressStatus[0].state", "region[0]", "comparisonGroup[0]"
    else:
        state = item.get("status")
        regions, arms = item.get("location") or [], item.get("arm") or []
        sponsor = item.get("sponsor")
        if sponsor:
            values["sponsor"], columns["sponsor"] = sponsor.get("display"), "sponsor.display"
        status_at, country_at, arm_at = "status", "location[0]", "arm[0]"
    if state is not None:
        values["status"], columns["status"] = ctx.unmapped("study_status", state) or state, status_at
    if regions:
        values["country"], columns["country"] = ctx.code(regions[0], "iso3166"), country_at
    if arms:
        values["arm_code"], values["arm"] = arms[0].get("name"), arms[0].get("description")
        columns.update(arm_code=f"{arm_at}.name", arm=f"{arm_at}.description")
    for extra, element in ((regions, country_at), (arms, arm_at)):
        if len(extra) > 1:
            item.issue("FB-FHIR-056", "a study has one of these; only the first is read",
                       element.replace("[0]", "[1]"))
    return item.build(Study, values, columns)


def is_injury(item: Item) -> bool:
    system, code = item.ctx.named("spinal_cord_injury")
    return code_in(item.resource.get("code"), system) == code


def read_subject(patient: Item, enrolment: Item, injury: Item | None, study: Study) -> Subject | None:
    """One subject of one study: ``enrolment`` is the ResearchSubject linking ``patient`` to ``study``."""
    ctx = patient.ctx
    system = f"{ctx.system('subject_id')}/{study.study_id}"
    key = record_key(patient, system)
    if key is None:
        patient.issue("FB-FHIR-059", f"no identifier in {system}; the subject is not converted", "identifier")
        return None
    values: dict[str, Any] = {"study_id": study.study_id, "subject_id": key[1]}
    columns = {"subject_id": key[0]}
    gender = patient.get("gender")
    values["sex"], columns["sex"] = (ctx.unmapped("sex", gender) or gender) if gender else None, "gender"
    values["birth_date"], columns["birth_date"] = patient.get("birthDate"), "birthDate"
    at, age = patient.extension_value("age", "valueAge")
    if age is not None:
        years = age.get("value")
        if age.get("comparator") == "<" and years == 1:  # under one year: 0 completed years, as the writer puts it
            years = 0
        values["age"], columns["age"] = years, f"{at}.value"
    elsewhere = {"enrolment_date": enrolment.entry.at("period.start")}
    for i, ident in enumerate(enrolment.get("identifier") or []):
        if ident.get("system") == f"{system}/site" or (ident.get("type") or {}).get("text") == "SITEID":
            values["site_id"], elsewhere["site_id"] = ident.get("value"), enrolment.entry.at(f"identifier[{i}].value")
    values["enrolment_date"] = date_only(enrolment, (enrolment.get("period") or {}).get("start"), "period.start")
    _check_on_study(enrolment)
    for element in ("study", "subject" if ctx.r5 else "individual"):
        enrolment.get(element)
    if injury is not None:
        injury.get("code")
        injury.get("subject")
        for element in ("clinicalStatus", "verificationStatus"):
            injury.get(element)
        values["injury_date"] = date_only(injury, injury.get("onsetDateTime"), "onsetDateTime")
        elsewhere["injury_date"] = injury.entry.at("onsetDateTime")
        sites = injury.get("bodySite") or []
        if sites:
            values["injury_level"] = ctx.code(sites[0], "sci_level") or sites[0].get("text")
            elsewhere["injury_level"] = injury.entry.at("bodySite[0]")
    return patient.build(Subject, values, columns, elsewhere)


def _check_on_study(enrolment: Item) -> None:
    """The records have no subject status: a subject that is not on study would be misrepresented."""
    ctx = enrolment.ctx
    if ctx.r5:
        enrolment.get("status")
        states = [ctx.code(p.get("subjectState"), "research_subject_state") for p in enrolment.get("progress") or []]
        on_study = ctx.named("on_study")[1]
        state, element = (states[-1] if states else on_study), "progress"
    else:
        state, element = enrolment.get("status"), "status"
        on_study = "on-study"
    if state != on_study:
        enrolment.issue("FB-FHIR-056", f"subject state {state!r} has no place in the records (read as on study)",
                        element, value=state)
