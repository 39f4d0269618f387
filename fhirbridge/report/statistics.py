"""The figures of the HTML report, computed from hub records alone (no HTML here, so they are tested as numbers).

Visits are ordered by when they happen (the median day after each subject's first dated visit), not by name, so
that ``BASELINE, DAY1, MONTH6`` come in that order whatever the site calls them. An exam's classification is
the site's where it reported one, else the one computed from the raw worksheet (as ``convert`` writes it).
"""

from __future__ import annotations

import datetime as dt
import statistics as stats
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

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
AIS_GRADES = ("A", "B", "C", "D", "E")
#: Where an adverse event goes when the export gives no system organ class for it (fhirbridge ships no MedDRA data
#: and looks nothing up: MedDRA is licensed).
NO_SOC = "SOC not given in the export"


@dataclass(frozen=True)
class ShiftTable:
    """AIS grade at each subject's first exam (rows) against the grade at one later visit (columns)."""

    visit: str
    counts: dict[tuple[str, str], int]

    @property
    def baselines(self) -> list[str]:
        return _grades(b for b, _ in self.counts)

    @property
    def followups(self) -> list[str]:
        return _grades(f for _, f in self.counts)

    def count(self, baseline: str, followup: str) -> int:
        return self.counts.get((baseline, followup), 0)

    def row_total(self, baseline: str) -> int:
        return sum(n for (b, _), n in self.counts.items() if b == baseline)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def improved(self) -> int:
        """Subjects whose grade rose (A → B …); multiple or undeterminable grades count as not improved."""
        return sum(n for (b, f), n in self.counts.items()
                   if b in AIS_GRADES and f in AIS_GRADES and AIS_GRADES.index(f) > AIS_GRADES.index(b))


@dataclass(frozen=True)
class Series:
    """One measure over visits: each subject's values and the median of those present at each visit."""

    key: str
    label: str
    maximum: int
    visits: list[str]
    by_subject: dict[str, list[float | None]]

    def present(self, visit: int) -> list[float]:
        """The values given at one visit (by its index)."""
        return [values[visit] for values in self.by_subject.values() if values[visit] is not None]  # type: ignore[misc]

    @property
    def medians(self) -> list[float | None]:
        return [stats.median(found) if (found := self.present(i)) else None for i in range(len(self.visits))]

    @property
    def counts(self) -> list[int]:
        return [len(self.present(i)) for i in range(len(self.visits))]


@dataclass(frozen=True)
class VisitCompleteness:
    """Which subjects have an ISNCSCI exam and a SCIM-III assessment at one visit, and which do not."""

    visit: str
    exams: int
    assessments: int
    missing_exam: list[str]
    missing_assessment: list[str]


@dataclass(frozen=True)
class TimelineEvent:
    """A harvest, infusion or adverse event of one subject, in days from that subject's infusion."""

    subject: str
    kind: str  # harvest | infusion | adverse event
    label: str
    start: float
    end: float | None = None
    severity: str | None = None
    serious: bool = False


@dataclass
class Safety:
    """Adverse events counted as events and as subjects with at least one event."""

    events: int = 0
    subjects_with_event: int = 0
    subjects: int = 0
    by_term: list[tuple[str, str, int, int]] = field(default_factory=list)  # SOC, PT, events, subjects
    by_soc: list[tuple[str, int, int]] = field(default_factory=list)  # SOC, events, subjects
    without_soc: int = 0  # events the export gives no SOC for (counted under ``NO_SOC``)
    no_soc: ClassVar[str] = NO_SOC
    by_severity: list[tuple[str, int]] = field(default_factory=list)
    by_seriousness: list[tuple[str, int]] = field(default_factory=list)
    by_relationship: list[tuple[str, int]] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    undated: int = 0  # events whose dates are too partial to place on the timeline


@dataclass
class StudyStatistics:
    """Every figure of the report but the validation part."""

    studies: list[tuple[str, str | None]]
    subjects: int
    visits: list[str]
    records: dict[str, int]
    completeness: list[VisitCompleteness]
    first_visit: str | None
    shifts: list[ShiftTable]
    ais_computed: int  # exams whose grade comes from the raw worksheet, not the site
    neuro: list[Series]
    scim: list[Series]
    safety: Safety


