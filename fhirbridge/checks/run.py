"""Every record-level check in one call, as the convert and validate paths run them."""

from __future__ import annotations

from fhirbridge.checks.isncsci import check_exam, check_first_exams, check_worksheet
from fhirbridge.checks.references import check_links, drop_orphans
from fhirbridge.checks.scim import check_assessment
from fhirbridge.checks.timeline import check_timeline
from fhirbridge.issues.report import Report
from fhirbridge.records import IsncsciClassification, StudyData


def check(data: StudyData, report: Report) -> dict[tuple[str, ...], IsncsciClassification]:
    """The clinical consistency layer; returns the classifications computed for exams that reported none.

    Records that point at no known subject are removed first (and reported), so no writer makes a dangling
    reference from them."""
    report.extend(drop_orphans(data))
    report.extend(check_links(data))
    computed = {}
    grades = []
    for exam in data.isncsci_exams:
        classification, issues = check_exam(exam)
        report.extend(issues)
        report.extend(check_worksheet(exam))
        if exam.classification is None:
            computed[exam.key()] = classification
        reported = exam.classification.asia_impairment_scale if exam.classification is not None else None
        grades.append((exam, reported or classification.asia_impairment_scale))
    report.extend(check_first_exams(grades))
    for assessment in data.scim_assessments:
        report.extend(check_assessment(assessment))
    report.extend(check_timeline(data))
    report.stats["records"] = data.count()
    return computed
