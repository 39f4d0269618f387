"""Renderers: a Report as a text table for people or as JSON for programs."""

from __future__ import annotations

import os
from itertools import groupby

import click
import orjson

from fhirbridge.validation.issue import Issue, Severity
from fhirbridge.validation.report import Report

_COLOURS = {Severity.FATAL: "magenta", Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFORMATION: "cyan"}


def render_json(report: Report) -> str:
    return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2, default=str).decode() + "\n"


def use_colour(stream_is_tty: bool) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream_is_tty and not os.environ.get("NO_COLOR")


def render_text(report: Report, colour: bool = False) -> str:
    """Issues grouped by file, each with its location, code, severity and message; then counts and verdict."""
    lines: list[str] = []

    def paint(text: str, severity: Severity) -> str:
        return click.style(text, fg=_COLOURS[severity], bold=severity >= Severity.ERROR) if colour else text

    def by_file(issue: Issue) -> str:
        return issue.file or ""

    def in_file(issue: Issue) -> tuple[str, int]:
        return issue.file or "", issue.row or 0

    for file, issues in groupby(sorted(report.issues, key=in_file), key=by_file):
        lines.append(file or "(general)")
        for issue in issues:
            where = ", ".join(p for p in (
                f"row {issue.row}" if issue.row is not None else "",
                f"column {issue.column}" if issue.column else "",
                issue.target or "",
            ) if p)
            prefix = f"  {where}: " if where else "  "
            expected = f" (expected: {issue.expected})" if issue.expected and issue.code != "FB-ISN-001" else ""
            lines.append(f"{prefix}{paint(str(issue.severity), issue.severity)} {issue.code} {issue.message}{expected}")
    counts = ", ".join(f"{n} {name}" for name, n in report.counts().items() if n)
    lines.append(f"{counts or 'no issues'}; {report.verdict()}")
    for output in report.outputs:
        lines.append(f"wrote {output}")
    return "\n".join(lines) + "\n"
