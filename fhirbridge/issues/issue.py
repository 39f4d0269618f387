"""Issue: one problem found anywhere, pointing at the source and the target of the conversion."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, field_serializer

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


class Issue(BaseModel):
    """A problem with a stable code; where it is in the input, and where it would be in the output."""

    model_config = ConfigDict(frozen=True)

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
            severity=severity if severity is not None else Severity.parse(rule.severity),
            message=message,
            **{**located, **kwargs},
        )

    @field_serializer("severity")
    def _severity_name(self, severity: Severity) -> str:
        return str(severity)

    def location(self) -> str:
        """A human-readable location: ``file, row 3, column r_c5_motor``."""
        parts = [
            self.file,
            f"row {self.row}" if self.row is not None else None,
            f"column {self.column}" if self.column else None,
            self.target,
        ]
        return ", ".join(p for p in parts if p) or "-"


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
