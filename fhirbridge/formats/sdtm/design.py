"""Trial design (TS parameters, TA, TE, TV, TI) from the mapping's ``trial_design``, and what each subject's
records tell about the design: the dates of the subject's elements (SE), its visits (SV), the epoch of a date.

Nothing here is read back: SDTM → records ignores these datasets and rows, and writing derives them again, so
SDTM → FHIR → SDTM gives them back unchanged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.formats.sdtm.times import before, to_local
from fhirbridge.mapping.csv_layout import RECORD_TYPES
from fhirbridge.mapping.sdtm_mapping import SdtmMapping
from fhirbridge.records import AdverseEvent, Harvest, Infusion, Study, StudyData, Subject

Item = dict[str, Any]


@dataclass
class SubjectDates:
    """One subject's dates as --DTC text (the study's local time): what SE, DM and EPOCH are derived from."""

    milestones: dict[str, str] = field(default_factory=dict)
    first_infusion: str | None = None
    last_infusion_end: str | None = None
    last_date: str | None = None
    death_date: str | None = None
    visits: dict[str, list[str]] = field(default_factory=dict)
    elements: list[Item] = field(default_factory=list)

    def epoch_at(self, date: str | None) -> str | None:
        """The epoch of the subject's element that the date falls in (None before the first one)."""
        found = None
        for element in self.elements:
            if date is not None and not before(date, element["start"]):
                found = element["epoch"]
        return found


@dataclass
class StudyFacts:
    """What TS derives from all subjects of each study, gathered chunk by chunk."""

    first_enrolment: dict[str, str] = field(default_factory=dict)
    last_date: dict[str, str] = field(default_factory=dict)
    subjects: Counter[str] = field(default_factory=Counter)

    def add(self, study_id: str, enrolment: str | None, last: str | None) -> None:
        self.subjects[study_id] += 1
        if enrolment and (study_id not in self.first_enrolment or before(enrolment, self.first_enrolment[study_id])):
            self.first_enrolment[study_id] = enrolment
        if last and (study_id not in self.last_date or before(self.last_date[study_id], last)):
            self.last_date[study_id] = last


def subject_dates(data: StudyData, mapping: SdtmMapping, facts: StudyFacts) -> dict[tuple[str, str], SubjectDates]:
    """Every subject's dates, by (study, subject); each subject is also counted in ``facts``."""
    local = lambda iso: to_local(iso, mapping.timezone)[0]  # noqa: E731
    out = {(s.study_id, s.subject_id): SubjectDates() for s in data.subjects}
    visit_dates = _visit_date_fields(mapping)
    for record in data.records():
        key = (getattr(record, "study_id", ""), getattr(record, "subject_id", ""))
        if key not in out:
            continue
        subject = out[key]
        dates = [local(v) for name, v in record.model_dump().items() if name in _DATE_FIELDS and v]
        for date in dates:
            if subject.last_date is None or before(subject.last_date, date):
                subject.last_date = date
        visit_field = visit_dates.get(type(record))
        if visit_field is not None:
            date = getattr(record, visit_field)
            subject.visits.setdefault(record.visit, []).extend([local(date)] if date else [])  # type: ignore[attr-defined]
        _milestones(subject, record, local)
    for (study_id, _), subject in out.items():
        subject.elements = _elements(subject, mapping)
        facts.add(study_id, subject.milestones.get("enrolment"), subject.last_date)
    return out


#: Record fields that date what happened to a subject during the study (birth and injury precede it).
_DATE_FIELDS = frozenset({"enrolment_date", "performed", "start", "end", "exam_date", "assessment_date", "onset",
                          "resolution"})


def _visit_date_fields(mapping: SdtmMapping) -> dict[type, str]:
    """Record type → the field dating its visit (the --DTC of its findings domain)."""
    out = {}
    for spec in mapping.domains.values():
        date = spec.date_variable()
        if spec.kind == "findings" and spec.has_subjects() and date and spec.variables[date].field:
            out[RECORD_TYPES[spec.record]] = str(spec.variables[date].field)
    return out


def _milestones(subject: SubjectDates, record: Any, local: Any) -> None:
    marks = subject.milestones
    if isinstance(record, Subject) and record.enrolment_date:
        marks["enrolment"] = local(record.enrolment_date)
    elif isinstance(record, Harvest):
        performed = local(record.performed)
        if "harvest" not in marks or before(performed, marks["harvest"]):
            marks["harvest"] = performed
    elif isinstance(record, Infusion):
        start, end = local(record.start), local(record.end or record.start)
        if subject.first_infusion is None or before(start, subject.first_infusion):
            subject.first_infusion = marks["infusion"] = start
            marks["infusion_end"] = end
        if subject.last_infusion_end is None or before(subject.last_infusion_end, end):
            subject.last_infusion_end = end
    elif isinstance(record, AdverseEvent) and record.outcome == "fatal":
        subject.death_date = local(record.resolution or record.onset)


