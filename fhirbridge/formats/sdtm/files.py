"""Which files hold SDTM datasets, in which file format; reading all of them, and the writer of each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from fhirbridge.formats.sdtm import csv_files, dataset_json, dataset_xml, xpt_files
from fhirbridge.formats.sdtm.dataset import Column, Dataset
from fhirbridge.formats.sdtm.values import ColumnTypes, UnreadableDataset
from fhirbridge.inputs import Source, expand
from fhirbridge.issues.issue import Issue
from fhirbridge.mapping.sdtm_mapping import SdtmMapping

SUFFIXES = {"csv": ".csv", "xpt": ".xpt", "dataset-json": ".json", "dataset-xml": ".xml"}
DEFINE = "define.xml"


def dataset_files(inputs: list[Path | Source], preferred: str, issues: list[Issue]) -> tuple[str, list[Source]]:
    """The file format of the inputs and the dataset files to read.

    Files named directly and the files of named folders are considered; define.xml is metadata, not data.
    When several formats are present (a folder with both ``ae.csv`` and ``ae.xpt``), ``preferred`` (the
    --sdtm-format option) decides, and the other files are reported as not read.
    """
    files = expand(inputs, lambda folder: sorted(x for x in folder.iterdir() if x.is_file()))
    by_format: dict[str, list[Source]] = {}
    for path in files:
        if path.name.lower() == DEFINE:
            continue
        fmt = next((f for f, suffix in SUFFIXES.items() if path.suffix.lower() == suffix), None)
        if fmt is None:
            issues.append(Issue.of("FB-SDTM-020", f"{path.name} is not an SDTM dataset file (.csv, .xpt, .json, "
                                   ".xml); it is not read", file=str(path)))
            continue
        by_format.setdefault(fmt, []).append(path)
    if not by_format:
        return preferred, []
    chosen = preferred if preferred in by_format else next(iter(by_format))
    for fmt, paths in by_format.items():
        if fmt != chosen:
            issues.extend(Issue.of("FB-SDTM-020", f"{p.name} is {fmt} while the datasets are read as {chosen}; it "
                                   "is not read", file=str(p)) for p in paths)
    return chosen, by_format[chosen]


def read_datasets(inputs: list[Path | Source], preferred: str, mapping: SdtmMapping, issues: list[Issue],
                  progress: Callable[[str], None] | None = None) -> list[Dataset]:
    """Every dataset the mapping knows; unreadable files and unknown domains are reported and skipped."""
    fmt, files = dataset_files(inputs, preferred, issues)
    types: ColumnTypes = lambda name: {v: s.type for v, s in (mapping.dataset_variables(name) or {}).items()}  # noqa: E731
    datasets = []
    for n, path in enumerate(files, start=1):
        if progress:
            progress(f"reading {path.name} ({n}/{len(files)})")
        try:
            dataset = _read(fmt, path, types, issues)
        except UnreadableDataset as exc:
            issues.append(Issue.of("FB-SDTM-001", f"cannot read {fmt} dataset: {exc}", file=str(path), row=exc.row))
            continue
        except OSError as exc:
            issues.append(Issue.of("FB-IO-001", f"cannot read file: {exc.strerror or exc}", file=str(path)))
            continue
        if mapping.dataset_variables(dataset.name) is None:
            issues.append(Issue.of("FB-SDTM-002", f"dataset {dataset.name} is not a domain of the SDTM mapping "
                                   f"({', '.join(mapping.domains)} and their SUPP--); it is not converted",
                                   file=str(path), value=dataset.name))
            continue
        datasets.append(dataset)
    return datasets


def _read(fmt: str, path: Source, types: ColumnTypes, issues: list[Issue]) -> Dataset:
    match fmt:
        case "csv":
            return csv_files.read(path, types, issues)
        case "xpt":
            return xpt_files.read(path)
        case "dataset-json":
            return dataset_json.read(path, issues)
    return dataset_xml.read(path, types, issues)


class DatasetWriter(Protocol):
    """Writes one dataset file a chunk of rows at a time, in flat memory."""

    def append(self, dataset: Dataset, texts: list[list[str]], first: int) -> None:
        """Add the rows of ``dataset`` (same columns as at the start), whose values as text are ``texts`` (a list
        per column); ``first`` numbers its first row from 1."""

    def finish(self, columns: list[Column]) -> None:
        """Complete the file; ``columns`` are as every row has typed them (integer or float)."""

    def close(self) -> None:
        """Release the file and any temporary file, finished or not."""


def dataset_writer(fmt: str, outdir: Path, name: str, label: str, columns: list[Column], mapping: SdtmMapping,
                   study_id: str, issues: list[Issue]) -> tuple[Path, DatasetWriter]:
    """The file of dataset ``name`` in ``outdir`` (named after it in lower case) and its writer."""
    path = outdir / f"{name.lower()}{SUFFIXES[fmt]}"
    match fmt:
        case "csv":
            return path, csv_files.CsvWriter(path, columns)
        case "xpt":
            return path, xpt_files.XptWriter(path, name, label, columns, issues)
        case "dataset-json":
            spec = mapping.domains.get(name)
            return path, dataset_json.DatasetJsonWriter(path, name, label, columns, study_id,
                                                        spec.keys if spec is not None else [])
    return path, dataset_xml.DatasetXmlWriter(path, name, columns, study_id, issues)
