"""Renderers: a Report as a text table or an HTML page for people, or as JSON, FHIR OperationOutcome, JUnit XML or
SARIF for programs and CI systems."""

from __future__ import annotations

import os
import re
from itertools import groupby

import click
import orjson

from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.render_sarif import render_sarif
from fhirbridge.issues.report import Report

_ENTRY = re.compile(r"Bundle\.entry\[\d+\]")
_ENTRY_INDEX = re.compile(r"Bundle\.entry\[(\d+)\]")
_COLOURS = {Severity.FATAL: "magenta", Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFORMATION: "cyan"}


def render_json(report: Report) -> str:
    return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2, default=str).decode() + "\n"


def use_colour(stream_is_tty: bool) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream_is_tty and not os.environ.get("NO_COLOR")


def _record(issue: Issue) -> str:
    """The record an issue belongs to: a subject's record on the source side, or a bundle entry."""
    if issue.subject or issue.record:
        return ", ".join(p for p in (f"subject {issue.subject}" if issue.subject else "",
                                     f"record {issue.record}" if issue.record else "") if p)
    match = _ENTRY.match(issue.target or "")
    return match.group(0) if match else ""


def render_text(report: Report, colour: bool = False) -> str:
    """Issues grouped by file and record, each with its location, code, severity and message; then counts,
    verdict, and which rules ran."""
    lines: list[str] = []

    def paint(text: str, severity: Severity) -> str:
        return click.style(text, fg=_COLOURS[severity], bold=severity >= Severity.ERROR) if colour else text

    def by_file(issue: Issue) -> str:
        return issue.file or ""

    def in_file(issue: Issue) -> tuple[str, int, int]:
        entry = _ENTRY_INDEX.match(issue.target or "")
        return issue.file or "", issue.row or 0, int(entry.group(1)) if entry else -1

    for file, issues in groupby(sorted(report.issues, key=in_file), key=by_file):
        lines.append(file or "(general)")
        for record, in_record in groupby(issues, key=_record):
            indent = "  "
            if record:
                lines.append(f"  {record}")
                indent = "    "
            for issue in in_record:
                where = ", ".join(p for p in (
                    f"row {issue.row}" if issue.row is not None else "",
                    f"column {issue.column}" if issue.column else "",
                    issue.target or "",
                ) if p)
                prefix = f"{indent}{where}: " if where else indent
                expected = f" (expected: {issue.expected})" if issue.expected and issue.code != "FB-ISN-001" else ""
                lines.append(f"{prefix}{paint(str(issue.severity), issue.severity)} {issue.code} {issue.message}"
                             f"{expected}")
    if report.truncated:
        lines.append(f"note: {report.truncated} more issue(s) counted but not shown (--max-issues {report.max_issues})")
    counts = ", ".join(f"{n} {name}" for name, n in report.counts().items() if n)
    lines.append(f"{counts or 'no issues'}; {report.verdict()}")
    if report.rules_run or report.rules_skipped:
        lines.append(f"rules: {len(report.rules_run)} run, {len(report.rules_skipped)} skipped "
                     "(--format json lists them)")
    for output in report.outputs:
        lines.append(f"wrote {output}")
    return "\n".join(lines) + "\n"


def render(report: Report, fmt: str, colour: bool = False) -> str:
    """The report in one of ``FORMATS``."""
    if fmt == "text":
        return render_text(report, colour)
    if fmt == "json":
        return render_json(report)
    if fmt == "operation-outcome":
        # a FHIR resource: written by the FHIR spoke, which the kernel does not import
        from fhirbridge.formats.fhir.operation_outcome import render_operation_outcome

        return render_operation_outcome(report)
    if fmt == "html":
        # a page rendered through the report package's templates, which the kernel does not import
        from fhirbridge.report.html import render_validation

        return render_validation(report)
    if fmt == "junit":
        from fhirbridge.issues.render_junit import render_junit  # lxml, loaded only for this format

        return render_junit(report)
    if fmt == "sarif":
        return render_sarif(report)
    raise ValueError(f"unknown report format {fmt!r}; supported: {', '.join(FORMATS)}")


FORMATS = ("text", "json", "operation-outcome", "junit", "sarif", "html")
