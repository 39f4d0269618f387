"""Hub records → SDTM datasets a chunk of whole subjects at a time, in flat memory whatever the input size.

A chunk reader hands out the studies first, then chunks of whole subjects, each with its studies again (a
whole study in memory is one chunk). Every chunk is checked and turned into datasets by the usual writer, and
its rows are handed to one writer per dataset file (``files.dataset_writer``): CSV and Dataset-XML append to
the file, XPT and Dataset-JSON, whose headers state what only all rows tell (widths, the number of rows),
keep the rows in a temporary file and write at the end. --SEQ counts within a subject, so whole subjects
number their rows exactly as a single pass would. Study-level datasets (TS and the trial design: no USUBJID)
are written once, after the last chunk, because TS counts and dates every subject (``design.StudyFacts``).
define.xml needs each variable's longest value and widest fraction over all rows: those are
kept as running maxima, and define.xml is written from them at the end, so no dataset is ever held whole.

Rows come out in the order the reader hands out subjects (the records of one chunk sorted by subject).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from fhirbridge.formats.options import Derived
from fhirbridge.formats.sdtm import define_xml
from fhirbridge.formats.sdtm.dataset import Column, Dataset, Row, as_text
from fhirbridge.formats.sdtm.design import StudyFacts
from fhirbridge.formats.sdtm.files import DEFINE, DatasetWriter, dataset_writer
from fhirbridge.formats.sdtm.from_records import to_datasets
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import RECORD_TYPES
from fhirbridge.mapping.sdtm_mapping import SdtmMapping
from fhirbridge.records import StudyData

Check = Callable[[StudyData, Report], Derived]


@dataclass
class _Table:
    """One dataset being written: its file, and the running maxima define.xml describes."""

    name: str
    label: str
    columns: list[Column]
    path: Path
    writer: DatasetWriter
    rows: int = 0
    longest: Row = field(default_factory=dict)
    widest_fraction: Row = field(default_factory=dict)
    tests: dict[str, None] = field(default_factory=dict)  # the --TESTCD written, for value-level metadata

    def append(self, dataset: Dataset) -> None:
        for number, column in enumerate(dataset.columns):
            if column.data_type == "float" and self.columns[number].data_type == "integer":
                self.columns[number] = replace(self.columns[number], data_type="float")
        texts = [[as_text(row.get(c.name)) for row in dataset.rows] for c in self.columns]
        self.writer.append(dataset, texts, self.rows + 1)
        self.rows += len(dataset.rows)
        testcd = f"{self.name}TESTCD"
        self.tests.update((str(r[testcd]), None) for r in dataset.rows if r.get(testcd) is not None)
        for column, column_texts in zip(self.columns, texts, strict=True):
            longest = max(column_texts, key=len, default="")
            if len(longest) > len(as_text(self.longest.get(column.name))):
                self.longest[column.name] = longest
            if column.data_type == "float":
                widest = max(column_texts, key=_fraction, default="")
                if _fraction(widest) > _fraction(as_text(self.widest_fraction.get(column.name))):
                    self.widest_fraction[column.name] = widest

    def summary(self) -> Dataset:
        """The dataset as define.xml needs it: its columns, and two rows holding every column's extremes."""
        return Dataset(name=self.name, label=self.label, columns=self.columns,
                       rows=[self.longest, self.widest_fraction])


def write_in_chunks(chunks: Iterable[StudyData], outdir: Path, fmt: str, report: Report, mapping: SdtmMapping,
                    check: Check, study_title: Callable[[StudyData], tuple[str, str | None]]) -> list[Path]:
    """Check every chunk and write its datasets to ``outdir`` in file format ``fmt``; returns the dataset files
    and define.xml."""
    outdir.mkdir(parents=True, exist_ok=True)
    tables: dict[str, _Table] = {}
    counts: Counter[str] = Counter()
    study: tuple[str, str | None] = ("STUDY", None)
    facts = StudyFacts()
    studies = StudyData()
    dictionaries: dict[str, set[str]] = {}

    def append(dataset: Dataset) -> None:
        table = tables.get(dataset.name)
        if table is None:
            path, writer = dataset_writer(fmt, outdir, dataset.name, dataset.label, list(dataset.columns), mapping,
                                          study[0], report.issues)
            table = tables[dataset.name] = _Table(dataset.name, dataset.label, list(dataset.columns), path, writer)
        table.append(dataset)

    try:
        for n, chunk in enumerate(chunks):
            if n == 0 or study[0] == "STUDY":
                study = study_title(chunk)
            if n == 0:
                studies.studies.extend(chunk.studies)
            counts.update({k: v for k, v in chunk.count().items() if n == 0 or k != "studies"})
            derived = check(chunk, report)
            _dictionary_versions(chunk, mapping, dictionaries)
            for dataset in to_datasets(chunk, mapping, derived, report.issues, facts, study_level=False):
                append(dataset)
        for dataset in to_datasets(studies, mapping, {}, [], facts):
            append(dataset)  # TS and the trial design, with what every chunk told about the subjects
        for table in tables.values():
            table.writer.finish(table.columns)
    finally:
        for table in tables.values():
            table.writer.close()
    ordered = [tables[name] for name in _mapping_order(mapping) if name in tables]
    define = outdir / DEFINE
    versions = _one_version_each(dictionaries, report)
    define_xml.write([(t.summary(), t.path.name, t.tests) for t in ordered], define, mapping, study[0], study[1],
                     versions)
    report.stats["records"] = dict(counts)
    return [*(t.path for t in ordered), define]


def _dictionary_versions(data: StudyData, mapping: SdtmMapping, found: dict[str, set[str]]) -> None:
    """Gather the versions of the external dictionaries (MedDRA) the records were coded with."""
    for spec in mapping.domains.values():
        for name, path in spec.dictionary_versions.items():
            kind = RECORD_TYPES[spec.record]
            found.setdefault(name, set()).update(
                str(getattr(r, path)) for r in data.records() if type(r) is kind and getattr(r, path, None))


def _one_version_each(found: dict[str, set[str]], report: Report) -> dict[str, str | None]:
    """define.xml names one version per dictionary: several are reported, and the latest is named."""
    out: dict[str, str | None] = {}
    for name, versions in found.items():
        ordered = sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".") if p.isdecimal()))
        out[name] = ordered[-1] if ordered else None
        if len(ordered) > 1:
            report.add(Issue.of("FB-SDTM-014", f"records are coded with {name} versions {', '.join(ordered)}; "
                                f"define.xml names one, {ordered[-1]}", value=", ".join(ordered)))
    return out


def _fraction(text: str) -> int:
    return len(text.partition(".")[2])


def _mapping_order(mapping: SdtmMapping) -> list[str]:
    return [n for name in mapping.domains for n in (name, f"SUPP{name}")]
