"""One SDTM dataset in memory, the same whichever file format it was read from or is written to."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Value = str | int | float | None
Row = dict[str, Value]


@dataclass(frozen=True)
class Column:
    """A variable as a file declares it; ``data_type`` is the Define-XML / Dataset-JSON type."""

    name: str
    label: str = ""
    type: Literal["Char", "Num"] = "Char"
    data_type: Literal["text", "integer", "float", "datetime"] = "text"
    length: int | None = None


@dataclass
class Dataset:
    """Rows of one domain (or SUPP-- dataset). Missing values are ``None``; Num values are int or float.

    ``row_numbers`` are the positions a user sees in the file (a spreadsheet's line for CSV, the observation
    number for XPT, the 1-based row or ItemGroupData for Dataset-JSON and Dataset-XML).
    """

    name: str
    label: str
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    file: str | None = None
    row_numbers: list[int] = field(default_factory=list)

    def row_number(self, index: int) -> int:
        return self.row_numbers[index] if index < len(self.row_numbers) else index + 1

    def has(self, name: str) -> bool:
        return any(c.name == name for c in self.columns)


def number(text: str) -> int | float:
    """A Num value from its text: an int when it is a whole number, else a float (ValueError if neither)."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def as_text(value: Value) -> str:
    """A value as it is written in a text cell: whole numbers without a decimal point."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def data_type(kind: str, values: list[Value], name: str = "") -> Literal["text", "integer", "float", "datetime"]:
    """The Define-XML type of a column: --DTC are ISO 8601 date-times; Num columns are integer unless a value
    has a fraction."""
    if kind == "Char":
        return "datetime" if name.endswith("DTC") else "text"
    return "float" if any(isinstance(v, float) and not v.is_integer() for v in values) else "integer"
