"""Every record-level check in one call, as the convert and validate paths run them."""

from __future__ import annotations

from fhirbridge.checks.isncsci import check_exam
from fhirbridge.checks.references import drop_orphans
from fhirbridge.checks.scim import check_assessment
from fhirbridge.checks.timeline import check_timeline
from fhirbridge.issues.report import Report
from fhirbridge.records import IsncsciClassification, StudyData


def check(data: StudyData, report: Report) -> dict[tuple[str, ...], IsncsciClassification]:
    """The clinical consistency layer; returns the classifications computed for exams that reported none.

    Records that point at no known subject are removed first (and reported), so no writer makes a dangling
    reference from them."""
    report.extend(drop_orphans(data))
    computed = {}
    for exam in data.isncsci_exams:
        classification, issues = check_exam(exam)
        report.extend(issues)
        if exam.classification is None:
            computed[exam.key()] = classification
    for assessment in data.scim_assessments:
        report.extend(check_assessment(assessment))
    report.extend(check_timeline(data))
    report.stats["records"] = data.count()
    return computed
