"""Clinical consistency across records of one subject: the order of injury, enrolment, infusion and events."""

from __future__ import annotations

from fhirbridge.issues.issue import Issue
from fhirbridge.records import StudyData
from fhirbridge.records.dates import date_part


def check_timeline(data: StudyData) -> list[Issue]:
    """The timeline's issues; an adverse event that ends before it starts is reported and removed from ``data``."""
    issues: list[Issue] = []
    subjects = {s.key(): s for s in data.subjects}
    first_infusion: dict[tuple[str, ...], str] = {}
    for infusion in data.infusions:
        key = (infusion.study_id, infusion.subject_id)
        start = date_part(infusion.start) or ""
        first_infusion[key] = min(first_infusion.get(key, start), start)
        subject = subjects.get(key)
        if subject is None:
            continue
        for label, when in (("injury", subject.injury_date), ("enrolment", subject.enrolment_date)):
            if when and start < when:
                issues.append(Issue.of("FB-DATE-001", f"infusion on {start} is before the {label} on {when}",
                                       source=infusion.source, field="start", subject=infusion.subject_id,
                                       value=infusion.start, expected=f"on or after {when}"))
    kept = []
    for event in data.adverse_events:
        onset, end = date_part(event.onset) or "", date_part(event.resolution)
        if end is not None and end < onset:
            # left out: written, its period would break FHIR's per-1 (start <= end)
            issues.append(Issue.of("FB-DATE-002", f"adverse event {event.ae_id} resolves on {end}, before its "
                                   f"onset on {onset}; it is not converted", source=event.source, field="resolution",
                                   subject=event.subject_id, record=event.ae_id, value=event.resolution,
                                   expected=f"on or after {onset}"))
            continue
        kept.append(event)
        infused = first_infusion.get((event.study_id, event.subject_id))
        if infused and onset < infused:
            issues.append(Issue.of("FB-AE-001", f"adverse event {event.ae_id} started on {onset}, before the "
                                   f"infusion on {infused}: not treatment-emergent", source=event.source,
                                   field="onset", subject=event.subject_id, record=event.ae_id, value=event.onset))
        if event.serious != bool(event.serious_criteria):
            what = "serious without a criterion" if event.serious else "not serious but has serious criteria"
            issues.append(Issue.of("FB-AE-002", f"adverse event {event.ae_id} is {what}", source=event.source,
                                   field="serious_criteria", subject=event.subject_id, record=event.ae_id))
    data.adverse_events = kept
    return issues