def study_statistics(data: StudyData, computed: dict[tuple[str, ...], IsncsciClassification] | None = None
                     ) -> StudyStatistics:
    """The figures of ``data``; ``computed`` holds classifications already computed for exams (by record key)."""
    computed = dict(computed or {})
    visits = visit_order(data)
    subjects = sorted({s.subject_id for s in data.subjects})
    classifications = {e.key(): _classification(e, computed) for e in data.isncsci_exams}
    exams = {(e.subject_id, e.visit): e for e in data.isncsci_exams}
    first, shifts = _shifts(data.isncsci_exams, classifications, visits)

    def neuro_value(key: str) -> Callable[[IsncsciExam], float | None]:
        def value(exam: IsncsciExam) -> float | None:
            c = classifications[exam.key()]
            if key == "motor_total":
                upper, lower = _score(c.upper_motor_total), _score(c.lower_motor_total)
                return None if upper is None or lower is None else upper + lower
            return _score(getattr(c, key))
        return value

    scim = {(a.subject_id, a.visit): a for a in data.scim_assessments}
    return StudyStatistics(
        studies=[(s.study_id, s.title) for s in data.studies],
        subjects=len(subjects),
        visits=visits,
        records=data.count(),
        completeness=[VisitCompleteness(
            visit=v,
            exams=sum(1 for s in subjects if (s, v) in exams),
            assessments=sum(1 for s in subjects if (s, v) in scim),
            missing_exam=[s for s in subjects if (s, v) not in exams],
            missing_assessment=[s for s in subjects if (s, v) not in scim],
        ) for v in visits],
        first_visit=first,
        shifts=shifts,
        ais_computed=sum(1 for e in data.isncsci_exams
                         if not (e.classification and e.classification.asia_impairment_scale)),
        neuro=[_series(key, label, top, visits, exams, neuro_value(key)) for key, label, top in NEURO_MEASURES],
        scim=[_series(key, label, top, visits, scim, lambda a, k=key: _scim_score(a, k))
              for key, label, top in SCIM_MEASURES],
        safety=_safety(data, len(subjects)),
    )


def visit_order(data: StudyData) -> list[str]:
    """Visits by the median of their days after each subject's first dated visit; undated ones after, as met."""
    dated: dict[str, dict[str, dt.date]] = defaultdict(dict)
    seen: dict[str, None] = {}
    for record, when in [*((e, e.exam_date) for e in data.isncsci_exams),
                         *((a, a.assessment_date) for a in data.scim_assessments)]:
        seen.setdefault(record.visit)
        day = _date(when)
        if day is not None:
            known = dated[record.subject_id]
            known[record.visit] = min(day, known.get(record.visit, day))
    offsets: dict[str, list[int]] = defaultdict(list)
    for by_visit in dated.values():
        start = min(by_visit.values())
        for visit, day in by_visit.items():
            offsets[visit].append((day - start).days)
    order = list(seen)
    return sorted(order, key=lambda v: (0, stats.median(offsets[v]), order.index(v)) if offsets[v]
                  else (1, 0, order.index(v)))


def _classification(exam: IsncsciExam, computed: dict[tuple[str, ...], IsncsciClassification]
                    ) -> IsncsciClassification:
    """The site's values, completed with the computed classification where the site left a value out."""
    reported = exam.classification.present() if exam.classification else {}
    if reported.keys() >= IsncsciClassification.model_fields.keys():
        return exam.classification  # type: ignore[return-value]
    own = computed.get(exam.key()) or classify(exam)
    return own.model_copy(update=reported)


def _shifts(exams: list[IsncsciExam], classifications: dict[tuple[str, ...], IsncsciClassification],
            visits: list[str]) -> tuple[str | None, list[ShiftTable]]:
    """Each subject's first exam (in visit order) against each of its later exams, by visit."""
    rank = {v: i for i, v in enumerate(visits)}
    by_subject: dict[str, list[IsncsciExam]] = defaultdict(list)
    for exam in exams:
        by_subject[exam.subject_id].append(exam)
    tables: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    firsts: Counter[str] = Counter()
    for own in by_subject.values():
        own.sort(key=lambda e: rank[e.visit])
        baseline = _grade(classifications[own[0].key()])
        firsts[own[0].visit] += 1
        for later in own[1:]:
            tables[later.visit][(baseline, _grade(classifications[later.key()]))] += 1
    first = firsts.most_common(1)[0][0] if firsts else None
    return first, [ShiftTable(v, dict(tables[v])) for v in visits if v in tables]


def _grade(classification: IsncsciClassification) -> str:
    return classification.asia_impairment_scale or "ND"


def _grades(values: Iterable[str]) -> list[str]:
    """AIS grades in their order (A … E), then anything else (ND, several grades) by name."""
    found = set(values)
    return [g for g in AIS_GRADES if g in found] + sorted(found - set(AIS_GRADES))


def _score(value: str | None) -> float | None:
    """A classification total as a number; ``ND`` and several values are no number. A ``*`` is dropped."""
    if value is None:
        return None
    digits = value.rstrip("*")
    return float(digits) if digits.isdigit() else None


def _scim_score(assessment: ScimAssessment, key: str) -> float | None:
    value = getattr(assessment, key)
    return None if value is None else float(value)


