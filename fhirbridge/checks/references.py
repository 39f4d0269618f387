"""Cross-record references in the hub: every record belongs to a known subject of a known study.

Records that point nowhere are removed (and reported) so that no writer produces a dangling reference: a subject
of a study that was not read (no study file) as much as a record of a subject that was not read.
"""

from __future__ import annotations

from fhirbridge.issues.issue import Issue
from fhirbridge.records import StudyData, SubjectRecord


def drop_orphans(data: StudyData) -> list[Issue]:
    issues: list[Issue] = []
    studies = {s.study_id for s in data.studies}
    subjects = {s.key() for s in data.subjects}
    kept = []
    for subject in data.subjects:
        if subject.study_id in studies:
            kept.append(subject)
            continue
        why = "which is not described" if studies else "but no study was read (is the study file missing?)"
        issues.append(Issue.of("FB-REF-002", f"subject {subject.subject_id} belongs to study {subject.study_id!r}, "
                               f"{why}; the subject and its records are not converted", source=subject.source,
                               field="study_id", value=subject.study_id))
        subjects.discard(subject.key())
    data.subjects = kept
    for name in ("isncsci_exams", "scim_assessments", "harvests", "infusions", "adverse_events"):
        kept_records: list[SubjectRecord] = []
        for record in getattr(data, name):
            if (record.study_id, record.subject_id) in subjects:
                kept_records.append(record)
            else:
                issues.append(Issue.of("FB-REF-001", f"subject {record.subject_id} of study {record.study_id} is "
                                       "not in the subjects file; the record is not converted",
                                       source=record.source, field="subject_id", value=record.subject_id))
        setattr(data, name, kept_records)
    return issues


def check_links(data: StudyData) -> list[Issue]:
    """Links between a subject's records that name a record the subject does not have (FB-REF-003)."""
    issues: list[Issue] = []
    harvests = {h.key() for h in data.harvests}
    kinds = {(r.study_id, r.subject_id, kind) for kind, records in (("harvest", data.harvests),
                                                                   ("infusion", data.infusions)) for r in records}
    for infusion in data.infusions:
        if infusion.harvest_id is not None and (infusion.study_id, infusion.subject_id,
                                                infusion.harvest_id) not in harvests:
            issues.append(Issue.of("FB-REF-003", f"infusion {infusion.infusion_id} of subject {infusion.subject_id} "
                                   f"names harvest {infusion.harvest_id}, which the subject does not have",
                                   source=infusion.source, field="harvest_id", value=infusion.harvest_id))
    for event in data.adverse_events:
        named = {"both": ("harvest", "infusion")}.get(event.related_procedure or "", (event.related_procedure,))
        missing = [kind for kind in named if kind and (event.study_id, event.subject_id, kind) not in kinds]
        if event.relationship and missing:
            issues.append(Issue.of("FB-REF-003", f"adverse event {event.ae_id} of subject {event.subject_id} is "
                                   f"judged against the {' and the '.join(missing)}, of which the subject has no "
                                   "record", source=event.source, field="related_procedure",
                                   value=event.related_procedure))
    return issues
