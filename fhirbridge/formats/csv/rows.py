"""From a file's header and rows to records, for every shape a layout can describe.

A file is read by one or more file specs of the layout (several with the same ``file`` glob: a wide or long
export, a REDCap project), and a spec with ``visits`` reads one record per visit from each row. Each of these is a
``Reading``: the record kind, and the column each of its fields comes from in this file's header. The header is
checked once per file (``plan``); each row then gives the records of every reading whose cells it fills
(``records_of_row``). Both the one-pass reader and the chunked reader go through here, so they agree.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from fhirbridge.formats.csv.plain import BUILDERS
from fhirbridge.formats.csv.values import CellError, checked, convert_cell
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import KEY_FIELDS, RECORD_TYPES, VISIT, ColumnSpec, CsvLayout, FileSpec
from fhirbridge.records import Record, SourceLocation

#: The separator of a REDCap checkbox column: ``serious_criteria___2`` is code 2 of ``serious_criteria``.
CHECKBOX = "___"
_DELIMITERS = (",", ";", "\t", "|")
#: How many unused columns the issue about them names.
_UNUSED_NAMED = 10


@dataclass
class Reading:
    """One kind of record read from each row of a file (for one visit, when the spec has visits)."""

    name: str
    spec: FileSpec
    columns: dict[str, str]  # field path → column of this header
    constants: dict[str, Any]
    checkboxes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # field path → [(code, column)]
    own: list[str] = field(default_factory=list)  # columns whose values make a record (keys and filters aside)
    skip_blank: bool = False  # a row leaving every own column blank holds no record of this kind
    #: what ``read_record`` does for each column, worked out once (see ``_steps``)
    steps: list[tuple[str, str, tuple[str, ...], str, ColumnSpec | None]] | None = field(default=None, repr=False)
    #: the source's columns: ``columns`` and the first column of each checkbox field
    source_columns: dict[str, str] | None = field(default=None, repr=False)


def _steps(reading: Reading) -> list[tuple[str, str, tuple[str, ...], str, ColumnSpec | None]]:
    """For each column read: (field path, column, the path's parents, its leaf, the column spec, None when the
    text is the value as it is: a plain string column)."""
    if reading.steps is None:
        steps = []
        shared: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per parent path: ``read_record`` asks ``is``
        for path, column in reading.columns.items():
            *parents, leaf = path.split(".")
            spec = reading.spec.columns[path]
            plain = spec.type == "str" and not spec.values
            steps.append(
                (path, column, shared.setdefault(tuple(parents), tuple(parents)), leaf, None if plain else spec)
            )
        reading.steps = steps
        reading.source_columns = reading.columns | {path: boxes[0][1] for path, boxes in reading.checkboxes.items()}
    return reading.steps


def resolve(column: str, visit_token: str | None) -> str:
    """A column name with its ``{visit}`` placeholder filled in (as it is, for a spec without visits)."""
    return column.replace(VISIT, visit_token) if visit_token is not None else column


def plan(header: list[str], names: list[str], layout: CsvLayout, file: str, report: Report) -> list[Reading]:
    """The readings of a file read by the file specs ``names``; header problems go to ``report``: a required
    column missing (that reading is left out), a column nothing reads (unless the layout ignores it)."""
    readings: list[Reading] = []
    missing_all: list[tuple[str, str]] = []  # (column, what is not read)
    candidates = readings_of(header, names, layout)  # also those left out: their columns are not unused ones
    for reading, missing in candidates:
        visit = reading.constants.get("visit") if reading.spec.visits else None
        what = (
            f"no {reading.spec.record}{f' of visit {visit}' if visit else ''} is read from the file"
            if reading.skip_blank
            else "no row of the file is read"
        )
        missing_all.extend((column, what) for column in missing)
        if not missing:
            readings.append(reading)
    hint = delimiter_hint(header, layout, [c for c, _ in missing_all]) or label_headers_hint(
        header, [c for c, _ in missing_all]
    )
    if hint:
        report.add(Issue.of("FB-CSV-001", hint, file=file, row=1))
        return []
    for column, what in missing_all:
        report.add(
            Issue.of("FB-CSV-001", f"required column {column!r} is missing; {what}", file=file, row=1, column=column)
        )
    unused = unused_columns(header, [r for r, _ in candidates], layout)
    if len(unused) == 1:
        report.add(
            Issue.of(
                "FB-CSV-002",
                f"column {unused[0]!r} is not used by the layout; its values are not converted",
                file=file,
                row=1,
                column=unused[0],
            )
        )
    elif unused:  # one issue per file, however wide the header: a million columns are not a million issues
        first = ", ".join(repr(c) for c in unused[:_UNUSED_NAMED])
        more = ", ..." if len(unused) > _UNUSED_NAMED else ""
        report.add(
            Issue.of(
                "FB-CSV-002",
                f"{len(unused):,} columns are not used by the layout ({first}{more}); their values are not converted",
                file=file,
                row=1,
                column=unused[0],
                value=len(unused),
            )
        )
    return readings


def unused_columns(header: list[str], readings: list[Reading], layout: CsvLayout) -> list[str]:
    """The columns of ``header`` that no reading reads, no row filter looks at and the layout does not ignore."""
    used = {c for r in readings for c in r.columns.values()}
    used |= {c for r in readings for boxes in r.checkboxes.values() for _, c in boxes}
    used |= {c for r in readings for c in r.spec.where}
    return [c for c in header if c not in used and not any(fnmatch.fnmatchcase(c, g) for g in layout.ignore_columns)]


def readings_of(header: list[str], names: list[str], layout: CsvLayout) -> list[tuple[Reading, list[str]]]:
    """Every reading of a file by the file specs ``names``, with the required columns it lacks."""
    present = set(header)
    out = []
    for name in names:
        spec = layout.files[name]
        for visit, token in spec.visits.items() or [(None, None)]:
            reading = _reading(name, spec, visit, token, header, present, len(names) > 1)
            missing = [
                resolve(c.column, token)
                for p, c in spec.columns.items()
                if not c.optional and p not in reading.columns and p not in reading.checkboxes
            ]
            missing += [c for c in spec.where if c not in present]  # a filter on no column would keep no row
            out.append((reading, missing))
    return out


def _reading(
    name: str, spec: FileSpec, visit: str | None, token: str | None, header: list[str], present: set[str], shared: bool
) -> Reading:
    columns: dict[str, str] = {}
    checkboxes: dict[str, list[tuple[str, str]]] = {}
    for path, column in spec.columns.items():
        wanted = resolve(column.column, token)
        if column.type == "checkboxes":
            boxes = [(h[len(wanted) + len(CHECKBOX) :], h) for h in header if h.startswith(wanted + CHECKBOX)]
            if boxes:
                checkboxes[path] = boxes
        elif wanted in present:
            columns[path] = wanted
    constants = dict(spec.constants) | ({"visit": visit} if visit is not None else {})
    own = [c for p, c in columns.items() if p not in KEY_FIELDS and c not in spec.where]
    own += [c for boxes in checkboxes.values() for _, c in boxes]
    return Reading(name, spec, columns, constants, checkboxes, own, skip_blank=shared or visit is not None)


def delimiter_hint(header: list[str], layout: CsvLayout, missing: list[str]) -> str | None:
    """When required columns are missing and the header splits into them on another delimiter, what to write."""
    if not missing:
        return None
    text = layout.delimiter.join(header)
    for other in _DELIMITERS:
        if other == layout.delimiter:
            continue
        split = {h.strip().strip('"') for h in text.split(other)}
        if len(split) > len(header) and len(split & set(missing)) > len(missing) // 2:
            shown = "\\t" if other == "\t" else other
            return (
                f"the header has {len(header)} column(s) split on {layout.delimiter!r} but {len(split)} split on "
                f'{shown!r}: the file looks {shown!r}-separated; write delimiter: "{shown}" in the layout '
                f"{layout.name!r}"
            )
    return None


def label_headers_hint(header: list[str], missing: list[str]) -> str | None:
    """When a REDCap export's headers are its field labels ("Record ID", "Event Name"), not its variable names."""
    if "record_id" in missing and {"Record ID", "Event Name", "Repeat Instrument"} & set(header):
        return (
            "the header holds REDCap field labels ('Record ID', ...), not variable names: export the records "
            "with the variable names as column headers (raw headers)"
        )
    return None


