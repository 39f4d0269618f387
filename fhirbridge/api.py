"""The engine: read, check and write over the spokes. The public API (``fhirbridge.public``), the CLI and the
service call these functions and render their Report; inputs come as paths or ``fhirbridge.inputs.Source``."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import orjson
from pydantic_core import ValidationError  # pydantic's, without loading its model machinery

from fhirbridge.domains.isncsci.classification import classify as classify_exam
from fhirbridge.domains.isncsci.praxis import classify_flat, parse_flat_json, totals_flat, totals_from_classification
from fhirbridge.formats.options import ConvertOptions, Derived
from fhirbridge.formats.registry import READERS, WRITERS, read_chunks, reader, writer
from fhirbridge.guards import check_codes, no_records, unwritable
from fhirbridge.inputs import Source, detect_format, missing, no_such_file
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.registry import RULES
from fhirbridge.issues.report import Report
from fhirbridge.mapping.loader import MappingError

if TYPE_CHECKING:
    from fhirbridge.records import IsncsciClassification, StudyData

_Result = TypeVar("_Result")
#: What ``validate`` hands each checked chunk of records to: the records and the classifications computed for them.
OnRecords = Callable[["StudyData", Derived], None]

# The FHIR layers (the validator, the conformance resources, chunked table writing) and the checks on whole studies
# are imported by the functions that use them, so that a command needing neither, such as classifying a file of exams,
# does not spend its start-up loading them (and every record type with them).

SOURCE_FORMATS = tuple(READERS)
TARGET_FORMATS = tuple(WRITERS)


def read(
    inputs: list[Path | Source], report: Report, *, source: str = "csv", options: ConvertOptions | None = None
) -> StudyData:
    """Read inputs of one format into hub records, reporting every problem into ``report``."""
    read_format = reader(source)
    return read_format(_existing(inputs, report), report, options or ConvertOptions())


def _existing(inputs: list[Path | Source], report: Report) -> list[Path | Source]:
    absent = missing(inputs)
    for path in absent:
        report.add(no_such_file(path))
    return [p for p in inputs if p not in absent]


def _read_nothing(report: Report) -> bool:
    """No record read, and no error says why (a file not read as the format it was told, a study not read)."""
    return not any(report.stats.get("records", {}).values()) and not any(
        i.severity >= Severity.ERROR for i in report.issues
    )


def _no_files(inputs: list[Path | Source]) -> bool:
    """Whether the inputs are folders with no file in them."""
    return all(isinstance(p, Path) and p.is_dir() and not any(f.is_file() for f in p.rglob("*")) for p in inputs)


def check(data: StudyData, report: Report) -> dict[tuple[str, ...], IsncsciClassification]:
    """The record-level checks (``fhirbridge.checks.check``), imported on first use."""
    from fhirbridge.checks import check as check_records

    return check_records(data, report)


def validate(
    inputs: list[Path | Source],
    *,
    source: str | None = "csv",
    options: ConvertOptions | None = None,
    fail_on: Severity = Severity.ERROR,
    select: tuple[str, ...] = (),
    ignore: tuple[str, ...] = (),
    max_issues: int | None = None,
    on_records: OnRecords | None = None,
    collect_garbage: bool = True,
) -> Report:
    """Read and check inputs without writing anything, running every layer that applies to their format.

    ``source`` None tells the format from the content. FHIR input is validated as FHIR (structure, values,
    bindings, invariants, profiles, bundle integrity) and read into hub records for the clinical checks.
    ``select`` / ``ignore`` keep or drop issue codes by prefix; past ``max_issues`` issues are counted, not kept.
    ``on_records`` is given each checked chunk of records with the classifications computed for it, so that a
    caller needing the records as well (the HTML report) does not read the inputs twice. ``collect_garbage``
    False leaves out the full collection at the end: a service validating one request at a time would otherwise
    walk every object it holds after each request (the automatic collector still runs).
    """
    check_codes("--select", select)
    check_codes("--ignore", ignore)
    with _cyclic_gc_paused(collect_garbage):
        return _validate(
            inputs,
            source,
            options,
            Report(fail_on=fail_on, select=select, ignore=ignore, max_issues=max_issues),
            on_records,
        )


@contextmanager
def _cyclic_gc_paused(collect: bool = True) -> Iterator[None]:
    """Validation holds large trees of parsed JSON and models, which have no reference cycles; the cyclic
    garbage collector's repeated passes over them cost a third of a large run. Reference counting still frees
    everything; the collector is back on when validation ends, and runs once over the youngest generation: every
    object made while it was off is there (none was collected, so none was moved on), so any cycle they left is
    found, without walking every object the process holds (a full collection took 12% of validating 20,000 small
    resources, this one 5%). A conversion is the same: a chunk's records and resources (CSV to FHIR NDJSON of
    1,300 subjects: the collector took about 1.5 of 13 CPU seconds, and found fewer than 1,000 objects in cycles
    at the end)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        if collect:
            gc.collect(0)


