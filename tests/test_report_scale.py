"""The report of a study larger than the per-subject limit: the per-subject rows show the first N subjects with a
note saying so, and every count and median is still that of all subjects, as the whole records give it."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLE

import fhirbridge
from fhirbridge.cli import main
from fhirbridge.report import build_report
from fhirbridge.report.statistics import StudyStatistics, figures_of, study_statistics

COPIES = 23  # of the example's 13 subjects: 299
LIMIT = 40
MISSING_FROM = 10  # copies without a DAY1 exam: 13 × 13 = 169 subjects
#: The published AIS shifts at six months (Honmou et al. 2021), as (baseline, grade): n.
PUBLISHED_SIX_MONTHS = {("A", "B"): 3, ("A", "C"): 2, ("A", "A"): 1, ("B", "C"): 1, ("B", "D"): 1, ("C", "D"): 5}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example export with each subject copied under new ids (``001-c00`` ...); the copies from ``-c10`` on
    have no exam one day after the infusion."""
    folder = tmp_path_factory.mktemp("scaled")
    for source in sorted(EXAMPLE.glob("*.csv")):
        with source.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        with (folder / source.name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            if "subject_id" not in rows[0]:
                writer.writerows(rows)
                continue
            for k in range(COPIES):
                writer.writerows({**row, "subject_id": f"{row['subject_id']}-c{k:02d}"} for row in rows
                                 if not (k >= MISSING_FROM and row.get("visit") == "DAY1"))
    return folder


@pytest.fixture(scope="module")
def whole(study: Path) -> StudyStatistics:
    """The figures of every record held at once, every subject's rows shown."""
    data, report = fhirbridge.read(study)
    assert report.exit_code == 0
    return study_statistics(data, limit=None)


@pytest.fixture(scope="module")
def page(study: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("page") / "report.html"
    result = CliRunner().invoke(main, ["report", str(study), "--subjects", str(LIMIT), "-o", str(out)],
                                env={"SOURCE_DATE_EPOCH": "0"})
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def _streamed(study: Path) -> StudyStatistics:
    from fhirbridge import api
    from fhirbridge.report.facts import StudyFacts

    facts = StudyFacts()
    api.validate([study], source="csv", on_records=facts.add)
    return figures_of(facts, LIMIT)


def test_the_streamed_figures_are_those_of_all_records(study: Path, whole: StudyStatistics) -> None:
    shown = _streamed(study)
    assert whole.subjects == shown.subjects == 13 * COPIES
    assert shown.shifts == whole.shifts
    assert {t.visit: t.counts for t in shown.shifts}["MONTH6"] == {k: n * COPIES for k, n in
                                                                   PUBLISHED_SIX_MONTHS.items()}
    for streamed, held in zip([*shown.neuro, *shown.scim], [*whole.neuro, *whole.scim], strict=True):
        assert (streamed.medians, streamed.counts, streamed.total) == (held.medians, held.counts, held.total)
        assert streamed.shown == LIMIT < held.shown == 13 * COPIES
        assert streamed.by_subject == {s: held.by_subject[s] for s in sorted(held.by_subject)[:LIMIT]}
    assert [(c.visit, c.exams, c.assessments, c.missing_exams, c.missing_assessments) for c in shown.completeness] \
        == [(c.visit, c.exams, c.assessments, len(c.missing_exam), len(c.missing_assessment))
            for c in whole.completeness]
    day1 = {c.visit: c for c in shown.completeness}["DAY1"]
    assert day1.missing_assessments == 13 * COPIES and len(day1.missing_assessment) == LIMIT
    assert (day1.exams, day1.missing_exams, len(day1.missing_exam)) == (13 * MISSING_FROM, 169, LIMIT)
    safety, held_safety = shown.safety, whole.safety
    assert (safety.events, safety.by_term, safety.by_soc, safety.by_severity, safety.undated) == (
        held_safety.events, held_safety.by_term, held_safety.by_soc, held_safety.by_severity, held_safety.undated)
    firsts = sorted({e.subject for e in held_safety.timeline})[:LIMIT]
    assert safety.timeline == [e for e in held_safety.timeline if e.subject in firsts]
    assert (safety.timeline_shown, safety.timeline_subjects) == (LIMIT, 13 * COPIES)


def test_the_page_says_how_many_subjects_it_shows(page: str) -> None:
    notes = re.findall(r'<p class="note shown" id="([\w-]+)">(.*?)</p>', page, flags=re.S)
    assert [n for n, _ in notes] == ["neuro-shown", "scim-shown", "timeline-shown"]
    for _, text in notes:
        assert f"<strong>{LIMIT} of {13 * COPIES} subjects shown</strong>" in text
        assert "fhirbridge report --subjects 0" in text
    table = page.split('<table class="series" id="table-upper_motor_total">', 1)[1].split("</table>", 1)[0]
    assert table.split("<tbody>")[1].split("</tbody>")[0].count("<tr>") == LIMIT
    completeness = page.split('<table id="completeness">', 1)[1].split("</table>", 1)[0]
    day1 = completeness.split("<td>DAY1</td>", 1)[1].split("</tr>", 1)[0]
    assert f"{13 * MISSING_FROM} / {13 * COPIES}" in day1 and "001-c10, 001-c11" in day1
    assert day1.count("-c") == LIMIT and "and 129 more" in day1  # 169 subjects without, 40 named


def test_the_page_shows_the_counts_and_medians_of_all_subjects(page: str, whole: StudyStatistics) -> None:
    month6 = page.split('<table class="shift" id="shift-MONTH6"', 1)[1].split("</table>", 1)[0]
    cells = {(b, f): int(n) for b, f, n in re.findall(
        r'data-baseline="(\w+)" data-followup="(\w+)">(\d+)</td>', month6) if int(n)}
    assert cells == {k: n * COPIES for k, n in PUBLISHED_SIX_MONTHS.items()}
    assert "12 of 13 improved" not in month6 and f"{12 * COPIES} of {13 * COPIES} improved" in month6
    for series in whole.neuro:
        table = page.split(f'<table class="series" id="table-{series.key}">', 1)[1].split("</table>", 1)[0]
        footer = table.split("<tfoot>")[1]
        medians = re.findall(r'<th class="num">([^<]+)</th>', footer.split("</tr>")[0])
        assert medians == ["–" if m is None else f"{m:g}" for m in series.medians]
        counts = re.findall(r'<th class="num">(\d+)</th>', footer.split("</tr>")[1])
        assert list(map(int, counts)) == series.counts
    timeline = page.split('<figure class="chart" id="timeline">', 1)[1].split("</figure>", 1)[0]
    assert timeline.count("bone-marrow harvest") == LIMIT


def test_the_same_study_and_epoch_give_the_same_bytes(study: Path, page: str, tmp_path: Path) -> None:
    out = tmp_path / "again.html"
    result = CliRunner().invoke(main, ["report", str(study), "--subjects", str(LIMIT), "-o", str(out)],
                                env={"SOURCE_DATE_EPOCH": "0"})
    assert result.exit_code == 0 and out.read_text(encoding="utf-8") == page


def test_max_issues_keeps_the_list_short_and_counts_the_rest(tmp_path: Path) -> None:
    messy = EXAMPLE.parents[1] / "messy"
    html, report = build_report([messy], max_issues=3)
    assert len(report.issues) == 3 and report.truncated == sum(report.counts().values()) - 3
    assert html.count('<tr data-severity="') == 3
    assert f"{report.truncated} more issue(s) were counted but are not listed (at most 3 are kept)" in html
    result = CliRunner().invoke(main, ["report", str(messy), "--max-issues", "0", "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "--max-issues" in result.output


def test_subjects_0_shows_every_subject(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.html"
    result = CliRunner().invoke(main, ["report", str(study), "--subjects", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert 'class="note shown"' not in html and "more</td>" not in html
    table = html.split('<table class="series" id="table-upper_motor_total">', 1)[1].split("</table>", 1)[0]
    assert table.split("<tbody>")[1].split("</tbody>")[0].count("<tr>") == 13 * COPIES
