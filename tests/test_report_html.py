"""The HTML report as a file: self-contained, reproducible, escaped; the CLI's `report` and `validate --format html`.

What a person sees in a browser is tested in test_report_browser.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLE, REPO
from lxml import etree

from fhirbridge.cli import main
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report
from fhirbridge.report.html import render_validation

MESSY = REPO / "examples" / "messy"


class _Resources(HTMLParser):
    """Every attribute that could make a browser fetch something, and the tags met."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "srcset", "data") or (name == "href" and not (value or "").startswith("#")):
                self.fetches.append(f"<{tag} {name}={value}>")
        if tag == "link":
            self.fetches.append("<link>")


def _report(tmp_path: Path, *args: str, epoch: str = "0") -> tuple[int, str]:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", *args, "-o", str(out)], env={"SOURCE_DATE_EPOCH": epoch})
    return result.exit_code, out.read_text(encoding="utf-8") if out.exists() else result.output


@pytest.fixture(scope="module")
def example_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    code, html = _report(tmp_path_factory.mktemp("example"), str(EXAMPLE))
    assert code == 0, html
    return html


def test_the_report_fetches_nothing(example_html: str) -> None:
    parser = _Resources()
    parser.feed(example_html)
    assert parser.fetches == []
    assert {"style", "script", "svg", "table"} <= parser.tags
    urls = set(re.findall(r"https?://[^\s\"'<>]+", example_html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace names, it is never fetched


def test_the_page_says_how_many_events_have_no_soc(example_html: str) -> None:
    """The example is coded to preferred terms only: all its 8 events are under the SOC-not-given group, and the
    page says so (no SOC is looked up)."""
    assert re.search(r'<span id="ae-without-soc">8</span> event\(s\) have none', example_html)
    soc_table = example_html.split('<table id="ae-by-soc">', 1)[1].split("</table>", 1)[0]
    assert re.findall(r"<tr><td>([^<]+)</td>", soc_table) == ["SOC not given in the export"]


def test_every_chart_is_well_formed_svg(example_html: str) -> None:
    charts = re.findall(r"<svg .*?</svg>", example_html, flags=re.S)
    assert len(charts) == 1 + 5 + 4 + 1  # shifts, five ISNCSCI scores, SCIM-III total and subscales, timeline
    for svg in charts:
        tree = etree.fromstring(svg.encode())
        assert tree.tag == "{http://www.w3.org/2000/svg}svg"
        assert tree.findall(".//{http://www.w3.org/2000/svg}rect") or tree.findall(".//{http://www.w3.org/2000/svg}path")


def test_the_same_inputs_and_epoch_give_the_same_bytes(tmp_path: Path, example_html: str) -> None:
    code, again = _report(tmp_path, str(EXAMPLE))
    assert code == 0 and again == example_html
    assert "1970-01-01 00:00:00 UTC" in example_html
    _, later = _report(tmp_path, str(EXAMPLE), epoch="1700000000")
    assert "2023-11-14 22:13:20 UTC" in later and later != example_html


def test_a_bad_epoch_is_a_usage_error(tmp_path: Path) -> None:
    code, output = _report(tmp_path, str(EXAMPLE), epoch="yesterday")
    assert code == 2 and "SOURCE_DATE_EPOCH" in output and "Traceback" not in output


def test_report_exit_codes_are_validates(tmp_path: Path) -> None:
    code, html = _report(tmp_path, str(MESSY))
    assert code == 1 and 'id="validation"' in html
    result = CliRunner().invoke(main, ["report", str(EXAMPLE), "-o", str(tmp_path / "missing" / "r.html")])
    assert result.exit_code == 2 and "cannot write" in result.output and "Traceback" not in result.output


def test_validate_html_is_the_reports_validation_part(tmp_path: Path) -> None:
    _, whole = _report(tmp_path, str(MESSY))
    page = tmp_path / "validation.html"
    result = CliRunner().invoke(main, ["validate", str(MESSY), "--format", "html", "--output", str(page)])
    assert result.exit_code == 1, result.output
    alone = page.read_text(encoding="utf-8")

    def section(html: str) -> str:
        found = re.search(r'<section id="validation">.*?</section>', html, flags=re.S)
        assert found, html[:500]
        return found.group(0)

    assert section(alone) == section(whole)
    assert 'id="recovery"' not in alone and "<script>" in alone  # the filter works on the page alone too


def test_text_from_the_data_is_escaped() -> None:
    report = Report(issues=[Issue(code="FB-CSV-003", severity=Severity.ERROR, message="<script>alert(1)</script>",
                                  file='a"b.csv', value="<b>")])
    html = render_validation(report)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;" in html and 'a&#34;b.csv' in html


def test_input_without_records_still_gives_a_page_that_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, html = _report(tmp_path, str(empty))
    assert code == 2  # unreadable input, as validate says
    assert "FB-IO-009" in html and "No exam or assessment was read" in html and "No ISNCSCI exam was read" in html
