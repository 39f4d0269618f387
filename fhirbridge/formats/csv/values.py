"""Turning one CSV cell into a record field value, as its column spec says."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from fhirbridge.mapping.csv_layout import ColumnSpec, CsvLayout

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


class CellError(ValueError):
    """A cell that cannot be converted; ``code`` is the issue code that describes it."""

    def __init__(self, code: str, message: str, expected: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.expected = expected


_CHECKED = {"1": True, "checked": True, "0": False, "unchecked": False, "": False}


def checked(text: str) -> bool:
    """Whether a REDCap checkbox cell is checked: 1/0 in a raw export, Checked/Unchecked in a label export."""
    state = _CHECKED.get(text.strip().casefold())
    if state is None:
        raise CellError("FB-CSV-003", f"{text!r} is not a checkbox state", expected="1/0 or Checked/Unchecked")
    return state


def _iso(parsed: dt.datetime, fmt: str, timezone: str) -> str:
    """ISO 8601 text with the precision of ``fmt``: a partial date stays partial, a time gets seconds and
    an offset (the one in the text, else the layout's)."""
    if "%H" in fmt:
        offset = parsed.strftime("%z") if parsed.tzinfo else ""
        offset = f"{offset[:3]}:{offset[3:]}" if offset else timezone
        return parsed.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if offset in ("+00:00", "Z") else offset)
    if "%d" in fmt:
        return parsed.strftime("%Y-%m-%d")
    return parsed.strftime("%Y-%m" if "%m" in fmt else "%Y")


def parse_date(text: str, formats: list[str], timezone: str = "Z") -> str:
    """The ISO 8601 form of ``text``, keeping the precision the matching format has (partial dates)."""
    reasons = []
    for fmt in formats:
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError as exc:
            reasons.append(str(exc))
            continue
        return _iso(parsed, fmt, timezone)
    impossible = next((r for r in reasons if "out of range" in r or "must be in" in r), None)
    detail = f" ({impossible})" if impossible else ""
    raise CellError("FB-CSV-005", f"{text!r} is not a valid date{detail}", expected=" or ".join(formats))


@functools.lru_cache(maxsize=4096)
def _parse_date_once(text: str, formats: tuple[str, ...], timezone: str) -> str:
    """``parse_date``, once for each text (a subject's dates come again on many rows); a text that is no date
    raises each time."""
    return parse_date(text, list(formats), timezone)


def _mapped(text: str, spec: ColumnSpec, layout: CsvLayout) -> Any:
    table = layout.value_maps[spec.values]  # type: ignore[index]
    if text in table:
        return table[text]
    folded = {str(k).casefold(): v for k, v in table.items()}
    if text.casefold() in folded:
        return folded[text.casefold()]
    allowed = ", ".join(str(k) for k in table)
    raise CellError("FB-CSV-004", f"{text!r} is not a code of value map {spec.values!r}", expected=allowed)


def convert_cell(text: str, spec: ColumnSpec, layout: CsvLayout) -> Any:
    """Convert the text of one cell (never missing: the caller handles missing tokens)."""
    if spec.type in ("list", "checkboxes"):
        items = [t.strip() for t in text.split(layout.list_separator) if t.strip()]
        return [_mapped(t, spec, layout) if spec.values else t for t in items]
    if spec.values:
        value = _mapped(text, spec, layout)
        if spec.type == "bool" and not isinstance(value, bool):
            raise CellError("FB-CSV-003", f"value map {spec.values!r} must map {text!r} to true or false")
        return value
    match spec.type:
        case "str":
            return text
        case "int":
            try:
                return int(text)
            except ValueError:
                raise CellError("FB-CSV-003", f"{text!r} is not a whole number", expected="an integer") from None
        case "float":
            try:
                return float(text)
            except ValueError:
                raise CellError("FB-CSV-003", f"{text!r} is not a number", expected="a decimal number") from None
        case "date":
            return _parse_date_once(text, tuple(layout.date_formats), "Z")
        case "datetime":
            return _parse_date_once(text, (*layout.datetime_formats, *layout.date_formats), layout.timezone)
        case "bool":
            folded = text.casefold()
            if folded in _TRUE | _FALSE:
                return folded in _TRUE
            raise CellError("FB-CSV-003", f"{text!r} is not yes or no", expected="true/false, yes/no, Y/N, 1/0")
    raise AssertionError(spec.type)  # pragma: no cover
