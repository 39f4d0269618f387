"""Checking a reported ISNCSCI classification against the raw exam, or deriving it when none was reported."""

from __future__ import annotations

from fhirbridge.domains.isncsci.classification import classify, explain_ais
from fhirbridge.domains.isncsci.structure import CLASSIFICATION_TITLES
from fhirbridge.issues.issue import Issue
from fhirbridge.records import IsncsciClassification, IsncsciExam


def _same(reported: str, computed: str) -> bool:
    """Equal values, ignoring case, spaces and the order of listed possibilities."""

    def norm(v: str) -> frozenset[str]:
        return frozenset(p.strip().upper() for p in v.split(","))

    return norm(reported) == norm(computed)


def check_exam(exam: IsncsciExam) -> tuple[IsncsciClassification, list[Issue]]:
    """The computed classification, and an issue for every reported value that disagrees with it.

    When the site reported nothing, the computed classification is what conversion writes (FB-ISN-002).
    """
    computed = classify(exam)
    if exam.classification is None:
        return computed, [Issue.of("FB-ISN-002", f"visit {exam.visit}: no classification reported; computed AIS "
                                   f"{computed.asia_impairment_scale}, NLI {computed.neurological_level_of_injury}",
                                   source=exam.source, subject=exam.subject_id, record=exam.visit)]
    issues = []
    expected = computed.model_dump()
    for field, reported in exam.classification.present().items():
        if _same(reported, expected[field]):
            continue
        if field == "asia_impairment_scale":
            message = f"AIS reported {reported}, computed {expected[field]}: {explain_ais(exam)}"
        else:
            message = f"{CLASSIFICATION_TITLES[field]} reported {reported}, computed {expected[field]}"
        issues.append(Issue.of("FB-ISN-001", f"visit {exam.visit}: {message}", source=exam.source,
                               field=f"classification.{field}", subject=exam.subject_id, record=exam.visit,
                               value=reported, expected=expected[field]))
    return computed, issues
