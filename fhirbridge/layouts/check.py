"""Checking a layout spec against export files (``fhirbridge layout check site.yaml [CSV...]``): which column each
field of each file spec reads, which columns nothing reads, and what is missing, as the reader will see them."""

from __future__ import annotations

import csv
from pathlib import Path

from fhirbridge.formats.csv.reader import expand_inputs, match_files
from fhirbridge.formats.csv.rows import Reading, plan, readings_of, unused_columns
from fhirbridge.formats.csv.text import open_text
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import CsvLayout

_CELL = ("right.motor.", "left.motor.", "right.light_touch.", "left.light_touch.", "right.pin_prick.",
         "left.pin_prick.")


def describe(layout: CsvLayout) -> list[str]:
    """One line per file spec: the kind of record, the files it reads, its visits and row filter."""
    lines = [f"layout {layout.name} {layout.version}: delimiter {layout.delimiter!r}, dates "
             f"{', '.join(layout.date_formats)}; date-times {', '.join(layout.datetime_formats) or '(dates only)'}, "
             f"timezone {layout.timezone}"]
    for name, spec in layout.files.items():
        extra = f", visits {', '.join(f'{v} ({t})' for v, t in spec.visits.items())}" if spec.visits else ""
        extra += f", rows where {spec.where}" if spec.where else ""
        lines.append(f"  {name}: {spec.record} from {spec.file}, {len(spec.columns)} fields{extra}")
    return lines


def check_files(layout: CsvLayout, inputs: list[Path], report: Report) -> list[str]:
    """What each file matching the layout gives; the header problems go to ``report``."""
    lines: list[str] = []
    for names, path in match_files(expand_inputs(inputs), layout, report):
        header = _header(path, layout, report)
        if header is None:
            continue
        plan(header, names, layout, str(path), report)  # the reader's own header issues
        candidates = readings_of(header, names, layout)
        lines.append(f"{path.name}: {len(header)} columns, read by {', '.join(names)}")
        for reading, missing in candidates:
            lines += _reading_lines(reading, missing)
        readings = [r for r, _ in candidates]
        unused = unused_columns(header, readings, layout)
        ignored = [c for c in unused_columns(header, readings, layout.model_copy(update={"ignore_columns": []}))
                   if c not in unused]
        if unused:
            lines.append(f"  not read ({len(unused)}): {', '.join(unused)}")
        if ignored:
            lines.append(f"  ignored by the layout ({len(ignored)}): {', '.join(ignored)}")
    return lines


def _header(path: Source, layout: CsvLayout, report: Report) -> list[str] | None:
    try:
        handle, _, _ = open_text(path)
    except OSError as exc:
        report.add(Issue.of("FB-IO-001", f"cannot open file: {exc.strerror or exc}", file=str(path)))
        return None
    with handle:
        header = next(csv.reader(handle, delimiter=layout.delimiter), None)
    if header is None:
        report.add(Issue.of("FB-IO-002", "file is empty: no header row", file=str(path), row=1))
        return None
    return [h.strip() for h in header]


def _reading_lines(reading: Reading, missing: list[str]) -> list[str]:
    visit = f" of visit {reading.constants['visit']}" if reading.spec.visits else ""
    lines = [f"  {reading.name} ({reading.spec.record}{visit}):"]
    if missing:
        lines[0] += f" NOT READ, required column(s) missing: {', '.join(missing)}"
    cells = [p for p in reading.columns if p.startswith(_CELL)]
    for path, column in reading.columns.items():
        if path not in cells:
            lines.append(f"    {path} <- {column}")
    for path, boxes in reading.checkboxes.items():
        lines.append(f"    {path} <- {', '.join(c for _, c in boxes)}")
    if cells:
        lines.append(f"    {len(cells)} ISNCSCI cells <- {reading.columns[cells[0]]} … {reading.columns[cells[-1]]}")
    if reading.constants:
        lines.append(f"    constants: {', '.join(f'{k}={v}' for k, v in reading.constants.items())}")
    return lines
