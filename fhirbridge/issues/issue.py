"""Issue: one problem found anywhere, pointing at the source and the target of the conversion."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import IntEnum
from functools import cache
from typing import Any, Protocol

from fhirbridge.issues.registry import RULES


class SourceLocation(Protocol):
    """Where a record came from, as issues need it (``fhirbridge.records.source.SourceLocation`` is one)."""

    file: str | None
    row: int | None
    path: str | None

    def column(self, field: str) -> str | None: ...


class Severity(IntEnum):
    """FHIR OperationOutcome severities, ordered so that ``>=`` means "at least as bad"."""

    INFORMATION = 0
    WARNING = 1
    ERROR = 2
    FATAL = 3

    @classmethod
    def parse(cls, name: str) -> Severity:
        return cls[name.upper()]

    def __str__(self) -> str:
        return self.name.lower()


#: each code's severity, as ``Issue.at`` looked it up
_SEVERITY_OF: dict[str, Severity] = {}


@cache
def _severity(name: str) -> Severity:
    """A rule's severity by its name (asked for every issue made)."""
    return Severity.parse(name)


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem with a stable code; where it is in the input, and where it would be in the output.

    A plain frozen dataclass (not a pydantic model): every command makes a Report, and loading pydantic's model
    machinery for it would cost a command that builds no model (``isncsci classify``) a tenth of a second. It
    keeps the two model methods its users call, ``model_dump`` and ``model_copy``."""

    code: str
    severity: Severity
    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    subject: str | None = None
    record: str | None = None
    target: str | None = None
    value: Any = None
    expected: str | None = None

    @classmethod
    def of(
        cls,
        code: str,
        message: str,
        *,
        source: SourceLocation | None = None,
        field: str | None = None,
        severity: Severity | None = None,
        **kwargs: Any,
    ) -> Issue:
        """An issue of a registered code, located at a record's source (and the column of ``field``)."""
        rule = RULES[code]
        located: dict[str, Any] = {}
        if source is not None:
            located = {"file": source.file, "row": source.row}
            if field is not None:
                located["column"] = source.column(field) or field
            if source.path and "target" not in kwargs:
                located["target"] = source.path
        return cls(
            code=code,
            severity=severity if severity is not None else _severity(rule.severity),
            message=message,
            **{**located, **kwargs},
        )

    @classmethod
    def at(cls, code: str, message: str, file: str | None, row: int | None, target: str | None,
           **kwargs: Any) -> Issue:
        """``of`` for an issue located by file, row and FHIRPath only (the reader makes one for most resources
        it does not convert: the same issue, without ``of``'s merging of locations)."""
        severity = kwargs.pop("severity", None)
        if severity is None:
            severity = _SEVERITY_OF.get(code)
            if severity is None:
                severity = _SEVERITY_OF[code] = _severity(RULES[code].severity)
        return cls(code, severity, message, file, row, target=target, **kwargs)

    def __post_init__(self) -> None:
        if not isinstance(self.severity, Severity):
            object.__setattr__(self, "severity", Severity(self.severity))

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """The fields in order, the severity by its name (``error``); without the empty ones if asked."""
        values = {name: getattr(self, name) for name in _FIELDS}
        values["severity"] = str(self.severity)
        return {k: v for k, v in values.items() if v is not None} if exclude_none else values

    def model_copy(self, *, update: dict[str, Any]) -> Issue:
        """The same issue with some fields changed."""
        return replace(self, **update)

    def location(self) -> str:
        """A human-readable location: ``file, row 3, column r_c5_motor``."""
        parts = [
            self.file,
            f"row {self.row}" if self.row is not None else None,
            f"column {self.column}" if self.column else None,
            self.target,
        ]
        return ", ".join(p for p in parts if p) or "-"


_FIELDS = tuple(f.name for f in fields(Issue))


def diagnostics(issue: Issue) -> str:
    """The message with where it was found (source side), the value and what was expected."""
    where = ", ".join(p for p in (issue.file, f"row {issue.row}" if issue.row is not None else None,
                                  f"column {issue.column}" if issue.column else None,
                                  f"subject {issue.subject}" if issue.subject else None,
                                  f"record {issue.record}" if issue.record else None) if p)
    text = f"{where}: {issue.message}" if where else issue.message
    if issue.value is not None:
        text += f" (found: {issue.value})"
    if issue.expected:
        text += f" (expected: {issue.expected})"
    return text
