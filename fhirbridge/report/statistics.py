"""The figures of the HTML report, computed from the values the records give (no HTML here, so they are tested as
numbers).

Visits are ordered by when they happen (the median day after each subject's first dated visit), not by name, so
that ``BASELINE, DAY1, MONTH6`` come in that order whatever the site calls them. An exam's classification is
the site's where it reported one, else the one computed from the raw worksheet (as ``convert`` writes it).
Every count and median is of all subjects; the per-subject rows (score tables, lines, the timeline, the names of
subjects without an exam) are those of the first ``limit`` subjects by id, so that a page of 13,000 subjects
stays one a browser opens.
"""

from __future__ import annotations

import datetime as dt
import statistics as stats
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from fhirbridge.records import IsncsciClassification, StudyData
from fhirbridge.report import SUBJECT_LIMIT
from fhirbridge.report.facts import (
    NEURO_MEASURES,
    SCIM_MEASURES,
    EventFacts,
    ExamFacts,
    ScimFacts,
    StudyFacts,
    moment,
)

__all__ = ["AIS_GRADES", "NEURO_MEASURES", "NO_SOC", "SCIM_MEASURES", "SUBJECT_LIMIT", "Series", "ShiftTable",
           "StudyStatistics", "figures_of", "study_statistics"]

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
    """One measure over visits: the values of the subjects shown and the median of all values at each visit.

    ``by_subject`` holds the rows shown (every subject's when ``values`` is None); ``values`` holds every value
    given at each visit, of all ``subjects`` subjects, when only some rows are shown."""

    key: str
    label: str
    maximum: int
    visits: list[str]
    by_subject: dict[str, list[float | None]]
    values: tuple[tuple[float, ...], ...] | None = None
    subjects: int | None = None  # subjects with a value at some visit, shown or not

    def present(self, visit: int) -> list[float]:
        """The values given at one visit (by its index)."""
        if self.values is not None:
            return list(self.values[visit])
        return [values[visit] for values in self.by_subject.values() if values[visit] is not None]  # type: ignore[misc]

    @property
    def medians(self) -> list[float | None]:
        return [stats.median(found) if (found := self.present(i)) else None for i in range(len(self.visits))]

    @property
    def counts(self) -> list[int]:
        return [len(self.present(i)) for i in range(len(self.visits))]

    @property
    def quartiles(self) -> list[tuple[float, float] | None]:
        """The 25th and 75th percentiles of the values at each visit (None with fewer than two values)."""
        found = [self.present(i) for i in range(len(self.visits))]
        return [(q[0], q[2]) if len(v) >= 2 and (q := stats.quantiles(v, n=4, method="inclusive")) else None
                for v in found]

    @property
    def total(self) -> int:
        """How many subjects have the measure at some visit (rows shown or not)."""
        return len(self.by_subject) if self.subjects is None else self.subjects

    @property
    def shown(self) -> int:
        return len(self.by_subject)


@dataclass(frozen=True)
class VisitCompleteness:
    """Which subjects have an ISNCSCI exam and a SCIM-III assessment at one visit, and which do not (the first
    ``limit`` of those without, by id: their numbers are ``missing_exams`` and ``missing_assessments``)."""

    visit: str
    exams: int
    assessments: int
    missing_exam: list[str]
    missing_assessment: list[str]
    missing_exams: int = 0
    missing_assessments: int = 0


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
    timeline: list[TimelineEvent] = field(default_factory=list)  # of the first ``limit`` subjects placed on it
    timeline_subjects: int = 0  # subjects with something on the timeline, shown or not
    undated: int = 0  # events whose dates are too partial to place on the timeline

    @property
    def timeline_shown(self) -> int:
        return len({e.subject for e in self.timeline})


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
    limit: int | None = None  # the per-subject rows shown (None: every subject's)


def study_statistics(data: StudyData, computed: dict[tuple[str, ...], IsncsciClassification] | None = None,
                     limit: int | None = None) -> StudyStatistics:
    """The figures of ``data``; ``computed`` holds classifications already computed for exams (by record key)."""
    facts = StudyFacts()
    facts.add(data, computed)
    return figures_of(facts, limit)


