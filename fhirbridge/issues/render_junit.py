"""A Report as JUnit XML, the test-report format every CI system shows inline.

One test suite per input file: each issue is a test case, failed when its severity is at or above
``--fail-on`` (fatal issues are errors), passed with its message otherwise. A last suite, ``fhirbridge
rules``, has one test case per rule: passed when it ran, skipped (with the reason) when it did not.
"""

from __future__ import annotations

from itertools import groupby

from lxml import etree

from fhirbridge.issues.issue import Issue, Severity, diagnostics
from fhirbridge.issues.registry import RULES
from fhirbridge.issues.report import Report


def _case_name(issue: Issue) -> str:
    where = ", ".join(p for p in (f"row {issue.row}" if issue.row is not None else None,
                                  f"column {issue.column}" if issue.column else None, issue.target) if p)
    return f"{issue.code} {where}" if where else issue.code


def render_junit(report: Report) -> str:
    root = etree.Element("testsuites", name="fhirbridge validate")
    total = failures = errors = skipped = 0

    def by_file(issue: Issue) -> str:
        return issue.file or "(general)"

    for file, group in groupby(sorted(report.issues, key=by_file), key=by_file):
        issues = list(group)
        suite = etree.SubElement(root, "testsuite", name=file)
        n_fail = n_err = 0
        for issue in issues:
            case = etree.SubElement(suite, "testcase", name=_case_name(issue), classname=file)
            if issue.severity is Severity.FATAL:
                tag, n_err = "error", n_err + 1
            elif issue.severity >= report.fail_on:
                tag, n_fail = "failure", n_fail + 1
            else:
                etree.SubElement(case, "system-out").text = f"{issue.severity}: {diagnostics(issue)}"
                continue
            node = etree.SubElement(case, tag, message=issue.message, type=f"{issue.code} {issue.severity}")
            node.text = diagnostics(issue)
        suite.set("tests", str(len(issues)))
        suite.set("failures", str(n_fail))
        suite.set("errors", str(n_err))
        suite.set("skipped", "0")
        total, failures, errors = total + len(issues), failures + n_fail, errors + n_err
    rules = etree.SubElement(root, "testsuite", name="fhirbridge rules")
    n_skip = 0
    for code, rule in RULES.items():
        case = etree.SubElement(rules, "testcase", name=f"{code} {rule.title}", classname="fhirbridge.rules")
        if code not in report.rules_run:
            etree.SubElement(case, "skipped", message=report.rules_skipped.get(code, "did not run"))
            n_skip += 1
    rules.set("tests", str(len(RULES)))
    rules.set("failures", "0")
    rules.set("errors", "0")
    rules.set("skipped", str(n_skip))
    if report.truncated:
        rules.append(etree.Comment(f" {report.truncated} more issue(s) not shown (--max-issues {report.max_issues}) "))
        etree.SubElement(rules, "system-out").text = (f"{report.truncated} more issue(s) counted but not shown "
                                                      f"(--max-issues {report.max_issues})")
    root.set("tests", str(total + len(RULES)))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("skipped", str(skipped + n_skip))
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8").decode()