def _series(key: str, label: str, maximum: int, visits: list[str], records: dict[tuple[str, str], object],
            value: Callable[..., float | None]) -> Series:
    """A measure at the visits where it was assessed at all (SCIM-III is not taken one day after infusion)."""
    subjects = sorted({s for s, _ in records})
    assessed = [v for v in visits if any((s, v) in records for s in subjects)]
    by_subject = {s: [value(records[(s, v)]) if (s, v) in records else None for v in assessed] for s in subjects}
    return Series(key, label, maximum, assessed, by_subject)


def _date(value: str | None) -> dt.date | None:
    """A full calendar date, or None for a missing or partial one (``2019-03``), which cannot be placed."""
    day = date_part(value)
    if day is None or len(day) != 10:
        return None
    return dt.date.fromisoformat(day)


def _moment(value: str | None) -> dt.datetime | None:
    """A date or date-time as an instant (a date alone at its midnight, in UTC), or None when partial."""
    if value and "T" in value:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC).replace(tzinfo=None)
    day = _date(value)
    return None if day is None else dt.datetime(day.year, day.month, day.day)


def soc_of(event: AdverseEvent, names: dict[str, str]) -> str:
    """The primary system organ class as the export gives it: its name (``names``: by code, from the events that
    give both), else its code, else ``NO_SOC``."""
    code = event.meddra_soc_code
    name = event.meddra_soc or (names.get(code) if code else None)
    return name or (f"SOC {code}" if code else NO_SOC)


def _safety(data: StudyData, subjects: int) -> Safety:
    events = data.adverse_events
    safety = Safety(events=len(events), subjects_with_event=len({e.subject_id for e in events}), subjects=subjects)
    per_term: dict[tuple[str, str], set[str]] = defaultdict(set)
    term_events: Counter[tuple[str, str]] = Counter()
    per_soc: dict[str, set[str]] = defaultdict(set)
    soc_events: Counter[str] = Counter()
    names = {e.meddra_soc_code: e.meddra_soc for e in events if e.meddra_soc_code and e.meddra_soc}
    for event in events:
        term = event.meddra_term or f"{event.term} (not coded)"
        soc = soc_of(event, names)
        per_term[(soc, term)].add(event.subject_id)
        term_events[(soc, term)] += 1
        per_soc[soc].add(event.subject_id)
        soc_events[soc] += 1
    safety.by_term = sorted(((soc, term, n, len(per_term[(soc, term)])) for (soc, term), n in term_events.items()),
                            key=lambda row: (row[0] == NO_SOC, row[0], -row[2], row[1]))
    safety.by_soc = sorted(((soc, n, len(per_soc[soc])) for soc, n in soc_events.items()),
                           key=lambda r: (r[0] == NO_SOC, -r[1], r[0]))
    safety.without_soc = soc_events[NO_SOC]
    safety.by_severity = _tally(e.severity or "not recorded" for e in events)
    safety.by_seriousness = _tally(
        ("serious: " + ", ".join(e.serious_criteria).replace("_", " ") if e.serious_criteria else "serious")
        if e.serious else "not serious" for e in events)
    safety.by_relationship = _tally((e.relationship or "not recorded").replace("_", " ") for e in events)
    safety.timeline, safety.undated = _timeline(data)
    return safety


def _tally(values: Iterable[str]) -> list[tuple[str, int]]:
    return sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))


def _timeline(data: StudyData) -> tuple[list[TimelineEvent], int]:
    """Harvest, infusion and AEs of each subject in days from its infusion (or first harvest when not infused)."""
    anchors: dict[str, dt.datetime] = {}
    for infusion in sorted(data.infusions, key=lambda i: i.start):
        if (start := _moment(infusion.start)) is not None:
            anchors.setdefault(infusion.subject_id, start)
    for harvest in data.harvests:
        if (when := _moment(harvest.performed)) is not None:
            anchors.setdefault(harvest.subject_id, when)

    def days(subject: str, value: str | None) -> float | None:
        moment = _moment(value)
        if moment is None or subject not in anchors:
            return None
        return round((moment - anchors[subject]).total_seconds() / 86400, 2)

    events: list[TimelineEvent] = []
    undated = 0
    for h in data.harvests:
        if (start := days(h.subject_id, h.performed)) is not None:
            events.append(TimelineEvent(h.subject_id, "harvest", "bone-marrow harvest", start))
    for i in data.infusions:
        if (start := days(i.subject_id, i.start)) is not None:
            events.append(TimelineEvent(i.subject_id, "infusion", "MSC infusion", start, days(i.subject_id, i.end)))
    for e in data.adverse_events:
        start = days(e.subject_id, e.onset)
        if start is None:
            undated += 1
            continue
        events.append(TimelineEvent(e.subject_id, "adverse event", e.meddra_term or e.term, start,
                                    days(e.subject_id, e.resolution), e.severity, e.serious))
    events.sort(key=lambda ev: (ev.subject, ev.start, ev.kind))
    return events, undated
