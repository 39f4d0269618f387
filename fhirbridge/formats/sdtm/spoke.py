"""The SDTM spoke's entry points for the API (see ``fhirbridge.formats.registry``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fhirbridge.formats.options import ConvertOptions, Derived
from fhirbridge.formats.sdtm.conformance import check_datasets
from fhirbridge.formats.sdtm.define_xml import read_define
from fhirbridge.formats.sdtm.files import read_datasets
from fhirbridge.formats.sdtm.stream import Check, write_in_chunks
from fhirbridge.formats.sdtm.to_records import to_records
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Severity
from fhirbridge.issues.report import Report
from fhirbridge.mapping.sdtm_mapping import load_sdtm_mapping
from fhirbridge.records import StudyData


def read(inputs: list[Path | Source], report: Report, options: ConvertOptions) -> StudyData:
    """Read SDTM datasets (the file format is detected, or --sdtm-format decides) and check their conformance."""
    mapping = load_sdtm_mapping(options.sdtm_mapping)
    report.header["sdtm_mapping"] = f"{mapping.name} {mapping.version}"
    datasets = read_datasets(inputs, options.sdtm_format, mapping, report.issues, options.progress)
    define = read_define(inputs)
    if define is not None and define.timezone and define.timezone != mapping.timezone:
        # the datasets' --DTC are the clock time define.xml names: read them at that offset
        mapping = mapping.model_copy(update={"timezone": define.timezone})
    conformance = check_datasets(datasets, mapping, define)
    report.extend(conformance)
    reported = {(i.file, i.row, i.column) for i in conformance if i.severity >= Severity.ERROR}
    return to_records(datasets, mapping, report.issues, reported, define.dictionaries if define else None)


def write(data: StudyData, outdir: Path, report: Report, options: ConvertOptions, derived: Derived) -> list[Path]:
    """Write every domain in the chosen file format, and define.xml; classifications derived from raw exams
    go to RS flagged as derived. The whole study is one chunk."""
    return write_chunks([data], outdir, report, options, lambda _data, _report: derived)


def write_chunks(chunks: Iterable[StudyData], outdir: Path, report: Report, options: ConvertOptions,
                 check: Check) -> list[Path]:
    """Write records handed out a chunk of whole subjects at a time, in flat memory whatever their number (see
    ``fhirbridge.formats.sdtm.stream``)."""
    mapping = load_sdtm_mapping(options.sdtm_mapping)
    report.header["sdtm_mapping"] = f"{mapping.name} {mapping.version}"
    return write_in_chunks(chunks, outdir, options.sdtm_format, report, mapping, check, _study)


def _study(data: StudyData) -> tuple[str, str | None]:
    """The study identifier and title define.xml names."""
    study = data.studies[0] if data.studies else None
    if study is not None:
        return study.study_id, study.title
    return next((r.study_id for r in data.subjects), "STUDY"), None
