"""The CSV spoke's entry points for the API (see ``fhirbridge.formats.registry``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fhirbridge.formats.csv import chunks
from fhirbridge.formats.csv.chunks import CsvChunk
from fhirbridge.formats.csv.reader import read_csv
from fhirbridge.formats.csv.writer import write_csv
from fhirbridge.formats.options import ConvertOptions, Derived
from fhirbridge.inputs import Source
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.records import StudyData


def read(inputs: list[Path | Source], report: Report, options: ConvertOptions) -> StudyData:
    layout = load_csv_layout(options.csv_mapping)
    report.header["csv_layout"] = f"{layout.name} {layout.version}"
    return read_csv(inputs, layout, report, progress=options.progress)


def read_chunks(inputs: list[Path | Source], report: Report, options: ConvertOptions) -> Iterator[StudyData | CsvChunk]:
    """The studies, then chunks of whole subjects whose records are made where they are worked on (flat memory
    whatever the size of the export; see ``fhirbridge.formats.csv.chunks``)."""
    layout = load_csv_layout(options.csv_mapping)
    report.header["csv_layout"] = f"{layout.name} {layout.version}"
    yield from chunks.read_chunks(inputs, report, options.csv_mapping)


def write(data: StudyData, outdir: Path, report: Report, options: ConvertOptions, derived: Derived) -> list[Path]:
    """Write CSV in the layout; classifications derived from raw exams are written as if reported."""
    layout = load_csv_layout(options.csv_mapping)
    report.header["csv_layout"] = f"{layout.name} {layout.version}"
    for exam in data.isncsci_exams:
        if exam.classification is None and exam.key() in derived:
            exam.classification = derived[exam.key()]
    return write_csv(data, layout, outdir, report.issues)
