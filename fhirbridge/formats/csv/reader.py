"""The CSV spoke, read direction: site export files → hub records, driven by a CSV layout spec.

Each row becomes one record or, when any of its cells is wrong, a set of issues naming the file, the
row (the line number a spreadsheet shows, header = 1) and the column; the other rows still convert.
"""

from __future__ import annotations

import csv
import fnmatch
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fhirbridge.formats.csv.text import Undecodable, as_utf8, encoding_issue, open_text
from fhirbridge.formats.csv.values import CellError, convert_cell
from fhirbridge.inputs import Source, expand
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import RECORD_TYPES, CsvLayout, FileSpec
from fhirbridge.records import Record, SourceLocation, StudyData


def expand_inputs(inputs: Iterable[Path | Source]) -> list[Source]:
    """Files named directly, plus the ``*.csv`` files of named folders, in a stable order."""
    return expand(inputs, lambda folder: sorted(folder.glob("*.csv")))


def match_files(files: list[Source], layout: CsvLayout, report: Report) -> list[tuple[FileSpec, Source]]:
    """Pair input files with the layout's file specs, in the layout's order (study and subjects first)."""
    claimed: set[Source] = set()
    pairs = []
    for spec in layout.files.values():
        for path in files:
            if path not in claimed and fnmatch.fnmatch(path.name.lower(), spec.file.lower()):
                pairs.append((spec, path))
                claimed.add(path)
    for path in files:
        if path not in claimed:
            report.add(Issue.of("FB-IO-005", f"no file pattern of layout {layout.name!r} matches {path.name!r}",
                                file=str(path)))
    return pairs


def read_csv(inputs: Iterable[Path | Source], layout: CsvLayout, report: Report,
             progress: Callable[[str], None] | None = None) -> StudyData:
    """Read every input file the layout knows into one StudyData, reporting into ``report``."""
    data = StudyData()
    pairs = match_files(expand_inputs(inputs), layout, report)
    for n, (spec, path) in enumerate(pairs, start=1):
        if progress:
            progress(f"reading {path.name} ({n}/{len(pairs)})")
        for record in first_of_each_key(read_file(path, spec, layout, report), spec, report):
            data.add(record)
    return data


def first_of_each_key(records: Iterable[Record], spec: FileSpec, report: Report,
                      seen: set[tuple[str, ...]] | None = None) -> Iterator[Record]:
    """The records in order, each key once: a repeated key is reported (FB-CSV-007) and the repeat left out."""
    seen = set() if seen is None else seen
    for record in records:
        if record.key() in seen:
            report.add(Issue.of("FB-CSV-007", f"duplicate {spec.record} {'/'.join(record.key())}",
                                source=record.source))
            continue
        seen.add(record.key())
        yield record


def read_file(path: Source, spec: FileSpec, layout: CsvLayout, report: Report) -> Iterator[Record]:
    """Stream the records of one file; problems go to ``report``."""
    name = str(path)
    try:
        path, wide = as_utf8(path)
        handle, encoding, has_bom = open_text(path)
    except OSError as exc:
        report.add(Issue.of("FB-IO-001", f"cannot open file: {exc.strerror or exc}", file=name))
        return
    except Undecodable as exc:
        report.add(Issue.of("FB-IO-004", str(exc), file=name))
        return
    with handle:
        if (note := encoding_issue(name, encoding, has_bom, wide)) is not None:
            report.add(note)
        rows = csv.reader(handle, delimiter=layout.delimiter, strict=True)
        try:
            header = next(rows, None)
            if header is None:
                report.add(Issue.of("FB-IO-002", "file is empty: no header row", file=name, row=1))
                return
            header = [h.strip() for h in header]
            columns = check_header(header, spec, name, report)
            if columns is None:
                return
            for cells in rows:
                if not any(c.strip() for c in cells):
                    continue
                record = read_row(cells, header, columns, spec, layout, name, rows.line_num, report)
                if record is not None:
                    yield record
        except csv.Error as exc:
            report.add(Issue.of("FB-IO-004", f"malformed CSV: {exc}", file=name, row=rows.line_num))
        except UnicodeDecodeError as exc:  # the file changed between detection and reading
            report.add(Issue.of("FB-IO-004", f"cannot decode as {encoding}: {exc.reason}", file=name))


#: How many unused columns the issue about them names.
_UNUSED_NAMED = 10


def check_header(header: list[str], spec: FileSpec, name: str, report: Report) -> dict[str, str] | None:
    """Field path → column for the columns present; None when a required column is missing."""
    present = set(header)
    missing = [c.column for c in spec.columns.values() if not c.optional and c.column not in present]
    for column in missing:
        report.add(Issue.of("FB-CSV-001", f"required column {column!r} is missing; no row of the file is read",
                            file=name, row=1, column=column))
    used = {c.column for c in spec.columns.values()}
    unused = [column for column in header if column not in used]
    if len(unused) == 1:
        report.add(Issue.of("FB-CSV-002", f"column {unused[0]!r} is not used by the layout; its values are not "
                            "converted", file=name, row=1, column=unused[0]))
    elif unused:  # one issue per file, however wide the header: a million columns are not a million issues
        first = ", ".join(repr(c) for c in unused[:_UNUSED_NAMED])
        more = ", ..." if len(unused) > _UNUSED_NAMED else ""
        report.add(Issue.of("FB-CSV-002", f"{len(unused):,} columns are not used by the layout ({first}{more}); "
                            "their values are not converted", file=name, row=1, column=unused[0], value=len(unused)))
    if missing:
        return None
    return {path: c.column for path, c in spec.columns.items() if c.column in present}


def read_row(
    cells: list[str],
    header: list[str],
    columns: dict[str, str],
    spec: FileSpec,
    layout: CsvLayout,
    name: str,
    row: int,
    report: Report,
) -> Record | None:
    if len(cells) != len(header):
        report.add(Issue.of("FB-CSV-006", f"row has {len(cells)} fields, the header has {len(header)}",
                            file=name, row=row, value=len(cells), expected=str(len(header))))
        return None
    by_column = dict(zip(header, cells, strict=True))
    source = SourceLocation(file=name, row=row, columns=columns)
    values: dict[str, Any] = dict(spec.constants)
    problems: list[Issue] = []
    for path, column in columns.items():
        text = by_column[column].strip()
        if text in layout.missing:
            if "." in path:  # a member of a nested field (an exam cell, a SCIM item): keep the gap visible
                _put(values, path, None)
            continue
        try:
            _put(values, path, convert_cell(text, spec.columns[path], layout))
        except CellError as exc:
            problems.append(Issue.of(exc.code, str(exc), source=source, field=path, value=text,
                                     expected=exc.expected))
    if problems:
        report.extend(problems)
        return None
    try:
        return RECORD_TYPES[spec.record].model_validate({**values, "source": source})
    except ValidationError as exc:
        report.extend(validation_issues(exc, source, values))
        return None


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def validation_issues(exc: ValidationError, source: SourceLocation, values: dict[str, Any]) -> list[Issue]:
    """Record validation errors as issues located at the column each field was read from."""
    issues = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        if err["type"] == "missing" or ("input" in err and err["input"] is None):
            message = f"{path}: a value is required"
        else:
            message = f"{path}: {err['msg'].removeprefix('Value error, ')}"
        value = err.get("input")
        issues.append(Issue.of("FB-CSV-003", message, source=source, field=path,
                               value=value if isinstance(value, str | int | float | bool) else None))
    return issues
