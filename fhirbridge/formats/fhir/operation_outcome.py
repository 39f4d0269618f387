"""A Report as a FHIR R4 OperationOutcome, for FHIR servers and clients that read validation results.

Each issue becomes an ``issue`` with its severity, an IssueType from the rule's layer, the fhirbridge code in
``details`` (system: the ``issue_code`` system of the FHIR mapping spec), a readable ``diagnostics`` with the
source location, value and expectation, and the FHIRPath in ``expression``.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhirbridge.issues.issue import diagnostics
from fhirbridge.issues.registry import RULES
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping

#: OperationOutcome.issue.code (IssueType, required binding) for each layer of rules.
ISSUE_TYPE_OF_LAYER = {
    "syntax": "structure",
    "schema": "structure",
    "terminology": "code-invalid",
    "invariants": "invariant",
    "profiles": "processing",
    "references": "not-found",
    "clinical": "business-rule",
    "security": "security",
    "service": "exception",
    "capability": "not-supported",
    "conflict": "conflict",
    "lifecycle": "deleted",
}


def operation_outcome(report: Report) -> dict[str, Any]:
    system = load_fhir_mapping().systems.get("issue_code")
    issues: list[dict[str, Any]] = []
    for issue in report.issues:
        rule = RULES[issue.code]
        coding = {"code": issue.code, "display": rule.title}
        if system:
            coding = {"system": system, **coding}
        entry: dict[str, Any] = {
            "severity": str(issue.severity),
            "code": ISSUE_TYPE_OF_LAYER.get(rule.layer, "processing"),
            "details": {"coding": [coding], "text": rule.title},
            "diagnostics": diagnostics(issue),
        }
        if issue.target:
            entry["expression"] = [issue.target]
        issues.append(entry)
    if report.truncated:
        issues.append({"severity": "information", "code": "too-costly",
                       "diagnostics": f"{report.truncated} more issue(s) not shown (--max-issues "
                                      f"{report.max_issues})"})
    if not issues:
        issues.append({"severity": "information", "code": "informational", "diagnostics": "no issues: valid"})
    return {"resourceType": "OperationOutcome", "issue": issues}


def render_operation_outcome(report: Report) -> str:
    return orjson.dumps(operation_outcome(report), option=orjson.OPT_INDENT_2).decode() + "\n"
