"""Checking a reported ISNCSCI classification against the raw exam, or deriving it when none was reported; and the
worksheet entries a clinician would query (a non-key muscle where none can be, AIS E at a first exam, * values
without their reason)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from fhirbridge.domains.isncsci.classification import classify, explain_ais
from fhirbridge.domains.isncsci.structure import (
    CLASSIFICATION_TITLES,
    MODALITIES,
    NO_KEY_MUSCLE_LEVELS,
    SIDES,
    cells,
)
from fhirbridge.issues.issue import Issue
from fhirbridge.records import IsncsciClassification, IsncsciExam


@lru_cache(maxsize=4096)
def _values(v: str) -> frozenset[str]:
    """The possibilities a value lists, ignoring case, spaces and order."""
    return frozenset(p.strip().upper() for p in v.split(","))


def _same(reported: str, computed: str) -> bool:
    """Equal values, ignoring case, spaces and the order of listed possibilities."""
    return reported == computed or _values(reported) == _values(computed)


def _among(reported: str, computed: str) -> bool:
    """The reported value picks one (or some) of the several possibilities the exam leaves open."""
    return len(_values(computed)) > 1 and _values(reported) < _values(computed)


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
        if _among(reported, expected[field]):
            issues.append(Issue.of(
                "FB-ISN-004", f"visit {exam.visit}: {CLASSIFICATION_TITLES[field]} reported {reported}, one of the "
                f"possibilities {expected[field]} the exam leaves open", source=exam.source,
                field=f"classification.{field}", subject=exam.subject_id, record=exam.visit, value=reported,
                expected=expected[field]))
            continue
        if field == "asia_impairment_scale":
            message = f"AIS reported {reported}, computed {expected[field]}: {explain_ais(exam)}"
        else:
            message = f"{CLASSIFICATION_TITLES[field]} reported {reported}, computed {expected[field]}"
        issues.append(Issue.of("FB-ISN-001", f"visit {exam.visit}: {message}", source=exam.source,
                               field=f"classification.{field}", subject=exam.subject_id, record=exam.visit,
                               value=reported, expected=expected[field]))
    return computed, issues


def check_worksheet(exam: IsncsciExam) -> list[Issue]:
    """Entries of the worksheet itself that a clinician would query."""
    issues = []
    for side in SIDES:
        level = getattr(exam, side).lowest_non_key_muscle
        if level in NO_KEY_MUSCLE_LEVELS:
            issues.append(Issue.of(
                "FB-ISN-005", f"visit {exam.visit}: {side} lowest non-key muscle named at {level}, a segment without "
                "a key muscle (T2-L1); the classification ignores it", source=exam.source,
                field=f"{side}.lowest_non_key_muscle", subject=exam.subject_id, record=exam.visit, value=level,
                expected="C5-T1 or L2-S1"))
    starred = [f"{side} {modality} {level}" for side, modality, level in cells()
               if exam.cell(side, modality, level).rstrip("*") != exam.cell(side, modality, level)
               ] if _any_starred(exam) else []
    if starred and not exam.non_sci_condition:
        issues.append(Issue.of(
            "FB-ISN-007", f"visit {exam.visit}: {len(starred)} value(s) marked * ({', '.join(starred[:3])}"
            f"{', ...' if len(starred) > 3 else ''}) but no non-SCI condition is given", source=exam.source,
            field="non_sci_condition", subject=exam.subject_id, record=exam.visit))
    return issues


def _any_starred(exam: IsncsciExam) -> bool:
    """Whether any worksheet cell is marked ``*`` (most exams have none: a quick look before naming them)."""
    return any("*" in "".join(getattr(getattr(exam, side), modality).values()) for side in SIDES
               for modality in MODALITIES)


def check_first_exams(graded: Iterable[tuple[IsncsciExam, str | None]]) -> list[Issue]:
    """AIS E at each subject's first exam (by date; input order where dates are missing). ``graded`` pairs each
    exam with its AIS grade, reported or computed."""
    first: dict[tuple[str, str], tuple[IsncsciExam, str | None]] = {}
    for exam, grade in graded:
        subject = (exam.study_id, exam.subject_id)
        earlier = first.get(subject)
        if earlier is None or (exam.exam_date or "9999") < (earlier[0].exam_date or "9999"):
            first[subject] = (exam, grade)
    return [Issue.of("FB-ISN-006", f"visit {exam.visit}: AIS E (normal, with prior deficits) at the subject's first "
                     "exam", source=exam.source, field="classification.asia_impairment_scale",
                     subject=exam.subject_id, record=exam.visit, value=grade, expected="A-D at a first exam")
            for exam, grade in first.values() if grade is not None and _values(grade) == {"E"}]
