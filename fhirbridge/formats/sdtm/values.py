"""What every file format reader shares: the error for unreadable files and typing of text values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fhirbridge.formats.sdtm.dataset import Value, number
from fhirbridge.issues.issue import Issue

#: dataset name → variable → Char or Num, as the mapping declares them (text formats carry no types).
ColumnTypes = Callable[[str], dict[str, Literal["Char", "Num"]]]


class UnreadableDataset(Exception):
    """A dataset file that cannot be read at all (a fatal issue: exit code 2)."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


def typed_value(text: str, kind: str, where: tuple[str, int, str], issues: list[Issue]) -> Value:
    """A cell's value: None when empty, a number for Num variables, else the text.

    A Num cell that is not a number is reported (``where`` is file, row, variable) and read as empty.
    """
    if text == "":
        return None
    if kind == "Num":
        try:
            return number(text)
        except ValueError:
            file, row, variable = where
            issues.append(Issue.of("FB-SDTM-018", f"{variable} {text!r} is not a number; it is read as empty",
                                   file=file, row=row, column=variable, value=text, expected="a number"))
            return None
    return text