def records_of_row(
    cells: list[str], header: list[str], readings: list[Reading], layout: CsvLayout, file: str, row: int, report: Report
) -> Iterator[tuple[Reading, Record]]:
    """The records one row gives (none for a row of the wrong width, which is reported)."""
    if len(cells) != len(header):
        report.add(
            Issue.of(
                "FB-CSV-006",
                f"row has {len(cells)} fields, the header has {len(header)}",
                file=file,
                row=row,
                value=len(cells),
                expected=str(len(header)),
            )
        )
        return
    by_column = dict(zip(header, cells, strict=True))
    for reading in readings:
        where = reading.spec.where
        if any(by_column.get(c, "").strip() not in allowed for c, allowed in where.items()):
            continue
        if reading.skip_blank and all(
            by_column[c].strip() in layout.missing for c in reading.own if not _unchecked(by_column[c], c, reading)
        ):
            continue
        record = read_record(by_column, reading, layout, file, row, report)
        if record is not None:
            yield reading, record


def _unchecked(text: str, column: str, reading: Reading) -> bool:
    """A checkbox column left unchecked counts as blank when telling whether a row holds a record."""
    if not reading.checkboxes or CHECKBOX not in column:
        return False
    try:
        return not checked(text)
    except CellError:
        return False


def read_record(
    by_column: dict[str, str], reading: Reading, layout: CsvLayout, file: str, row: int, report: Report
) -> Record | None:
    """The record of one reading of a row; every problem of its cells is reported and gives None."""
    steps = _steps(reading)
    # made as validation would make it, without validating the reading's columns again for each row
    source = SourceLocation.model_construct(file=file, row=row, columns=reading.source_columns)
    values: dict[str, Any] = dict(reading.constants)
    problems: list[Issue] = []
    missing = layout.missing
    last: tuple[str, ...] = ()
    within = values  # the dict of ``last``: consecutive cells mostly share their parents (an exam's motor cells)
    for path, column, parents, leaf, spec in steps:
        text = by_column[column].strip()
        if parents and parents is not last:
            within, last = _within(values, parents), parents
        if text in missing:
            if parents:  # a member of a nested field (an exam cell, a SCIM item): keep the gap visible
                within[leaf] = None
            continue
        if spec is None:
            value: Any = text
        else:
            try:
                value = convert_cell(text, spec, layout)
            except CellError as exc:
                problems.append(
                    Issue.of(exc.code, str(exc), source=source, field=path, value=text, expected=exc.expected)
                )
                continue
        (within if parents else values)[leaf] = value
    for path, boxes in reading.checkboxes.items():
        try:
            codes = [code for code, column in boxes if checked(by_column[column].strip())]
            if codes:
                _put(values, path, convert_cell(layout.list_separator.join(codes), reading.spec.columns[path], layout))
        except CellError as exc:
            problems.append(Issue.of(exc.code, str(exc), source=source, field=path, expected=exc.expected))
    if problems:
        report.extend(problems)
        return None
    plain = BUILDERS.get(reading.spec.record)
    if plain is not None and (record := plain(values, source)) is not None:
        return record  # the record the model would make: see ``plain``
    try:
        return RECORD_TYPES[reading.spec.record].model_validate({**values, "source": source})
    except ValidationError as exc:
        report.extend(validation_issues(exc, source))
        return None


