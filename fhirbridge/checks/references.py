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
