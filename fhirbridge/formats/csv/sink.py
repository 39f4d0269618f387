"""Hub records → CSV files, a chunk of whole subjects at a time (see ``fhirbridge.pipeline``): each chunk's rows
are made into CSV text in the worker and appended here to one file per kind of record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fhirbridge.formats.csv.writer import Table, check_writable, file_name, tables
from fhirbridge.formats.options import ConvertOptions, Derived
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import RECORD_TYPES, load_csv_layout
from fhirbridge.records import Study, StudyData

_NOT_STUDIES = tuple(kind for kind in RECORD_TYPES.values() if kind is not Study)


class CsvSink:
    def __init__(self, outdir: Path, report: Report, options: ConvertOptions) -> None:
        layout = load_csv_layout(options.csv_mapping)
        check_writable(layout)
        report.header["csv_layout"] = f"{layout.name} {layout.version}"
        self.outdir = outdir
        self.layout = layout

    def render(self, chunk: StudyData, derived: Derived, first: bool, report: Report) -> list[Table]:
        """The chunk's rows; classifications derived from raw exams are written as if reported. The studies come
        with every chunk and are written from the first only."""
        for exam in chunk.isncsci_exams:
            if exam.classification is None and exam.key() in derived:
                exam.classification = derived[exam.key()]
        return tables(chunk, self.layout, None if first else _NOT_STUDIES)

    def consume(self, parts: Iterator[list[Table]], report: Report) -> list[Path]:
        """Append each chunk's rows to the files; issues about a row name the file and the row it has there."""
        self.outdir.mkdir(parents=True, exist_ok=True)
        rows: dict[str, int] = {}  # data rows in each file so far
        for part in parts:
            for table in part:
                path = self.outdir / table.name
                with path.open("a" if table.name in rows else "w", encoding="utf-8", newline="") as handle:
                    if table.name not in rows:
                        handle.write(table.header)
                    handle.write(table.body)
                shift = rows.get(table.name, 0)
                report.extend([i.model_copy(update={"file": str(path), "row": _shifted(i.row, shift)})
                               for i in table.issues])
                rows[table.name] = shift + table.rows
        return [self.outdir / name for name in map(file_name, self.layout.files.values()) if name in rows]


def _shifted(row: Any, shift: int) -> Any:
    return row + shift if isinstance(row, int) else row
