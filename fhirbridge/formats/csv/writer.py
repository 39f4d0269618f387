"""The CSV spoke, write direction: hub records → one CSV file per record kind, in a given layout.

It is the exact inverse of the reader for every layout: codes go back through the layout's value maps,
dates through its date formats, so ``records → CSV → records`` is the identity.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any, NamedTuple

from fhirbridge.issues.issue import Issue
from fhirbridge.mapping.csv_layout import RECORD_TYPES, ColumnSpec, CsvLayout, FileSpec
from fhirbridge.mapping.loader import MappingError
from fhirbridge.records import Record, StudyData
from fhirbridge.records.paths import value_at


class NotRepresentable(ValueError):
    """A record value the layout has no way to write (no code in the value map, no matching date format)."""


class Table(NamedTuple):
    """One file's rows as CSV text, and what could not be written (issues name the file by its name and rows as
    numbered in this text: header = 1)."""

    name: str
    header: str
    body: str
    rows: int
    issues: list[Issue]


def write_csv(data: StudyData, layout: CsvLayout, outdir: Path, issues: list[Issue] | None = None) -> list[Path]:
    """Write every kind of record the layout has a file for; returns the files written.

    Values the layout has no column for are listed in ``issues`` (FB-CSV-009), never dropped silently.
    """
    check_writable(layout)
    outdir.mkdir(parents=True, exist_ok=True)
    issues = issues if issues is not None else []
    written = []
    for table in tables(data, layout):
        path = outdir / table.name
        path.write_text(table.header + table.body, encoding="utf-8", newline="")
        issues.extend(i.model_copy(update={"file": str(path)}) for i in table.issues)
        written.append(path)
    return written


def check_writable(layout: CsvLayout) -> None:
    """Refuse a layout that only reads: several kinds of record in one file, a record per visit from a row, row
    filters or checkbox columns have no one way back."""
    if not layout.one_file_per_kind():
        raise MappingError(f"layout {layout.name!r} reads several kinds of record from one file, a record per visit "
                           "from a row, filtered rows or checkboxes; fhirbridge writes CSV only in layouts with one "
                           "file per kind of record and one record per row (such as the default)")


def tables(data: StudyData, layout: CsvLayout, kinds: tuple[type[Record], ...] | None = None) -> list[Table]:
    """The CSV text of every file the layout has and the records fill (of ``kinds`` only, when given)."""
    result = []
    for spec in layout.files.values():
        kind = RECORD_TYPES[spec.record]
        if kinds is not None and kind not in kinds:
            continue
        records = [r for r in data.records() if type(r) is kind]
        if records:
            result.append(_table(file_name(spec), records, spec, layout))
    return result


def file_name(spec: FileSpec) -> str:
    """The name the spec gives its file, else a concrete name matching its glob (``subjects*.csv`` →
    ``subjects.csv``)."""
    return spec.name or spec.file.replace("*", "")


def _table(name: str, records: list[Record], spec: FileSpec, layout: CsvLayout) -> Table:
    issues: list[Issue] = []
    text = io.StringIO()
    writer = csv.writer(text, delimiter=layout.delimiter, lineterminator="\n")
    writer.writerow([c.column for c in spec.columns.values()])
    header = text.getvalue()
    text.seek(0)
    text.truncate()
    for row, record in enumerate(records, start=2):
        values = record.model_dump()
        writer.writerow([format_cell(value_at(values, p), c, layout) for p, c in spec.columns.items()])
        defaults = {name: f.default for name, f in type(record).model_fields.items()}
        for field in _unwritten(values, spec, defaults):
            issues.append(Issue.of("FB-CSV-009", f"{spec.record} {'/'.join(record.key())}: layout "
                                   f"{layout.name!r} has no column for {field}; its value is not written",
                                   file=name, row=row, value=str(value_at(values, field))))
    return Table(name, header, text.getvalue(), len(records), issues)


def _unwritten(values: dict[str, Any], spec: FileSpec, defaults: dict[str, Any], prefix: str = "") -> list[str]:
    """Fields holding a value, other than their default, that no column (or constant) of the file spec takes."""
    out = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if value in (None, [], defaults.get(path)) or path in spec.columns or path in spec.constants:
            continue
        if isinstance(value, dict) and any(c.startswith(f"{path}.") for c in spec.columns):
            out.extend(_unwritten(value, spec, {}, f"{path}."))
        else:
            out.append(path)
    return out


def format_cell(value: Any, spec: ColumnSpec, layout: CsvLayout) -> str:
    if value is None or value == []:
        return layout.missing[0]
    if spec.type == "list":
        return layout.list_separator.join(_code(v, spec, layout) if spec.values else str(v) for v in value)
    if spec.values:
        return _code(value, spec, layout)
    match spec.type:
        case "date" | "datetime":
            return format_date(value, layout)
        case "bool":
            return "true" if value else "false"
        case "float":
            return repr(float(value)).removesuffix(".0") if float(value).is_integer() else repr(float(value))
    return str(value)


def _code(value: Any, spec: ColumnSpec, layout: CsvLayout) -> str:
    for code, mapped in layout.value_maps[spec.values].items():  # type: ignore[index]
        if mapped == value and type(mapped) is type(value):
            return str(code)
    raise NotRepresentable(f"value map {spec.values!r} has no code for {value!r}")


def format_date(iso: str, layout: CsvLayout) -> str:
    """ISO 8601 text in a layout format that keeps its precision and its UTC offset.

    A time is written without offset when it is at the layout's own offset, else with a ``%z`` format, whose
    offset is written as the record holds it (ISO 8601 extended, ``+09:00`` or ``Z``: ``strftime`` would write
    ``+0900``).
    """
    if "T" in iso:
        stamp = dt.datetime.fromisoformat(iso)
        offset = "Z" if iso.endswith("Z") else iso[-6:]
        local = "Z" if layout.timezone in ("Z", "+00:00") else layout.timezone
        # a format to the minute writes a time whose seconds are zero (it reads back the same)
        whole_minute = stamp.second == 0 and stamp.microsecond == 0
        full = [f for f in layout.datetime_formats if "%S" in f or ("%M" in f and whole_minute)]
        for fmt in [f for f in full if "%z" not in f and offset == local] + [f for f in full if "%z" in f]:
            return stamp.strftime(fmt.replace("%z", offset))
        raise NotRepresentable(f"no date-time format of layout {layout.name!r} can write {iso}")
    precision = ("%Y", "%m", "%d")[iso.count("-")]
    day = dt.datetime.strptime(iso, ("%Y", "%Y-%m", "%Y-%m-%d")[iso.count("-")])
    for fmt in layout.date_formats:
        if ("%d" if "%d" in fmt else "%m" if "%m" in fmt else "%Y") == precision:
            return day.strftime(fmt)
    raise NotRepresentable(f"no date format of layout {layout.name!r} can write {iso}")
