"""Issues as a FHIR OperationOutcome, the shape every error and every validation result of the service takes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhirbridge.validation.issue import Issue
from fhirbridge.validation.registry import RULES
from fhirbridge.validation.report import Report

#: FHIR IssueType per rule layer; codes whose meaning is more precise than their layer are listed apart.
_ISSUE_TYPE_OF_LAYER = {"syntax": "structure", "schema": "structure", "terminology": "code-invalid",
                        "references": "invalid", "clinical": "business-rule", "security": "security",
                        "service": "exception"}
_ISSUE_TYPE_OF_CODE = {"FB-SRV-007": "too-long", "FB-SRV-008": "not-supported", "FB-SRV-010": "not-found",
                       "FB-SRV-011": "invalid", "FB-SRV-002": "not-supported", "FB-SRV-003": "not-supported"}


def outcome_issue(issue: Issue) -> dict[str, Any]:
    """One OperationOutcome.issue: our code in details, where it is in diagnostics and expression."""
    rule = RULES[issue.code]
    entry: dict[str, Any] = {
        "severity": str(issue.severity),
        "code": _ISSUE_TYPE_OF_CODE.get(issue.code) or _ISSUE_TYPE_OF_LAYER.get(rule.layer, "processing"),
        "details": {"coding": [{"code": issue.code, "display": rule.title}], "text": issue.message},
    }
    where = [p for p in (issue.file, f"row {issue.row}" if issue.row is not None else None,
                         f"column {issue.column}" if issue.column else None,
                         f"subject {issue.subject}" if issue.subject else None,
                         f"record {issue.record}" if issue.record else None) if p]
    if where:
        entry["diagnostics"] = ", ".join(where)
    if issue.target:
        entry["expression"] = [issue.target]
    return entry


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """An OperationOutcome; one that holds no issue says so with an informational "all OK" issue."""
    entries = [outcome_issue(i) for i in issues]
    if not entries:
        entries = [{"severity": "information", "code": "informational", "details": {"text": "no issues"}}]
    return {"resourceType": "OperationOutcome", "issue": entries}


def report_outcome(report: Report) -> dict[str, Any]:
    return operation_outcome(report.issues)