def figures_of(facts: StudyFacts, limit: int | None = SUBJECT_LIMIT) -> StudyStatistics:
    """The figures of the values gathered; per-subject rows for the first ``limit`` subjects (None: all)."""
    visits = visit_order(facts.exams, facts.assessments)
    subjects = sorted(facts.subjects)
    exams = {(e.subject, e.visit): e for e in facts.exams}
    scim = {(a.subject, a.visit): a for a in facts.assessments}
    first, shifts = _shifts(facts.exams, visits)

    def completeness(visit: str) -> VisitCompleteness:
        no_exam = [s for s in subjects if (s, visit) not in exams]
        no_assessment = [s for s in subjects if (s, visit) not in scim]
        return VisitCompleteness(visit, len(subjects) - len(no_exam), len(subjects) - len(no_assessment),
                                 _first(no_exam, limit), _first(no_assessment, limit), len(no_exam),
                                 len(no_assessment))

    return StudyStatistics(
        studies=list(facts.studies.items()),
        subjects=len(subjects),
        visits=visits,
        records=dict(facts.records),
        completeness=[completeness(v) for v in visits],
        first_visit=first,
        shifts=shifts,
        ais_computed=sum(1 for e in facts.exams if e.computed),
        neuro=[_series(key, label, top, i, visits, exams, limit) for i, (key, label, top) in enumerate(NEURO_MEASURES)],
        scim=[_series(key, label, top, i, visits, scim, limit) for i, (key, label, top) in enumerate(SCIM_MEASURES)],
        safety=_safety(facts, len(subjects), limit),
        limit=limit,
    )


def _first(names: list[str], limit: int | None) -> list[str]:
    return names if limit is None else names[:limit]


def visit_order(exams: Iterable[ExamFacts], assessments: Iterable[ScimFacts]) -> list[str]:
    """Visits by the median of their days after each subject's first dated visit; undated ones after, as met."""
    dated: dict[str, dict[str, dt.date]] = defaultdict(dict)
    seen: dict[str, None] = {}
    for record in [*exams, *assessments]:
        seen.setdefault(record.visit)
        day = record.day
        if day is not None:
            known = dated[record.subject]
            known[record.visit] = min(day, known.get(record.visit, day))
    offsets: dict[str, list[int]] = defaultdict(list)
    for by_visit in dated.values():
        start = min(by_visit.values())
        for visit, day in by_visit.items():
            offsets[visit].append((day - start).days)
    order = {v: i for i, v in enumerate(seen)}
    return sorted(order, key=lambda v: (0, stats.median(offsets[v]), order[v]) if offsets[v] else (1, 0, order[v]))


def _shifts(exams: list[ExamFacts], visits: list[str]) -> tuple[str | None, list[ShiftTable]]:
    """Each subject's first exam (in visit order) against each of its later exams, by visit."""
    rank = {v: i for i, v in enumerate(visits)}
    by_subject: dict[str, list[ExamFacts]] = defaultdict(list)
    for exam in exams:
        by_subject[exam.subject].append(exam)
    tables: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    firsts: Counter[str] = Counter()
    for own in by_subject.values():
        own.sort(key=lambda e: rank[e.visit])
        baseline = own[0].grade
        firsts[own[0].visit] += 1
        for later in own[1:]:
            tables[later.visit][(baseline, later.grade)] += 1
    first = firsts.most_common(1)[0][0] if firsts else None
    return first, [ShiftTable(v, dict(tables[v])) for v in visits if v in tables]


def _grades(values: Iterable[str]) -> list[str]:
    """AIS grades in their order (A … E), then anything else (ND, several grades) by name."""
    found = set(values)
    return [g for g in AIS_GRADES if g in found] + sorted(found - set(AIS_GRADES))


def _series(key: str, label: str, maximum: int, index: int, visits: list[str],
            records: dict[tuple[str, str], ExamFacts] | dict[tuple[str, str], ScimFacts], limit: int | None
            ) -> Series:
    """A measure at the visits where it was assessed at all (SCIM-III is not taken one day after infusion)."""
    subjects = sorted({s for s, _ in records})
    held = {v for _, v in records}
    assessed = [v for v in visits if v in held]

    def row(subject: str) -> list[float | None]:
        return [found.scores[index] if (found := records.get((subject, v))) is not None else None for v in assessed]

    if limit is None or len(subjects) <= limit:
        return Series(key, label, maximum, assessed, {s: row(s) for s in subjects})
    values: list[list[float]] = [[] for _ in assessed]
    slot = {v: i for i, v in enumerate(assessed)}
    for (_, visit), found in records.items():
        if (value := found.scores[index]) is not None:
            values[slot[visit]].append(value)
    return Series(key, label, maximum, assessed, {s: row(s) for s in subjects[:limit]},
                  tuple(tuple(v) for v in values), len(subjects))


