"""The SDTM spoke's entry points for the API (see ``fhirbridge.formats.registry``)."""

from __future__ import annotations

from pathlib import Path

from fhirbridge.formats.options import ConvertOptions, Derived
from fhirbridge.formats.sdtm.conformance import check_datasets
from fhirbridge.formats.sdtm.files import read_datasets, write_datasets
from fhirbridge.formats.sdtm.from_records import to_datasets
from fhirbridge.formats.sdtm.to_records import to_records
from fhirbridge.mapping.sdtm_mapping import load_sdtm_mapping
from fhirbridge.records import StudyData
from fhirbridge.validation.issue import Severity
from fhirbridge.validation.report import Report


def read(inputs: list[Path], report: Report, options: ConvertOptions) -> StudyData:
    """Read SDTM datasets (the file format is detected, or --sdtm-format decides) and check their conformance."""
    mapping = load_sdtm_mapping(options.sdtm_mapping)
    report.header["sdtm_mapping"] = f"{mapping.name} {mapping.version}"
    datasets = read_datasets(inputs, options.sdtm_format, mapping, report.issues, options.progress)
    conformance = check_datasets(datasets, mapping)
    report.extend(conformance)
    reported = {(i.file, i.row, i.column) for i in conformance if i.severity >= Severity.ERROR}
    return to_records(datasets, mapping, report.issues, reported)


def write(data: StudyData, outdir: Path, report: Report, options: ConvertOptions, derived: Derived) -> list[Path]:
    """Write every domain in the chosen file format, and define.xml; classifications derived from raw exams
    go to RS flagged as derived."""
    mapping = load_sdtm_mapping(options.sdtm_mapping)
    report.header["sdtm_mapping"] = f"{mapping.name} {mapping.version}"
    datasets = to_datasets(data, mapping, derived, report.issues)
    study = data.studies[0] if data.studies else None
    study_id = study.study_id if study else next((r.study_id for r in data.subjects), "STUDY")
    return write_datasets(datasets, outdir, options.sdtm_format, mapping, study_id, study.title if study else None,
                          report.issues)
