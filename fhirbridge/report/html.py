"""Rendering the report as one self-contained HTML page through Jinja2 templates (``templates/``, package data).

Styles, the filter script and the SVG charts are inline, so the file works offline and can be mailed or archived
as it is. Nothing varies between runs but the time it was made, which ``SOURCE_DATE_EPOCH`` fixes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from fhirbridge import __version__
from fhirbridge.errors import InvalidOption
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.registry import RULES
from fhirbridge.issues.report import Report
from fhirbridge.report import charts
from fhirbridge.report.statistics import StudyStatistics


@dataclass(frozen=True)
class RuleRow:
    """One line of the summary by file and rule: how often a rule was broken in one file or dataset."""

    file: str
    code: str
    title: str
    severity: str
    count: int


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("fhirbridge.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def made_at() -> dt.datetime:
    """When a page was made: ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else now; in UTC."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        if not epoch.isdigit():
            raise InvalidOption(f"SOURCE_DATE_EPOCH must be a whole number of seconds, not {epoch!r}")
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def validation_view(report: Report) -> dict[str, Any]:
    """What the validation part shows: counts, the summary by file and rule, and every issue located."""
    by_rule: Counter[tuple[str, str]] = Counter()
    worst: dict[tuple[str, str], Severity] = {}
    for issue in report.issues:
        key = (issue.file or "(general)", issue.code)
        by_rule[key] += 1
        worst[key] = max(worst.get(key, issue.severity), issue.severity)
    rows = [RuleRow(file, code, _title(code), str(worst[(file, code)]), n)
            for (file, code), n in sorted(by_rule.items())]
    return {
        "counts": report.counts(),
        "verdict": report.verdict(),
        "exit_code": report.exit_code,
        "truncated": report.truncated,
        "max_issues": report.max_issues,
        "rules_run": len(report.rules_run),
        "rules_skipped": len(report.rules_skipped),
        "rule_rows": rows,
        "issues": [_issue_row(i) for i in sorted(report.issues, key=_issue_order)],
        "codes": sorted({i.code for i in report.issues}),
        "severities": [str(s) for s in sorted(Severity, reverse=True)],
    }


def _title(code: str) -> str:
    rule = RULES.get(code)
    return rule.title if rule else ""


def _issue_order(issue: Issue) -> tuple[str, int, str, str]:
    return issue.file or "", issue.row if issue.row is not None else -1, issue.target or "", issue.code


def _issue_row(issue: Issue) -> dict[str, Any]:
    return {
        "severity": str(issue.severity),
        "code": issue.code,
        "title": _title(issue.code),
        "message": issue.message,
        "file": issue.file or "",
        "row": "" if issue.row is None else issue.row,
        "column": issue.column or "",
        "record": ", ".join(p for p in (f"subject {issue.subject}" if issue.subject else "",
                                       f"record {issue.record}" if issue.record else "") if p),
        "target": issue.target or "",
        "value": "" if issue.value is None else str(issue.value),
        "expected": issue.expected or "",
    }


def _page(report: Report, inputs: list[str], made: dt.datetime) -> dict[str, Any]:
    return {"version": __version__, "header": report.header, "inputs": inputs,
            "made": made.strftime("%Y-%m-%d %H:%M:%S UTC"), "validation": validation_view(report)}


def render_validation(report: Report, inputs: list[str] | None = None, made: dt.datetime | None = None) -> str:
    """The validation part alone, as a page (``fhirbridge validate --format html``)."""
    return _environment().get_template("validation_page.html.j2").render(
        **_page(report, inputs or [], made or made_at()), title="fhirbridge validation report")


def render_report(report: Report, figures: StudyStatistics, *, inputs: list[str], made: dt.datetime) -> str:
    """The whole report: validation, study summary, neurological recovery, independence and safety."""
    study = ", ".join(f"{sid} — {title}" if title else sid for sid, title in figures.studies) or "no study record"
    return _environment().get_template("report.html.j2").render(
        **_page(report, inputs, made), title=f"fhirbridge report: {study}", study=study, figures=figures,
        shift_chart=charts.shift_chart(figures.shifts) if figures.shifts else None,
        neuro_charts=[charts.line_chart(s) for s in figures.neuro if any(s.counts)],
        scim_charts=[charts.line_chart(s) for s in figures.scim if any(s.counts)],
        timeline=charts.timeline_chart(figures.safety.timeline) if figures.safety.timeline else None,
        grade_colour=charts.grade_colour)
