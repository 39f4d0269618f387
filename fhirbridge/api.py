"""The Python API: every interface (CLI, service) calls these functions and renders their Report."""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import ValidationError

from fhirbridge.domains.isncsci.checks import check_exam
from fhirbridge.domains.isncsci.classification import classify as classify_exam
from fhirbridge.domains.isncsci.praxis import exam_from_flat
from fhirbridge.domains.scim import check_assessment
from fhirbridge.domains.timeline import check_timeline
from fhirbridge.formats.fhir.terminology import code_systems
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.formats.registry import READERS, WRITERS, reader, writer
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.mapping.loader import MappingError
from fhirbridge.records import IsncsciClassification, IsncsciExam, StudyData
from fhirbridge.validation.issue import Issue, Severity
from fhirbridge.validation.references import drop_orphans
from fhirbridge.validation.report import Report

SOURCE_FORMATS = tuple(READERS)
TARGET_FORMATS = tuple(WRITERS)


def read(inputs: list[Path], report: Report, *, source: str = "csv", options: ConvertOptions | None = None
         ) -> StudyData:
    """Read inputs of one format into hub records, reporting every problem into ``report``."""
    read_format = reader(source)
    for path in inputs:
        if not path.exists():
            report.add(Issue.of("FB-IO-001", "no such file or folder", file=str(path)))
    return read_format([p for p in inputs if p.exists()], report, options or ConvertOptions())


def check(data: StudyData, report: Report) -> dict[tuple[str, ...], IsncsciClassification]:
    """The clinical consistency layer; returns the classifications computed for exams that reported none."""
    report.extend(drop_orphans(data))
    computed = {}
    for exam in data.isncsci_exams:
        classification, issues = check_exam(exam)
        report.extend(issues)
        if exam.classification is None:
            computed[exam.key()] = classification
    for assessment in data.scim_assessments:
        report.extend(check_assessment(assessment))
    report.extend(check_timeline(data))
    report.stats["records"] = data.count()
    return computed


def validate(inputs: list[Path], *, source: str = "csv", options: ConvertOptions | None = None,
             fail_on: Severity = Severity.ERROR) -> Report:
    """Read and check inputs without writing anything."""
    report = Report(fail_on=fail_on)
    try:
        data = read(inputs, report, source=source, options=options)
    except MappingError as exc:
        report.add(Issue.of("FB-MAP-001", str(exc)))
        return report
    check(data, report)
    return report


def convert(
    inputs: list[Path],
    outdir: Path,
    *,
    source: str = "csv",
    target: str = "fhir",
    options: ConvertOptions | None = None,
    fail_on: Severity = Severity.ERROR,
) -> Report:
    """Convert inputs to ``target`` in ``outdir``; the good records are written even when others fail."""
    options = options or ConvertOptions()
    write_format = writer(target)
    report = Report(fail_on=fail_on)
    try:
        data = read(inputs, report, source=source, options=options)
        derived = check(data, report)
        report.outputs.extend(str(p) for p in write_format(data, outdir, report, options, derived))
    except MappingError as exc:
        report.add(Issue.of("FB-MAP-001", str(exc)))
    return report


def export_profiles(outdir: Path) -> list[Path]:
    """Write fhirbridge's CodeSystems as FHIR JSON, one file per resource."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for resource in code_systems(load_fhir_mapping()):
        path = outdir / f"{resource['resourceType']}-{resource['id']}.json"
        path.write_bytes(orjson.dumps(resource, option=orjson.OPT_INDENT_2) + b"\n")
        written.append(path)
    return written


def classify(path: Path, *, mapping: Path | None = None) -> tuple[list[tuple[str, IsncsciClassification]], Report]:
    """Classify every exam of a file, in input order: a JSON list in the reference's flat layout, or any exam
    file (or folder) fhirbridge reads. Exams that cannot be read are reported and skipped."""
    report = Report()
    if path.suffix.lower() == ".json":
        exams = _flat_exams(path, report)
    else:
        try:
            data = read([path], report, options=ConvertOptions(csv_mapping=mapping))
        except MappingError as exc:
            report.add(Issue.of("FB-MAP-001", str(exc)))
            return [], report
        exams = [(f"{e.subject_id}/{e.visit}", e) for e in data.isncsci_exams]
    return [(label, classify_exam(exam)) for label, exam in exams], report


def _flat_exams(path: Path, report: Report) -> list[tuple[str, IsncsciExam]]:
    try:
        items = orjson.loads(path.read_bytes())
    except OSError as exc:
        report.add(Issue.of("FB-IO-001", f"cannot read file: {exc.strerror or exc}", file=str(path)))
        return []
    except orjson.JSONDecodeError as exc:
        report.add(Issue.of("FB-IO-006", f"not valid JSON: {exc}", file=str(path)))
        return []
    if not isinstance(items, list):
        items = [items]
    exams = []
    for i, item in enumerate(items):
        where = f"$[{i}]"
        if not isinstance(item, dict):
            report.add(Issue.of("FB-ISN-003", "not an exam object", file=str(path), target=where))
            continue
        try:
            exams.append((str(item.get("id", i + 1)), exam_from_flat(item, subject_id=str(item.get("id", i + 1)))))
        except KeyError as exc:
            report.add(Issue.of("FB-ISN-003", f"exam key {exc.args[0]} is missing", file=str(path), target=where,
                                column=str(exc.args[0])))
        except ValidationError as exc:
            for err in exc.errors():
                report.add(Issue.of("FB-ISN-003", f"{'.'.join(map(str, err['loc']))}: {err['msg']}",
                                    file=str(path), target=where, value=str(err.get("input"))))
    return exams
