"""Where a record came from, so that every later problem can be pointed back to its origin."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SourceLocation(BaseModel):
    """A position in an input: a file and a row (CSV, SDTM) or a path (FHIR), and the columns used.

    ``columns`` maps a record field path (``right.motor.C5``) to the column or variable it was read
    from, so that an issue found on a field can name the column the user has to fix.
    """

    model_config = ConfigDict(frozen=True)

    file: str | None = None
    row: int | None = None
    path: str | None = None
    columns: dict[str, str] = {}

    def column(self, field: str) -> str | None:
        """The input column of a record field, or of its nearest mapped parent."""
        while field:
            if field in self.columns:
                return self.columns[field]
            field = field.rpartition(".")[0]
        return None

    def describe(self) -> str:
        parts = [p for p in (self.file, f"row {self.row}" if self.row is not None else None, self.path) if p]
        return ", ".join(parts) or "unknown source"
