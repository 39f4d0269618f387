"""The figures of the HTML report, as numbers: computed from hub records, whatever format they were read from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EXAMPLE, REPO, SYNTHETIC_MEDDRA

import fhirbridge
from fhirbridge import api
from fhirbridge.report.facts import StudyFacts
from fhirbridge.report.statistics import NO_SOC, StudyStatistics, figures_of, study_statistics

#: The published AIS shifts at six months (Honmou et al. 2021; /work/shared/DESIGN.md §1), as (baseline, grade): n.
PUBLISHED_SIX_MONTHS = {("A", "B"): 3, ("A", "C"): 2, ("A", "A"): 1, ("B", "C"): 1, ("B", "D"): 1, ("C", "D"): 5}


def _figures(*inputs: Path) -> StudyStatistics:
    facts = StudyFacts()
    api.validate(list(inputs), source=None, on_records=facts.add)
    return figures_of(facts)


@pytest.fixture(scope="module")
def example() -> StudyStatistics:
    return _figures(EXAMPLE)


def test_the_example_shows_the_published_shifts_at_six_months(example: StudyStatistics) -> None:
    assert example.visits == ["BASELINE", "DAY1", "MONTH6"]
    assert example.first_visit == "BASELINE"
    month6 = {t.visit: t for t in example.shifts}["MONTH6"]
    assert month6.counts == PUBLISHED_SIX_MONTHS
    assert (month6.total, month6.improved) == (13, 12)
    assert month6.baselines == ["A", "B", "C"] and month6.followups == ["A", "B", "C", "D"]


def test_sdtm_gives_the_same_figures_as_csv(example: StudyStatistics) -> None:
    sdtm = _figures(REPO / "examples" / "honmou2021" / "sdtm")
    assert sdtm.shifts == example.shifts
    assert [s.by_subject for s in sdtm.neuro] == [s.by_subject for s in example.neuro]
    assert [s.by_subject for s in sdtm.scim] == [s.by_subject for s in example.scim]
    assert sdtm.safety == example.safety


def test_scores_over_time_follow_the_records(example: StudyStatistics) -> None:
    data, _ = fhirbridge.read(EXAMPLE)
    by_key = {s.key: s for s in example.neuro}
    for exam in data.isncsci_exams:
        c = exam.classification
        assert c is not None
        i = example.visits.index(exam.visit)
        assert by_key["upper_motor_total"].by_subject[exam.subject_id][i] == float(c.upper_motor_total or "nan")
        assert by_key["motor_total"].by_subject[exam.subject_id][i] == (
            float(c.upper_motor_total or "nan") + float(c.lower_motor_total or "nan"))
    scim_total = example.scim[0]
    assert scim_total.key == "total"
    assert (scim_total.visits, scim_total.counts) == (["BASELINE", "MONTH6"], [13, 13])  # none one day after infusion
    month6 = sorted(a.total for a in data.scim_assessments if a.visit == "MONTH6" and a.total is not None)
    assert scim_total.medians[1] == month6[6]  # the 7th of 13
    day1 = {c.visit: c for c in example.completeness}["DAY1"]
    assert day1.exams == 13 and day1.assessments == 0 and len(day1.missing_assessment) == 13


def test_safety_counts_events_and_subjects(example: StudyStatistics) -> None:
    data, _ = fhirbridge.read(EXAMPLE)
    safety = example.safety
    assert safety.events == len(data.adverse_events)
    assert safety.subjects_with_event == len({e.subject_id for e in data.adverse_events})
    assert sum(n for *_, n, _ in safety.by_term) == sum(n for _, n, _ in safety.by_soc) == safety.events
    # the example is coded to preferred terms only: no event has a SOC, and none is looked up
    assert (NO_SOC, "Pyrexia") in {r[:2] for r in safety.by_term}
    assert safety.by_soc == [(NO_SOC, safety.events, safety.subjects_with_event)]
    assert safety.without_soc == safety.events
    for tally in (safety.by_severity, safety.by_seriousness, safety.by_relationship):
        assert sum(n for _, n in tally) == safety.events
    kinds = [e.kind for e in safety.timeline]
    assert kinds.count("infusion") == kinds.count("harvest") == 13 and kinds.count("adverse event") == 8
    assert all(e.start == 0 for e in safety.timeline if e.kind == "infusion")  # days are counted from the infusion
    assert all(e.start < 0 for e in safety.timeline if e.kind == "harvest")


def test_visits_are_ordered_by_date_and_gaps_are_shown(study_dir: Callable[..., Path]) -> None:
    """Visits named so that their names sort wrongly; an exam missing at one visit; no classification reported."""

    def spoil(tables: dict[str, list[dict[str, str]]]) -> None:
        exams = tables["isncsci.csv"]
        later = [dict(row, visit="Z-FIRST-WEEK", exam_date="2019-03-04") for row in exams]
        last = [dict(exams[0], visit="A-MONTH3", exam_date="2019-05-24")]
        tables["isncsci.csv"] = [*exams, *later, *last]
        tables["adverse_events.csv"][0].update(meddra_pt_code="10000001", meddra_pt="Unlisted term")

    figures = _figures(study_dir(spoil))
    assert figures.visits == ["BASELINE", "Z-FIRST-WEEK", "A-MONTH3"]
    month3 = {c.visit: c for c in figures.completeness}["A-MONTH3"]
    assert (month3.exams, month3.missing_exam) == (1, ["002"])
    # the small study's exams are normal throughout and report no grade: the grade is computed (E)
    assert figures.ais_computed == 5
    assert {t.visit: t.counts for t in figures.shifts} == {"Z-FIRST-WEEK": {("E", "E"): 2}, "A-MONTH3": {("E", "E"): 1}}
    uems = figures.neuro[0]
    assert uems.by_subject["002"] == [50, 50, None] and uems.medians == [50, 50, 50] and uems.counts == [2, 2, 1]
    assert figures.safety.by_soc == [(NO_SOC, 1, 1)]


def test_no_records_give_empty_figures() -> None:
    figures = study_statistics(fhirbridge.StudyData())
    assert (figures.subjects, figures.visits, figures.shifts, figures.safety.events) == (0, [], [], 0)
    assert all(s.medians == [] for s in figures.neuro)


def test_the_soc_is_the_one_the_export_gives(study_dir: Callable[..., Path]) -> None:
    """SOCs from the record (SYNTHETIC hierarchy): a code given alone takes the name another event gives it, a code
    nobody names is shown as such, and an event without a SOC is counted under NO_SOC, never dropped."""

    def code(tables: dict[str, list[dict[str, str]]]) -> None:
        event = tables["adverse_events.csv"][0]
        code_only = {**SYNTHETIC_MEDDRA, "meddra_soc": ""}
        tables["adverse_events.csv"] = [
            {**event, **SYNTHETIC_MEDDRA},
            {**event, **code_only, "subject_id": "002"},
            {**event, **code_only, "ae_id": "2", "meddra_soc_code": "99000009"},
            {**event, "ae_id": "3"},  # the preferred term only
        ]

    safety = _figures(study_dir(code)).safety
    named = SYNTHETIC_MEDDRA["meddra_soc"]
    assert safety.by_soc == [(named, 2, 2), ("SOC 99000009", 1, 1), (NO_SOC, 1, 1)]
    # terms by SOC name, the events without a SOC last
    assert safety.by_term == [("SOC 99000009", "Pyrexia", 1, 1), (named, "Pyrexia", 2, 2), (NO_SOC, "Pyrexia", 1, 1)]
    assert safety.without_soc == 1