def _validate(
    inputs: list[Path | Source],
    source: str | None,
    options: ConvertOptions | None,
    report: Report,
    on_records: OnRecords | None = None,
) -> Report:
    if source is None:
        source = detect_format(inputs)
        if source is None:
            if (found := _existing(inputs, report)) and not report.issues:  # a missing file is FB-IO-001 alone
                report.add(
                    no_records(found, "csv", "--as", None)
                    if _no_files(found)
                    else Issue.of(
                        "FB-IO-008",
                        "cannot tell whether the input is CSV, SDTM or FHIR; use --as",
                        file=", ".join(map(str, inputs)),
                    )
                )
            report.finish()
            return report
    report.header["input_format"] = source
    options = options or ConvertOptions()
    fhir_documents = 0  # FHIR Bundles and resources checked: an empty Bundle is valid FHIR, not "no input"
    if source == "fhir":
        from fhirbridge.formats.fhir.checker.validator import READER_STRUCTURE_RULES, FhirValidator
        from fhirbridge.formats.fhir.filing import Filing
        from fhirbridge.formats.spill import Spill

        validator = FhirValidator(report, spill=Spill(indexer=Filing))  # the reader takes what the checker parsed
        if options.stages is not None:
            validator.progress = partial(options.stages.advance, "fhir")
        validator.validate_files(inputs)  # reports missing files itself
        fhir_documents = validator.resources + validator.bundles
        inputs = [p for p in inputs if p not in missing(inputs)]
        # the reader reads what the FHIR layers checked, trusting their verdict on every resource
        options = replace(options, fhir_rejected=frozenset(validator.rejected), fhir_parsed=validator.spill)
        if validator.other_release:
            # content of another release is checked by the reader, with the FHIR checker of that release
            report.ran(*READER_STRUCTURE_RULES)
        report.skip(
            "FB-FHIR-001",
            "superseded by the FHIR structure rules (FB-FHIR-010 to FB-FHIR-017), which checked every resource",
        )
    try:
        _check_records(inputs, source, options, report, on_records)
        if not fhir_documents and _read_nothing(report) and (found := [p for p in inputs if p not in missing(inputs)]):
            report.add(no_records(found, source, "--as", options.csv_mapping))
    except MappingError as exc:
        report.add(Issue.of("FB-MAP-001", str(exc)))
    else:
        report.ran(*(code for code in RULES if code.startswith((*_CLINICAL_RULES, *_READER_RULES[source]))))
    report.finish()
    return report


def _check_records(
    inputs: list[Path | Source],
    source: str,
    options: ConvertOptions,
    report: Report,
    on_records: OnRecords | None = None,
) -> None:
    """The clinical layer on the records the reader makes: a chunk of whole subjects at a time where the reader
    can (every clinical check looks at one subject), so that memory stays flat on inputs of any size."""
    from fhirbridge.records import StudyData

    counts: Counter[str] = Counter()
    for n, chunk in enumerate(read_chunks(source)(_existing(inputs, report), report, options)):
        if options.stages:
            options.stages.advance("read")
        if not isinstance(chunk, StudyData):
            chunk = chunk.load(report)
        computed = check(chunk, report)
        if on_records is not None:
            on_records(chunk, computed)
        if options.stages:
            options.stages.advance("check", sum(chunk.count().values()))
        counts.update({k: v for k, v in chunk.count().items() if n == 0 or k != "studies"})  # studies come again
    report.stats["records"] = dict(counts)


#: Rule prefixes of the checks on hub records, whatever the input format; and of each format's reader.
_CLINICAL_RULES = ("FB-REF-", "FB-SCIM-", "FB-ISN-", "FB-DATE-", "FB-AE-")
_READER_RULES = {
    "csv": ("FB-IO-", "FB-MAP-", "FB-CSV-"),
    "sdtm": ("FB-IO-", "FB-MAP-", "FB-SDTM-"),
    "fhir": ("FB-IO-", "FB-MAP-", "FB-FHIR-05", "FB-FHIR-06"),
}