def soc_of(event: EventFacts, names: dict[str, str]) -> str:
    """The primary system organ class as the export gives it: its name (``names``: by code, from the events that
    give both), else its code, else ``NO_SOC``."""
    code = event.soc_code
    name = event.soc or (names.get(code) if code else None)
    return name or (f"SOC {code}" if code else NO_SOC)


def _safety(facts: StudyFacts, subjects: int, limit: int | None) -> Safety:
    events = facts.events
    safety = Safety(events=len(events), subjects_with_event=len({e.subject for e in events}), subjects=subjects)
    per_term: dict[tuple[str, str], set[str]] = defaultdict(set)
    term_events: Counter[tuple[str, str]] = Counter()
    per_soc: dict[str, set[str]] = defaultdict(set)
    soc_events: Counter[str] = Counter()
    names = {e.soc_code: e.soc for e in events if e.soc_code and e.soc}
    for event in events:
        soc = soc_of(event, names)
        per_term[(soc, event.term)].add(event.subject)
        term_events[(soc, event.term)] += 1
        per_soc[soc].add(event.subject)
        soc_events[soc] += 1
    safety.by_term = sorted(((soc, term, n, len(per_term[(soc, term)])) for (soc, term), n in term_events.items()),
                            key=lambda row: (row[0] == NO_SOC, row[0], -row[2], row[1]))
    safety.by_soc = sorted(((soc, n, len(per_soc[soc])) for soc, n in soc_events.items()),
                           key=lambda r: (r[0] == NO_SOC, -r[1], r[0]))
    safety.without_soc = soc_events[NO_SOC]
    safety.by_severity = _tally(e.severity or "not recorded" for e in events)
    safety.by_seriousness = _tally(e.seriousness for e in events)
    safety.by_relationship = _tally((e.relationship or "not recorded").replace("_", " ") for e in events)
    safety.timeline, safety.timeline_subjects, safety.undated = _timeline(facts, limit)
    return safety


def _tally(values: Iterable[str]) -> list[tuple[str, int]]:
    return sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))


def _timeline(facts: StudyFacts, limit: int | None) -> tuple[list[TimelineEvent], int, int]:
    """Harvest, infusion and AEs of each subject in days from its infusion (or first harvest when not infused):
    the events of the first ``limit`` subjects placed on it, how many subjects are placed, how many AEs are not."""
    anchors: dict[str, dt.datetime] = {}
    for infusion in sorted(facts.infusions, key=lambda i: i.start or ""):
        if (start := moment(infusion.start)) is not None:
            anchors.setdefault(infusion.subject, start)
    for harvest in facts.harvests:
        if (when := moment(harvest.start)) is not None:
            anchors.setdefault(harvest.subject, when)

    def days(subject: str, value: str | None) -> float | None:
        when = moment(value)
        if when is None or subject not in anchors:
            return None
        return round((when - anchors[subject]).total_seconds() / 86400, 2)

    placed = sorted(anchors)  # each has its dated infusion or harvest on the timeline
    shown = set(_first(placed, limit))
    events: list[TimelineEvent] = []
    undated = 0
    for h in facts.harvests:
        if h.subject in shown and (start := days(h.subject, h.start)) is not None:
            events.append(TimelineEvent(h.subject, "harvest", "bone-marrow harvest", start))
    for i in facts.infusions:
        if i.subject in shown and (start := days(i.subject, i.start)) is not None:
            events.append(TimelineEvent(i.subject, "infusion", "MSC infusion", start, days(i.subject, i.end)))
    for e in facts.events:
        start = days(e.subject, e.onset)
        if start is None:
            undated += 1
            continue
        if e.subject in shown:
            events.append(TimelineEvent(e.subject, "adverse event", e.label, start, days(e.subject, e.resolution),
                                        e.severity, e.serious))
    events.sort(key=lambda ev: (ev.subject, ev.start, ev.kind))
    return events, len(placed), undated

