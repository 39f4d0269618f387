"""The few values of each record that the report's figures use, gathered as chunks of records stream through.

Holding every record of a study until the figures are computed costs kilobytes per record (most of a GiB at
13,000 subjects). The figures need only a handful of values per exam, assessment and event: AIS grade and
totals, SCIM-III scores, dates, the adverse-event fields of the safety tables and the timeline. ``StudyFacts``
keeps those as small tuples (subject ids and visits shared, not copied), chunk by chunk, in the order the records
came, so that every figure is the one the whole records would give.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from typing import NamedTuple

from fhirbridge.domains.isncsci.classification import classify
from fhirbridge.domains.scim import SUBSCALES
from fhirbridge.records import AdverseEvent, IsncsciClassification, IsncsciExam, ScimAssessment, StudyData
from fhirbridge.records.dates import date_part

#: The ISNCSCI values followed over time: (key, label, largest possible value).
NEURO_MEASURES: tuple[tuple[str, str, int], ...] = (
    ("upper_motor_total", "UEMS", 50),
    ("lower_motor_total", "LEMS", 50),
    ("motor_total", "Total motor", 100),
    ("touch_total", "Light touch (LT)", 112),
    ("prick_total", "Pin prick (PP)", 112),
)
#: The SCIM-III scores followed over time.
SCIM_MEASURES: tuple[tuple[str, str, int], ...] = (
    ("total", "SCIM-III total", 100),
    *((s.key, s.title, s.maximum) for s in SUBSCALES.values()),
)
#: The classification values the figures use; the site's where it reported them, else computed.
_CLASSIFIED = ("asia_impairment_scale", "upper_motor_total", "lower_motor_total", "touch_total", "prick_total")


class ExamFacts(NamedTuple):
    subject: str
    visit: str
    day: dt.date | None
    grade: str  # the AIS grade, "ND" when none could be given
    scores: tuple[float | None, ...]  # in the order of NEURO_MEASURES
    computed: bool  # the site reported no grade: it is computed from the raw worksheet


class ScimFacts(NamedTuple):
    subject: str
    visit: str
    day: dt.date | None
    scores: tuple[float | None, ...]  # in the order of SCIM_MEASURES


class EventFacts(NamedTuple):
    """What the safety tables and the timeline show of one adverse event."""

    subject: str
    term: str  # the preferred term, or the verbatim term marked as not coded
    label: str  # the preferred term, else the verbatim term
    soc_code: str | None
    soc: str | None
    severity: str | None
    serious: bool
    seriousness: str  # "not serious", "serious" or "serious: <criteria>"
    relationship: str | None
    onset: str | None
    resolution: str | None


class DoseFacts(NamedTuple):
    """A bone-marrow harvest (``end`` None) or an infusion."""

    subject: str
    start: str | None
    end: str | None


class StudyFacts:
    """The values the figures use, added a chunk of records at a time (``api.validate``'s ``on_records``)."""

    def __init__(self) -> None:
        self.studies: dict[str, str | None] = {}
        self.subjects: set[str] = set()
        self.records: Counter[str] = Counter({kind: 0 for kind in StudyData().count()})
        self.exams: list[ExamFacts] = []
        self.assessments: list[ScimFacts] = []
        self.events: list[EventFacts] = []
        self.harvests: list[DoseFacts] = []
        self.infusions: list[DoseFacts] = []

    def __call__(self, chunk: StudyData, computed: dict[tuple[str, ...], IsncsciClassification]) -> None:
        self.add(chunk, computed)

    def add(self, chunk: StudyData, computed: dict[tuple[str, ...], IsncsciClassification] | None = None) -> None:
        """Keep what the figures use of ``chunk``; ``computed`` holds classifications already computed for its
        exams (by record key), so that none is computed twice. A study repeated in every chunk counts once."""
        computed = computed or {}
        for study in chunk.studies:
            self.studies.setdefault(study.study_id, study.title)
        counts = chunk.count()
        counts["studies"] = 0
        self.records.update(counts)
        self.records["studies"] = len(self.studies)
        self.subjects.update(_shared(s.subject_id) for s in chunk.subjects)
        self.exams.extend(_exam(e, computed) for e in chunk.isncsci_exams)
        self.assessments.extend(_assessment(a) for a in chunk.scim_assessments)
        self.events.extend(_event(e) for e in chunk.adverse_events)
        self.harvests.extend(DoseFacts(_shared(h.subject_id), h.performed, None) for h in chunk.harvests)
        self.infusions.extend(DoseFacts(_shared(i.subject_id), i.start, i.end) for i in chunk.infusions)


def _shared(text: str) -> str:
    """One copy of each subject id and visit name, however many records repeat it."""
    return sys.intern(text)


def _exam(exam: IsncsciExam, computed: dict[tuple[str, ...], IsncsciClassification]) -> ExamFacts:
    grade, upper, lower, touch, prick = classified(exam, computed)
    upper_score, lower_score = score(upper), score(lower)
    motor = None if upper_score is None or lower_score is None else upper_score + lower_score
    return ExamFacts(_shared(exam.subject_id), _shared(exam.visit), calendar_day(exam.exam_date), grade or "ND",
                     (upper_score, lower_score, motor, score(touch), score(prick)),
                     not (exam.classification and exam.classification.asia_impairment_scale))


def classified(exam: IsncsciExam, computed: dict[tuple[str, ...], IsncsciClassification]) -> list[str | None]:
    """The AIS grade and the four totals: the site's values, completed from the computed classification (the
    one already computed, else computed here) where the site left one out."""
    reported = exam.classification
    values = [getattr(reported, name) if reported else None for name in _CLASSIFIED]
    if any(value is None for value in values):
        own = computed.get(exam.key()) or classify(exam)
        values = [getattr(own, name) if value is None else value for value, name in zip(values, _CLASSIFIED,
                                                                                        strict=True)]
    return values


def _assessment(assessment: ScimAssessment) -> ScimFacts:
    scores = tuple(None if (value := getattr(assessment, key)) is None else float(value)
                   for key, _, _ in SCIM_MEASURES)
    return ScimFacts(_shared(assessment.subject_id), _shared(assessment.visit),
                     calendar_day(assessment.assessment_date), scores)


def _event(event: AdverseEvent) -> EventFacts:
    seriousness = (("serious: " + ", ".join(event.serious_criteria).replace("_", " ") if event.serious_criteria
                    else "serious") if event.serious else "not serious")
    return EventFacts(_shared(event.subject_id), event.meddra_term or f"{event.term} (not coded)",
                      event.meddra_term or event.term, event.meddra_soc_code, event.meddra_soc, event.severity,
                      event.serious, seriousness, event.relationship, event.onset, event.resolution)


def score(value: str | None) -> float | None:
    """A classification total as a number; ``ND`` and several values are no number. A ``*`` is dropped."""
    if value is None:
        return None
    digits = value.rstrip("*")
    return float(digits) if digits.isdigit() else None


def calendar_day(value: str | None) -> dt.date | None:
    """A full calendar date, or None for a missing or partial one (``2019-03``), which cannot be placed."""
    day = date_part(value)
    if day is None or len(day) != 10:
        return None
    return dt.date.fromisoformat(day)


def moment(value: str | None) -> dt.datetime | None:
    """A date or date-time as an instant (a date alone at its midnight, in UTC), or None when partial."""
    if value and "T" in value:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC).replace(tzinfo=None)
    day = calendar_day(value)
    return None if day is None else dt.datetime(day.year, day.month, day.day)