def _elements(subject: SubjectDates, mapping: SdtmMapping) -> list[Item]:
    design = mapping.trial_design
    started = []
    for order, etcd in enumerate(design.arm, start=1):
        element = design.elements[etcd]
        start = subject.milestones.get(element.start)
        if start is not None:
            started.append({"etcd": etcd, "element": element.element, "order": order, "epoch": element.epoch,
                            "start": start})
    for this, following in zip(started, [*started[1:], None][:len(started)], strict=True):
        end = following["start"] if following else subject.last_date
        this["end"] = end if end is not None and not before(end, this["start"]) else None
    return started


def subject_visits(subject: SubjectDates, mapping: SdtmMapping) -> list[Item]:
    """SV: one row per visit the subject's records name, dated by the first and last of them."""
    rows = []
    for visit, dates in subject.visits.items():
        planned = mapping.trial_design.visits.get(visit)
        rows.append({
            "visitnum": planned.visitnum if planned else None, "visit": visit, "presp": "Y" if planned else None,
            "occur": "Y", "visitdy": planned.visitdy if planned else None,
            "start": min(dates) if dates else None, "end": max(dates) if dates else None,
            "unplanned": None if planned else f"Visit {visit}, not in the trial design",
        })
    return sorted(rows, key=lambda r: (r["visitnum"] is None, r["visitnum"] or 0, r["visit"]))


def design_rows(rows_from: str, mapping: SdtmMapping) -> list[Item]:
    """The rows of a trial design dataset (TA, TE, TV, TI) for the study's single arm."""
    design = mapping.trial_design
    match rows_from:
        case "arm":
            return [{"order": n, "etcd": e, "element": design.elements[e].element, "branch": None,
                     "transition": None, "epoch": design.elements[e].epoch}
                    for n, e in enumerate(design.arm, start=1)]
        case "elements":
            return [{"etcd": code, "element": e.element, "start_rule": e.start_rule, "end_rule": e.end_rule,
                     "duration": e.duration} for code, e in design.elements.items()]
        case "visits":
            return [{"visitnum": v.visitnum, "visit": name, "visitdy": v.visitdy, "start_rule": v.start_rule,
                     "end_rule": None} for name, v in design.visits.items()]
        case "criteria":
            return [{"ietestcd": code, "ietest": c.text, "iecat": c.category} for code, c in design.criteria.items()]
    return []


def parameter_rows(study: Study, facts: StudyFacts, mapping: SdtmMapping) -> list[Item]:
    """TS rows of the design and those derived from the subjects (after the study record's own rows)."""
    ct = mapping.ct()
    iso = {"vcdref": "ISO 8601"}
    values: dict[str, tuple[Any, Item]] = {
        "SSTDTC": (facts.first_enrolment.get(study.study_id), iso),
        "SENDTC": (facts.last_date.get(study.study_id), iso),
        "ACTSUB": (facts.subjects.get(study.study_id), {}),
        "SDTIGVER": (mapping.standard.version, {}),
        "SDTMVER": (mapping.standard.model, {}),
    }
    rows = []
    for code, p in mapping.trial_design.parameters.items():
        extra: Item = {}
        if p.ct is not None and p.ct in ct.codelists:
            extra = {"valcd": ct.codelists[p.ct].terms.get(p.value), "vcdref": "CDISC CT", "vcdver": ct.version}
        rows.append({"testcd": code, "test": p.parm, "orres": p.value, **extra})
    for code, (value, extra) in values.items():
        if value is not None:
            rows.append({"testcd": code, "test": DERIVED_PARAMETERS[code], "orres": str(value), **extra})
    return rows


#: TS parameters fhirbridge derives: code → name.
DERIVED_PARAMETERS = {"SSTDTC": "Study Start Date", "SENDTC": "Study End Date", "ACTSUB": "Actual Number of Subjects",
                      "SDTIGVER": "SDTM IG Version", "SDTMVER": "SDTM Version"}


def parameter_names(mapping: SdtmMapping) -> dict[str, str]:
    """TSPARMCD → TSPARM of every row ``parameter_rows`` may write."""
    return {**{code: p.parm for code, p in mapping.trial_design.parameters.items()}, **DERIVED_PARAMETERS}


def derived_parameters(mapping: SdtmMapping) -> set[str]:
    """The TSPARMCD of every row ``parameter_rows`` may write (reading skips them)."""
    return set(parameter_names(mapping))
