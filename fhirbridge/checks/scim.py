"""SCIM-III consistency: reported subscales, mobility sub-scores and total against the item scores."""

from __future__ import annotations

from fhirbridge.domains.scim import SUBSCALES, score_titles, subscale_sums, subscore_sums
from fhirbridge.issues.issue import Issue
from fhirbridge.records.scim import ScimAssessment


def check_assessment(assessment: ScimAssessment) -> list[Issue]:
    """Reported subscales and total against the sums of the item scores."""
    issues: list[Issue] = []
    sums = subscale_sums(assessment.items)
    missing = [key for key, score in assessment.items.items() if score is None]
    if missing:
        issues.append(Issue.of("FB-SCIM-003", f"SCIM-III items missing: {', '.join(missing)}",
                               source=assessment.source, field=f"items.{missing[0]}"))
    titles = score_titles()
    for key, summed in {**sums, **subscore_sums(assessment.items)}.items():
        reported = getattr(assessment, key)
        if reported is not None and summed is not None and reported != summed:
            issues.append(Issue.of(
                "FB-SCIM-001",
                f"{titles[key]} reported {reported}, but its items sum to {summed}",
                source=assessment.source, field=key, value=reported, expected=str(summed),
            ))
    parts = [getattr(assessment, key) if getattr(assessment, key) is not None else sums[key] for key in SUBSCALES]
    if assessment.total is not None and all(p is not None for p in parts):
        expected = sum(p for p in parts if p is not None)
        if assessment.total != expected:
            issues.append(Issue.of(
                "FB-SCIM-002", f"total reported {assessment.total}, but the subscales sum to {expected}",
                source=assessment.source, field="total", value=assessment.total, expected=str(expected),
            ))
    return issues
