"""Report: everything one run found, with a header saying what was used and a verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fhirbridge import __version__
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.registry import OPT_IN, RULES


@dataclass
class Report:
    """The result of a conversion or validation run.

    ``fail_on`` is the lowest severity that makes the run fail (exit code 1); fatal issues always mean
    input that could not be read (exit code 2). ``select`` / ``ignore`` keep or drop issue codes by prefix;
    past ``max_issues`` issues are only counted, so that a huge input cannot exhaust memory with them.
    Layers say which rules they ran (``ran``) and which they could not (``skip``), so a clean report tells
    what was checked.
    """

    header: dict[str, Any] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    fail_on: Severity = Severity.ERROR
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    max_issues: int | None = None
    overflow: Counter[Severity] = field(default_factory=Counter)
    rules_run: set[str] = field(default_factory=set)
    rules_skipped: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.header.setdefault("fhirbridge", __version__)

    def selected(self, code: str) -> bool:
        """Whether issues of ``code`` are reported: opt-in rules only when selected, ignored ones never."""
        if any(code.startswith(prefix) for prefix in self.ignore):
            return False
        if self.select:
            return any(code.startswith(prefix) for prefix in self.select)
        return code not in OPT_IN

    def add(self, issue: Issue) -> None:
        if not self.selected(issue.code):
            return
        if self.max_issues is not None and len(self.issues) >= self.max_issues:
            self.overflow[issue.severity] += 1
            return
        self.issues.append(issue)

    def extend(self, issues: list[Issue]) -> None:
        for issue in issues:
            self.add(issue)

    def ran(self, *codes: str) -> None:
        """Record that the rules of ``codes`` were checked (whether or not they found anything)."""
        self.rules_run.update(codes)

    def skip(self, code: str, reason: str) -> None:
        self.rules_skipped.setdefault(code, reason)

    def finish(self) -> None:
        """Apply selection and the cap to issues added directly to ``issues``, and settle which rules ran."""
        kept = [i for i in self.issues if self.selected(i.code)]
        if self.max_issues is not None and len(kept) > self.max_issues:
            self.overflow.update(i.severity for i in kept[self.max_issues:])
            kept = kept[: self.max_issues]
        self.issues = kept
        for code in RULES:
            if not self.selected(code):
                self.rules_run.discard(code)
                self.rules_skipped[code] = "opt-in: select it to run" if code in OPT_IN and not any(
                    code.startswith(p) for p in self.ignore) else "not selected"
        for code in self.rules_run:
            self.rules_skipped.pop(code, None)
        for code in RULES.keys() - self.rules_run - self.rules_skipped.keys():
            self.rules_skipped[code] = "not applicable to this input"

    @property
    def truncated(self) -> int:
        """How many issues were counted but not kept (``max_issues``)."""
        return sum(self.overflow.values())

    def counts(self) -> dict[str, int]:
        counted = Counter(str(i.severity) for i in self.issues)
        counted.update({str(s): n for s, n in self.overflow.items()})
        return {str(s): counted.get(str(s), 0) for s in sorted(Severity, reverse=True)}

    def _worst(self) -> Severity | None:
        severities = [i.severity for i in self.issues] + [s for s, n in self.overflow.items() if n]
        return max(severities, default=None)

    @property
    def valid(self) -> bool:
        worst = self._worst()
        return worst is None or worst < self.fail_on

    @property
    def exit_code(self) -> int:
        if self._worst() is Severity.FATAL:
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
            "stats": {**self.stats, **self._rule_stats()},
            "outputs": self.outputs,
            "issues": [i.model_dump(exclude_none=True) for i in self.issues],
            **({"truncated": {"max_issues": self.max_issues, "not_shown": self.truncated}} if self.truncated else {}),
        }

    def _rule_stats(self) -> dict[str, Any]:
        if not self.rules_run and not self.rules_skipped:
            return {}
        skipped = dict(sorted(self.rules_skipped.items()))
        return {"rules": {"run": len(self.rules_run), "skipped": len(skipped), "run_codes": sorted(self.rules_run),
                          "skipped_codes": skipped}}
