"""The CSV spoke, read direction: site export files → hub records, driven by a CSV layout spec.

Each row becomes one record or, when any of its cells is wrong, a set of issues naming the file, the
row (the line number a spreadsheet shows, header = 1) and the column; the other rows still convert.
"""

from __future__ import annotations

import csv
import fnmatch
import io
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from fhirbridge.formats.csv.rows import FirstOfEachKey, Reading, plan, records_of_row
from fhirbridge.formats.csv.text import UTF8_BOM, open_csv
from fhirbridge.inputs import Source, expand
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import CsvLayout
from fhirbridge.records import Record, StudyData


def expand_inputs(inputs: Iterable[Path | Source]) -> list[Source]:
    """Files named directly, plus the ``*.csv`` files of named folders, in a stable order."""
    return expand(inputs, lambda folder: sorted(folder.glob("*.csv")))


def match_files(files: list[Source], layout: CsvLayout, report: Report) -> list[tuple[list[str], Source]]:
    """Pair input files with the layout's file specs (all those sharing a ``file`` glob read the same file), in
    the layout's order (study and subjects first)."""
    claimed: set[Source] = set()
    pairs = []
    for names in layout.file_groups():
        pattern = layout.files[names[0]].file.lower()
        for path in files:
            if path not in claimed and fnmatch.fnmatch(path.name.lower(), pattern):
                pairs.append((names, path))
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
    once = FirstOfEachKey(report)
    for n, (names, path) in enumerate(pairs, start=1):
        if progress:
            progress(f"reading {path.name} ({n}/{len(pairs)})")
        for record in once.records(read_file(path, names, layout, report)):
            data.add(record)
    return data


def read_file(path: Source, names: list[str], layout: CsvLayout, report: Report
              ) -> Iterator[tuple[Reading, Record]]:
    """Stream the records of one file read by the file specs ``names``; problems go to ``report``."""
    name = str(path)
    if (opened := open_csv(path, report)) is None:
        return
    _, raw, encoding, has_bom = opened
    if has_bom:
        raw.read(len(UTF8_BOM))
    with io.TextIOWrapper(raw, encoding=encoding, newline="") as handle:
        rows = csv.reader(handle, delimiter=layout.delimiter, strict=True)
        try:
            header = next(rows, None)
            if header is None:
                report.add(Issue.of("FB-IO-002", "file is empty: no header row", file=name, row=1))
                return
            header = [h.strip() for h in header]
            readings = plan(header, names, layout, name, report)
            if not readings:
                return
            for cells in rows:
                if not any(c.strip() for c in cells):
                    continue
                yield from records_of_row(cells, header, readings, layout, name, rows.line_num, report)
        except csv.Error as exc:
            report.add(Issue.of("FB-IO-004", f"malformed CSV: {exc}", file=name, row=rows.line_num))
        except UnicodeDecodeError as exc:  # the file changed between detection and reading
            report.add(Issue.of("FB-IO-004", f"cannot decode as {encoding}: {exc.reason}", file=name))