def convert(
    inputs: list[Path | Source],
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
    found = _existing(inputs, report)
    try:
        from fhirbridge import pipeline

        with _cyclic_gc_paused():  # worker processes forked meanwhile run without it too
            outputs = pipeline.convert(found, outdir, source, target, options, report)
        report.outputs.extend(str(p) for p in outputs)
        if found and _read_nothing(report):
            report.add(no_records(found, source, "--from", options.csv_mapping))
    except MappingError as exc:
        report.add(Issue.of("FB-MAP-001", str(exc)))
    except OSError as exc:  # the output folder, or a file in it, cannot be written
        raise unwritable(outdir, exc) from None
    if any(i.code == "FB-IO-009" for i in report.issues):  # what an empty input makes is not kept (no Provenance
        for output in report.outputs:  # of nothing)
            Path(output).unlink(missing_ok=True)
        report.outputs.clear()
    return report


def write(
    data: StudyData, outdir: Path, report: Report, *, target: str = "fhir", options: ConvertOptions | None = None
) -> None:
    """Write records as ``target`` in ``outdir``, after the checks on them (which compute the classifications of
    exams exported without one, that the writers write); the files written go to ``report.outputs``."""
    outputs = writer(target)(data, outdir, report, options or ConvertOptions(), check(data, report))
    report.outputs.extend(str(p) for p in outputs)


def export_profiles(outdir: Path) -> list[Path]:
    """Write fhirbridge's CodeSystems, ValueSets and StructureDefinitions (profiles and extensions) as FHIR JSON,
    one file per resource, with the ImplementationGuide and ``package.json`` of a FHIR package: those for R4 (and
    R4B) in ``outdir``, those for R5 in ``outdir/R5``."""
    from fhirbridge.formats.fhir.profiles import conformance_resources, package_manifest
    from fhirbridge.mapping.fhir_mapping import load_fhir_mapping

    mapping = load_fhir_mapping()
    written = []
    for release, folder in (("R4", outdir), ("R5", outdir / "R5")):
        folder.mkdir(parents=True, exist_ok=True)
        for resource in conformance_resources(mapping, release):  # type: ignore[arg-type]
            path = folder / f"{resource['resourceType']}-{resource['id']}.json"
            path.write_bytes(orjson.dumps(resource, option=orjson.OPT_INDENT_2) + b"\n")
            written.append(path)
        manifest = folder / "package.json"  # the folder is a FHIR package other validators can load
        text = orjson.dumps(package_manifest(mapping, release), option=orjson.OPT_INDENT_2)  # type: ignore[arg-type]
        manifest.write_bytes(text + b"\n")
        written.append(manifest)
    return written


def classify(
    path: Path | Source, *, source: str | None = None, options: ConvertOptions | None = None
) -> tuple[list[tuple[str, IsncsciClassification]], Report]:
    """Classify every exam of a file, in input order: a JSON list in the reference's flat layout (the default
    for ``.json`` files), or any exam file or folder of a format fhirbridge reads (``source``, default csv).
    Exams that cannot be read are reported and skipped."""
    return _classifications(path, source, options, classify_flat, lambda c: c)


def classify_totals(
    path: Path | Source, *, source: str | None = None, options: ConvertOptions | None = None
) -> tuple[list[dict[str, str]], Report]:
    """As :func:`classify`, each classification as the reference's ``totals`` object (what
    ``fhirbridge isncsci classify --json`` prints), without building the models for flat exams."""
    return _classifications(path, source, options, totals_flat, totals_from_classification)


def _classifications(
    path: Path | Source,
    source: str | None,
    options: ConvertOptions | None,
    of_flat: Callable[..., _Result],
    of_model: Callable[[IsncsciClassification], _Result],
) -> tuple[list[tuple[str, _Result]], Report]:
    """Classify a file's exams: flat ones by ``of_flat`` (``classify_flat``'s signature), records by
    ``classify_exam`` then ``of_model``."""
    report = Report()
    if source is None and path.suffix.lower() in (".json", ".ndjson", ".xml") and detect_format([path]) == "fhir":
        source = "fhir"  # as validate tells it: a FHIR bundle or resources, not the reference's flat exams
    if source is None and path.suffix.lower() == ".json":
        with _cyclic_gc_paused():
            return _flat_classifications(path, report, of_flat), report
    try:
        data = read([path], report, source=source or "csv", options=options)
    except MappingError as exc:
        report.add(Issue.of("FB-MAP-001", str(exc)))
        return [], report
    return [(f"{e.subject_id}/{e.visit}", of_model(classify_exam(e))) for e in data.isncsci_exams], report


def _flat_classifications(
    path: Path | Source, report: Report, of_flat: Callable[..., _Result]
) -> list[tuple[str, _Result]]:
    try:
        items = parse_flat_json(path.read_bytes())
    except OSError as exc:
        report.add(Issue.of("FB-IO-001", f"cannot read file: {exc.strerror or exc}", file=str(path)))
        return []
    except orjson.JSONDecodeError as exc:
        report.add(Issue.of("FB-IO-006", f"not valid JSON: {exc}", file=str(path)))
        return []
    if not isinstance(items, list):
        items = [items]
    results = []
    for i, item in enumerate(items):
        where = f"$[{i}]"
        if not isinstance(item, dict):
            report.add(Issue.of("FB-ISN-003", "not an exam object", file=str(path), target=where))
            continue
        label = str(item.get("id", i + 1))
        try:
            results.append((label, of_flat(item, subject_id=label)))
        except KeyError as exc:
            report.add(
                Issue.of(
                    "FB-ISN-003",
                    f"exam key {exc.args[0]} is missing",
                    file=str(path),
                    target=where,
                    column=str(exc.args[0]),
                )
            )
        except ValidationError as exc:
            for err in exc.errors():
                report.add(
                    Issue.of(
                        "FB-ISN-003",
                        f"{'.'.join(map(str, err['loc']))}: {err['msg']}",
                        file=str(path),
                        target=where,
                        value=str(err.get("input")),
                    )
                )
    return results
