"""The HTML report as a person sees it, in Debian's headless Chromium driven by Playwright (no browser download).

One browser serves every test; a screenshot of the example's report is kept as an artefact (its path is printed,
and FHIRBRIDGE_ARTEFACTS names a folder to keep it in instead of pytest's temporary one).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from conftest import EXAMPLE, REPO

from fhirbridge.cli import main

MESSY = REPO / "examples" / "messy"
#: The published AIS shifts at six months (Honmou et al. 2021), as a person reads them off the table.
PUBLISHED_SIX_MONTHS = {("A", "B"): 3, ("A", "C"): 2, ("A", "A"): 1, ("B", "C"): 1, ("B", "D"): 1, ("C", "D"): 5}


# module scope: Playwright's sync API keeps an event loop running while it is open, which would stop every later
# in-process service test on the same worker ("Cannot run the event loop while another loop is running")
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt-get where it can)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    opened = browser.new_page(viewport={"width": 1200, "height": 900})
    yield opened
    opened.close()


def _report(folder: Path, inputs: Path) -> Path:
    out = folder / f"{inputs.name}.html"
    result = CliRunner().invoke(main, ["report", str(inputs), "-o", str(out)], env={"SOURCE_DATE_EPOCH": "0"})
    assert result.exit_code in (0, 1), result.output
    return out


def _artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("FHIRBRIDGE_ARTEFACTS")
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "artefacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shift_table(page: Any, visit: str) -> dict[tuple[str, str], int]:
    """The shift table of one visit as shown: row header (baseline) × column header (grade at the visit)."""
    table = page.locator(f"table.shift[data-visit='{visit}']")
    assert table.is_visible()
    columns = table.locator("thead th").all_inner_texts()[1:-1]  # without the corner and "total"
    shown = {}
    for row in table.locator("tbody tr").all():
        baseline = row.locator("th").inner_text()
        for grade, cell in zip(columns, row.locator("td").all_inner_texts()[:-1], strict=True):
            if int(cell):
                shown[(baseline, grade)] = int(cell)
    return shown


def test_the_example_shows_the_published_shifts_and_its_chart(page: Any, tmp_path: Path,
                                                               tmp_path_factory: pytest.TempPathFactory,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    page.goto(_report(tmp_path, EXAMPLE).as_uri())
    assert _shift_table(page, "MONTH6") == PUBLISHED_SIX_MONTHS
    assert "12 of 13 improved" in page.locator("table.shift[data-visit='MONTH6'] caption").inner_text()
    chart = page.locator("#shift-chart svg")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    bars = chart.locator("rect.mark")
    cells = sum(len(_shift_table(page, visit)) for visit in ("DAY1", "MONTH6"))
    assert bars.count() == cells  # one bar segment per non-empty cell of the tables
    drawn: dict[tuple[str, str], tuple[int, float]] = {}  # MONTH6 segments: (baseline, grade) → (count, height)
    for i in range(bars.count()):
        bar = bars.nth(i)
        match = re.fullmatch(r"MONTH6: baseline (\w+) → (\w+): (\d+)", bar.locator("title").text_content() or "")
        if match:
            drawn[(match[1], match[2])] = (int(match[3]), bar.bounding_box()["height"])
    assert {cell: n for cell, (n, _) in drawn.items()} == PUBLISHED_SIX_MONTHS
    one = drawn[("A", "A")][1]
    assert one > 0 and all(abs(height - n * one) < 1 for n, height in drawn.values())  # heights follow the counts
    assert page.locator("#subject-count").inner_text() == "13"
    assert page.locator("#timeline svg circle").count() == 26  # 13 harvests and 13 infusions
    assert page.locator("#ae-without-soc").inner_text() == "8"  # PT-only: every event is shown without a SOC
    assert page.locator("#ae-by-soc tbody td").first.inner_text() == "SOC not given in the export"
    shot = _artefacts(tmp_path_factory) / "report-honmou2021.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nscreenshot of the example's report: {shot}")


def test_the_messy_example_shows_the_json_reports_counts_and_filters(page: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(MESSY), "--format", "json"])
    expected = orjson.loads(result.output)
    page.goto(_report(tmp_path, MESSY).as_uri())
    shown = {cell.get_attribute("data-severity"): int(cell.inner_text())
             for cell in page.locator("#severity-counts td").all()}
    assert shown == expected["counts"]
    rows = page.locator("#issues tbody tr")
    assert rows.count() == len(expected["issues"])
    summary = page.locator("#rule-summary tbody tr td:last-child").all_inner_texts()
    assert sum(map(int, summary)) == len(expected["issues"])

    def visible() -> list[str]:
        return [r.get_attribute("data-severity") for r in rows.all() if r.is_visible()]

    assert len(visible()) == len(expected["issues"])
    page.locator("#issue-filter input[value='error']").uncheck()
    assert visible() == ["warning"] * expected["counts"]["warning"]
    warnings = expected["counts"]["warning"]
    assert page.locator("#issue-shown").inner_text() == f"{warnings} of {rows.count()} issues shown"
    page.locator("#issue-filter input[value='error']").check()
    page.locator("#issue-filter select[name='code']").select_option("FB-REF-001")
    assert len(visible()) == sum(1 for i in expected["issues"] if i["code"] == "FB-REF-001") > 0
