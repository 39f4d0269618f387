"""Report: everything one run found, with a header saying what was used and a verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fhirbridge import __version__
from fhirbridge.validation.issue import Issue, Severity


class InputError(Exception):
    """Input that cannot be read at all (exit code 2), carried as the fatal issue that describes it."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(f"{issue.location()}: {issue.message}")
        self.issue = issue


@dataclass
class Report:
    """The result of a conversion or validation run.

    ``fail_on`` is the lowest severity that makes the run fail (exit code 1); fatal issues always mean
    input that could not be read (exit code 2).
    """

    header: dict[str, Any] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    fail_on: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        self.header.setdefault("fhirbridge", __version__)

    def add(self, issue: Issue) -> None:
        self.issues.append(issue)

    def extend(self, issues: list[Issue]) -> None:
        self.issues.extend(issues)

    def counts(self) -> dict[str, int]:
        counted = Counter(str(i.severity) for i in self.issues)
        return {str(s): counted.get(str(s), 0) for s in sorted(Severity, reverse=True)}

    @property
    def valid(self) -> bool:
        return not any(i.severity >= self.fail_on for i in self.issues)

    @property
    def exit_code(self) -> int:
        if any(i.severity is Severity.FATAL for i in self.issues):
            return 2
        return 0 if self.valid else 1

    def verdict(self) -> str:
        if self.exit_code == 2:
            return "unreadable input"
        return "valid" if self.valid else f"invalid (issues at or above {self.fail_on})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "header": self.header,
            "valid": self.valid,
            "verdict": self.verdict(),
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "stats": self.stats,
            "outputs": self.outputs,
            "issues": [i.model_dump(exclude_none=True) for i in self.issues],
        }