def _within(target: dict[str, Any], parents: tuple[str, ...]) -> dict[str, Any]:
    for part in parents:
        target = target.setdefault(part, {})
    return target


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def validation_issues(exc: ValidationError, source: SourceLocation) -> list[Issue]:
    """Record validation errors as issues located at the column each field was read from."""
    issues = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        if err["type"] == "missing" or ("input" in err and err["input"] is None):
            message = f"{path}: a value is required"
        else:
            message = f"{path}: {err['msg'].removeprefix('Value error, ')}"
        value = err.get("input")
        issues.append(
            Issue.of(
                "FB-CSV-003",
                message,
                source=source,
                field=path,
                value=value if isinstance(value, str | int | float | bool) else None,
            )
        )
    return issues


class FirstOfEachKey:
    """Each record key once per file spec: a repeated key is reported (FB-CSV-007) and the repeat left out. In a
    file read by several specs (a long export repeating the demographics on every visit's row) a repeat equal to
    the first record is the same record, read once without a word."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.seen: dict[str, dict[tuple[str, ...], Record]] = {}

    def keep(self, reading: Reading, record: Record) -> bool:
        seen = self.seen.setdefault(reading.name, {})
        first = seen.get(record.key())
        if first is None:
            seen[record.key()] = record
            return True
        if not (reading.skip_blank and first == record):
            self.report.add(
                Issue.of(
                    "FB-CSV-007", f"duplicate {reading.spec.record} {'/'.join(record.key())}", source=record.source
                )
            )
        return False

    def records(self, pairs: Iterable[tuple[Reading, Record]]) -> Iterator[Record]:
        return (record for reading, record in pairs if self.keep(reading, record))
