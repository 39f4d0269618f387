"""Hub records → SDTM CSV a chunk of whole subjects at a time, in flat memory whatever the input size.

A chunk reader (the FHIR spoke's NDJSON reading) hands out the studies first, then chunks of whole subjects,
each with its studies again. Every chunk is checked and turned into datasets by the usual writer, and its rows
are appended to one CSV file per dataset: --SEQ counts within a subject, so whole subjects number their rows
exactly as a single pass would. Study-level datasets (TS: no USUBJID) are written from the first chunk only.
define.xml needs each variable's longest value and widest fraction over all rows: those are kept as running
maxima, and define.xml is written from them at the end, so no dataset is ever held whole.

Rows come out in the order the reader hands out subjects, where the one-pass writer sorts them by subject.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from fhirbridge.formats.options import Derived
from fhirbridge.formats.sdtm import define_xml
from fhirbridge.formats.sdtm.dataset import Column, Dataset, Row, as_text
from fhirbridge.formats.sdtm.files import DEFINE
from fhirbridge.formats.sdtm.from_records import to_datasets
from fhirbridge.issues.report import Report
from fhirbridge.mapping.sdtm_mapping import SdtmMapping
from fhirbridge.records import StudyData

Check = Callable[[StudyData, Report], Derived]


@dataclass
class _Table:
    """One dataset being appended to: its file, and the running maxima define.xml describes."""

    name: str
    label: str
    columns: list[Column]
    path: Path
    handle: IO[str]
    writer: object
    longest: Row = field(default_factory=dict)
    widest_fraction: Row = field(default_factory=dict)

    def append(self, dataset: Dataset) -> None:
        for number, column in enumerate(dataset.columns):
            if column.data_type == "float" and self.columns[number].data_type == "integer":
                self.columns[number] = replace(self.columns[number], data_type="float")
        for row in dataset.rows:
            texts = [as_text(row.get(c.name)) for c in self.columns]
            self.writer.writerow(texts)  # type: ignore[attr-defined]
            for column, text in zip(self.columns, texts, strict=True):
                if len(text) > len(as_text(self.longest.get(column.name))):
                    self.longest[column.name] = text
                fraction = text.partition(".")[2]
                if len(fraction) > len(as_text(self.widest_fraction.get(column.name)).partition(".")[2]):
                    self.widest_fraction[column.name] = text

    def summary(self) -> Dataset:
        """The dataset as define.xml needs it: its columns, and two rows holding every column's extremes."""
        return Dataset(name=self.name, label=self.label, columns=self.columns,
                       rows=[self.longest, self.widest_fraction])


def write_csv_in_chunks(chunks: Iterable[StudyData], outdir: Path, report: Report, mapping: SdtmMapping,
                        check: Check, study_title: Callable[[StudyData], tuple[str, str | None]]) -> list[Path]:
    """Check every chunk and append its datasets to ``outdir``; returns the CSV files and define.xml."""
    outdir.mkdir(parents=True, exist_ok=True)
    tables: dict[str, _Table] = {}
    counts: Counter[str] = Counter()
    study: tuple[str, str | None] = ("STUDY", None)
    try:
        for n, chunk in enumerate(chunks):
            if n == 0 or study[0] == "STUDY":
                study = study_title(chunk)
            counts.update({k: v for k, v in chunk.count().items() if n == 0 or k != "studies"})
            derived = check(chunk, report)
            for dataset in to_datasets(chunk, mapping, derived, report.issues):
                table = tables.get(dataset.name)
                if table is None:
                    path = outdir / f"{dataset.name.lower()}.csv"
                    handle = path.open("w", encoding="utf-8", newline="")
                    writer = csv.writer(handle, lineterminator="\n")
                    writer.writerow([c.name for c in dataset.columns])
                    table = tables[dataset.name] = _Table(dataset.name, dataset.label, list(dataset.columns), path,
                                                          handle, writer)
                elif not dataset.has("USUBJID"):
                    continue  # study-level rows (TS) again with a later chunk
                table.append(dataset)
    finally:
        for table in tables.values():
            table.handle.close()
    ordered = [tables[name] for name in _mapping_order(mapping) if name in tables]
    define = outdir / DEFINE
    define_xml.write([(t.summary(), t.path.name) for t in ordered], define, mapping, study[0], study[1])
    report.stats["records"] = dict(counts)
    return [*(t.path for t in ordered), define]


def _mapping_order(mapping: SdtmMapping) -> list[str]:
    return [n for name in mapping.domains for n in (name, f"SUPP{name}")]


def merged(chunks: Iterable[StudyData]) -> StudyData:
    """All chunks as one StudyData (for file formats that cannot be appended to), each study once."""
    whole = StudyData()
    for n, chunk in enumerate(chunks):
        for record in chunk.records():
            if n == 0 or record not in chunk.studies:
                whole.add(record)
    return whole
