"""A Report as SARIF 2.1.0, the static-analysis format code hosts show inline on the file and line.

Every rule of the registry is a ``reportingDescriptor`` (code, title, description, default level); each
issue a ``result`` with its physical location (file, and line for CSV rows and NDJSON lines) and its
logical location (the FHIRPath). Rules that did not run, and why, are the invocation's
``toolExecutionNotifications``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from fhirbridge import __version__
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.registry import RULES
from fhirbridge.issues.report import Report

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {Severity.FATAL: "error", Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFORMATION: "note"}


def _uri(file: str) -> str:
    path = Path(file)
    return path.as_posix() if not path.is_absolute() else path.as_uri()


def _result(issue: Issue, index: dict[str, int]) -> dict[str, Any]:
    text = issue.message
    if issue.value is not None:
        text += f" (found: {issue.value})"
    if issue.expected:
        text += f" (expected: {issue.expected})"
    result: dict[str, Any] = {"ruleId": issue.code, "ruleIndex": index[issue.code], "level": _LEVEL[issue.severity],
                              "message": {"text": text}}
    location: dict[str, Any] = {}
    if issue.file:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(issue.file)}}
        if issue.row is not None:
            physical["region"] = {"startLine": max(issue.row, 1)}
        location["physicalLocation"] = physical
    logical = [name for name in (issue.target, issue.column) if name]
    if logical:
        location["logicalLocations"] = [{"fullyQualifiedName": logical[0],
                                         "kind": "element" if issue.target else "member"}]
    if location:
        result["locations"] = [location]
    properties = {k: v for k, v in (("subject", issue.subject), ("record", issue.record), ("column", issue.column),
                                    ("severity", str(issue.severity))) if v}
    result["properties"] = properties
    return result


def sarif(report: Report) -> dict[str, Any]:
    index = {code: i for i, code in enumerate(RULES)}
    rules = [{
        "id": code,
        "name": "".join(w.capitalize() for w in rule.title.replace("-", " ").split() if w.isalnum()) or code,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "defaultConfiguration": {"level": _LEVEL[Severity.parse(rule.severity)]},
        "properties": {"layer": rule.layer, "severity": rule.severity},
    } for code, rule in RULES.items()]
    notifications = [{"level": "note", "message": {"text": f"rule {code} did not run: {reason}"},
                      "descriptor": {"id": code}} for code, reason in sorted(report.rules_skipped.items())]
    if report.truncated:
        notifications.append({"level": "warning", "message": {
            "text": f"{report.truncated} more issue(s) counted but not shown (--max-issues {report.max_issues})"}})
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "fhirbridge", "version": __version__, "rules": rules}},
            "invocations": [{"executionSuccessful": report.exit_code != 2, "exitCode": report.exit_code,
                             "toolExecutionNotifications": notifications}],
            "results": [_result(issue, index) for issue in report.issues],
            "properties": {"verdict": report.verdict(), "counts": report.counts()},
        }],
    }


def render_sarif(report: Report) -> str:
    return orjson.dumps(sarif(report), option=orjson.OPT_INDENT_2).decode() + "\n"
