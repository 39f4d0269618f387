"""The Python API: every interface (CLI, service) calls these functions and renders their Report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
from pydantic import ValidationError

from fhirbridge.domains.isncsci.checks import check_exam
from fhirbridge.domains.isncsci.classification import classify as classify_exam
from fhirbridge.domains.isncsci.praxis import exam_from_flat
from fhirbridge.domains.scim import check_assessment
from fhirbridge.domains.timeline import check_timeline
from fhirbridge.formats.csv.reader import read_csv
from fhirbridge.formats.fhir.models import FHIR_RELEASE
from fhirbridge.formats.fhir.terminology import code_systems
from fhirbridge.formats.fhir.writer import BundleType, bundle
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.mapping.loader import MappingError
from fhirbridge.records import IsncsciClassification, IsncsciExam, StudyData
from fhirbridge.validation.fhir_output import check_bundle
from fhirbridge.validation.issue import Issue, Severity
from fhirbridge.validation.references import drop_orphans
from fhirbridge.validation.report import Report

Progress = Callable[[str], None]
SOURCE_FORMATS = ("csv",)
TARGET_FORMATS = ("fhir",)


def read(inputs: list[Path], report: Report, *, source: str = "csv", mapping: Path | None = None,
         progress: Progress | None = None) -> StudyData:
    """Read inputs of one format into hub records, reporting every problem into ``report``."""
    if source != "csv":
        raise ValueError(f"unsupported input format {source!r}; supported: {', '.join(SOURCE_FORMATS)}")
    for path in inputs:
        if not path.exists():
            report.add(Issue.of("FB-IO-001", "no such file or folder", file=str(path)))
    layout = load_csv_layout(mapping)
    report.header["csv_layout"] = f"{layout.name} {layout.version}"
    return read_csv([p for p in inputs if p.exists()], layout, report, progress=progress)


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


def validate(inputs: list[Path], *, source: str = "csv", mapping: Path | None = None,
             fail_on: Severity = Severity.ERROR) -> Report:
    """Read and check inputs without writing anything."""
    report = Report(fail_on=fail_on)
    try:
        data = read(inputs, report, source=source, mapping=mapping)
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
    mapping: Path | None = None,
    fhir_mapping: Path | None = None,
    bundle_type: BundleType = "collection",
    fail_on: Severity = Severity.ERROR,
    progress: Progress | None = None,
) -> Report:
    """Convert inputs to ``target`` in ``outdir``; the good records are written even when others fail."""
    if target not in TARGET_FORMATS:
        raise ValueError(f"unsupported output format {target!r}; supported: {', '.join(TARGET_FORMATS)}")
    report = Report(fail_on=fail_on)
    try:
        fhir = load_fhir_mapping(fhir_mapping)
        data = read(inputs, report, source=source, mapping=mapping, progress=progress)
    except MappingError as exc:
        report.add(Issue.of("FB-MAP-001", str(exc)))
        return report
    report.header.update({"fhir_release": FHIR_RELEASE, "fhir_mapping": f"{fhir.spec} {fhir.version}"})
    computed = check(data, report)
    issues: list[Issue] = []
    result = bundle(fhir, data, bundle_type=bundle_type, computed=computed,
                    inputs=sorted({Path(r.source.file).name for r in data.records() if r.source and r.source.file}),
                    issues=issues)
    report.extend(issues)
    if progress:
        progress(f"validating {len(result['entry'])} resources")
    report.extend(check_bundle(result))
    outdir.mkdir(parents=True, exist_ok=True)
    out = outdir / "bundle.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    report.outputs.append(str(out))
    report.stats["resources"] = len(result["entry"])
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
            data = read([path], report, mapping=mapping)
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
