"""The Python API: every interface (CLI, service) calls these functions and renders their Report."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from pydantic import ValidationError

from fhirbridge import pipeline
from fhirbridge.checks import check
from fhirbridge.domains.isncsci.classification import classify as classify_exam
from fhirbridge.domains.isncsci.praxis import exam_from_flat
from fhirbridge.formats.fhir.checker.validator import FhirValidator
from fhirbridge.formats.fhir.profiles import conformance_resources
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.formats.registry import READERS, WRITERS, read_chunks, reader
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.registry import RULES
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.mapping.loader import MappingError
from fhirbridge.records import IsncsciClassification, IsncsciExam, StudyData

SOURCE_FORMATS = tuple(READERS)
#: Formats ``validate`` takes: every reader's, and FHIR, whose own validation needs no reader.
VALIDATE_FORMATS = tuple(dict.fromkeys((*READERS, "fhir")))
TARGET_FORMATS = tuple(WRITERS)


def read(inputs: list[Path], report: Report, *, source: str = "csv", options: ConvertOptions | None = None
         ) -> StudyData:
    """Read inputs of one format into hub records, reporting every problem into ``report``."""
    read_format = reader(source)
    return read_format(_existing(inputs, report), report, options or ConvertOptions())


def _existing(inputs: list[Path], report: Report) -> list[Path]:
    for path in inputs:
        if not path.exists():
            report.add(Issue.of("FB-IO-001", "no such file or folder", file=str(path)))
    return [p for p in inputs if p.exists()]


def validate(inputs: list[Path], *, source: str | None = "csv", options: ConvertOptions | None = None,
             fail_on: Severity = Severity.ERROR, select: tuple[str, ...] = (), ignore: tuple[str, ...] = (),
             max_issues: int | None = None) -> Report:
    """Read and check inputs without writing anything, running every layer that applies to their format.

    ``source`` None tells the format from the content. FHIR input is validated as FHIR (structure, values,
    bindings, invariants, profiles, bundle integrity) and, when a FHIR reader is registered, read into hub
    records for the clinical checks. ``select`` / ``ignore`` keep or drop issue codes by prefix; past
    ``max_issues`` issues are counted, not kept.
    """
    with _cyclic_gc_paused():
        return _validate(inputs, source, options, Report(fail_on=fail_on, select=select, ignore=ignore,
                                                          max_issues=max_issues))


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Validation holds large trees of parsed JSON and models, which have no reference cycles; the cyclic
    garbage collector's repeated passes over them cost a third of a large run. Reference counting still frees
    everything; the collector is back on (and runs once) when validation ends."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def _validate(inputs: list[Path], source: str | None, options: ConvertOptions | None, report: Report) -> Report:
    if source is None:
        source = _detect_format(inputs)
        if source is None:
            report.add(Issue.of("FB-IO-008", "cannot tell whether the input is CSV, SDTM or FHIR; use --as",
                                file=", ".join(map(str, inputs))))
            report.finish()
            return report
    report.header["input_format"] = source
    restatable: set[tuple[str, str | None, int | None, str | None]] = set()
    other_release: set[str] = set()
    if source == "fhir":
        validator = FhirValidator(report)
        validator.validate_files(inputs)  # reports missing files itself
        restatable, other_release = validator.restatable, validator.other_release
        inputs = [p for p in inputs if p.exists()]
    if source in READERS:
        first = len(report.issues)
        if source == "fhir":
            # the FHIR layers located every structural problem the reader's check restates (FB-FHIR-001) in R4
            # content, and a problem reading a file or line that the reader finds again (a malformed NDJSON line)
            # is the same problem
            report.drop = lambda i: (i.code == "FB-FHIR-001" and i.file not in other_release) or (
                i.code, i.file, i.row, i.target) in restatable
            if other_release:
                report.ran("FB-FHIR-001")  # the reader's structure check is what checks content of another release
            else:
                report.skip("FB-FHIR-001", "superseded by the FHIR structure rules (FB-FHIR-010 to FB-FHIR-017)")
        try:
            _check_records(inputs, source, options or ConvertOptions(), report)
        except MappingError as exc:
            report.add(Issue.of("FB-MAP-001", str(exc)))
        else:
            if report.drop is not None:  # issues appended to the list directly bypass add()
                report.issues[first:] = [i for i in report.issues[first:] if not report.drop(i)]
            report.ran(*(code for code in RULES if code.startswith((*_CLINICAL_RULES, *_READER_RULES.get(source, ())))))
        report.drop = None
    else:
        report.add(Issue.of("FB-IO-008", f"no reader for {source} input; supported: {', '.join(READERS)}"))
    report.finish()
    return report


def _check_records(inputs: list[Path], source: str, options: ConvertOptions, report: Report) -> None:
    """The clinical layer on the records the reader makes: a chunk of whole subjects at a time where the reader
    can (every clinical check looks at one subject), so that memory stays flat on inputs of any size."""
    counts: Counter[str] = Counter()
    for n, chunk in enumerate(read_chunks(source)(_existing(inputs, report), report, options)):
        if not isinstance(chunk, StudyData):
            chunk = chunk.load(report)
        check(chunk, report)
        counts.update({k: v for k, v in chunk.count().items() if n == 0 or k != "studies"})  # studies come again
    report.stats["records"] = dict(counts)


#: Rule prefixes of the checks on hub records, whatever the input format; and of each format's reader.
_CLINICAL_RULES = ("FB-REF-", "FB-SCIM-", "FB-ISN-", "FB-DATE-", "FB-AE-")
_READER_RULES = {"csv": ("FB-IO-", "FB-MAP-", "FB-CSV-"), "sdtm": ("FB-IO-", "FB-MAP-", "FB-SDTM-"),
                 "fhir": ("FB-IO-", "FB-MAP-", "FB-FHIR-05", "FB-FHIR-06")}


def _detect_format(inputs: list[Path]) -> str | None:
    """csv, sdtm or fhir, from the files' content: FHIR JSON names a resourceType, SDTM tables have DOMAIN or
    USUBJID columns (or are XPT, Dataset-JSON or Dataset-XML files)."""
    files = [f for p in inputs for f in (sorted(p.rglob("*")) if p.is_dir() else [p]) if f.is_file()]
    for path in files:
        suffix = path.suffix.lower()
        if suffix == ".xpt":
            return "sdtm"
        if suffix not in (".json", ".ndjson", ".jsonl", ".xml", ".csv"):
            continue
        try:
            with path.open("rb") as handle:
                head = handle.read(4096).decode("utf-8", errors="replace")
        except OSError:
            continue
        if suffix == ".csv":
            header = head.splitlines()[0].upper() if head else ""
            if "USUBJID" in header or "DOMAIN" in header.replace('"', "").split(","):
                return "sdtm"
            return "csv"
        if '"resourceType"' in head or "http://hl7.org/fhir" in head:
            return "fhir"
        if "datasetJSONVersion" in head or "clinicalData" in head or "cdisc.org/ns/odm" in head:
            return "sdtm"
    return None


def convert(
    inputs: list[Path],
    outdir: Path,
    *,
    source: str = "csv",
    target: str = "fhir",
    options: ConvertOptions | None = None,
    fail_on: Severity = Severity.ERROR,
) -> Report:
    """Convert inputs to ``target`` in ``outdir``; the good records are written even when others fail.

    Records are read, checked and written a chunk of whole subjects at a time, on ``options.jobs`` processes
    (``fhirbridge.pipeline``): memory stays flat whatever the size of the input where both formats stream.
    """
    options = options or ConvertOptions()
    report = Report(fail_on=fail_on)
    try:
        outputs = pipeline.convert(_existing(inputs, report), outdir, source, target, options, report)
        report.outputs.extend(str(p) for p in outputs)
    except MappingError as exc:
        report.add(Issue.of("FB-MAP-001", str(exc)))
    return report


def export_profiles(outdir: Path) -> list[Path]:
    """Write fhirbridge's CodeSystems, ValueSets and StructureDefinitions (profiles and extensions) as FHIR JSON,
    one file per resource: those for R4 (and R4B) in ``outdir``, those for R5 in ``outdir/R5``."""
    mapping = load_fhir_mapping()
    written = []
    for release, folder in (("R4", outdir), ("R5", outdir / "R5")):
        folder.mkdir(parents=True, exist_ok=True)
        for resource in conformance_resources(mapping, release):  # type: ignore[arg-type]
            path = folder / f"{resource['resourceType']}-{resource['id']}.json"
            path.write_bytes(orjson.dumps(resource, option=orjson.OPT_INDENT_2) + b"\n")
            written.append(path)
    return written


def classify(
    path: Path, *, source: str | None = None, options: ConvertOptions | None = None
) -> tuple[list[tuple[str, IsncsciClassification]], Report]:
    """Classify every exam of a file, in input order: a JSON list in the reference's flat layout (the default
    for ``.json`` files), or any exam file or folder of a format fhirbridge reads (``source``, default csv).
    Exams that cannot be read are reported and skipped."""
    report = Report()
    if source is None and path.suffix.lower() == ".json":
        exams = _flat_exams(path, report)
    else:
        try:
            data = read([path], report, source=source or "csv", options=options)
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
