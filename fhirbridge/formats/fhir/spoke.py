"""The FHIR spoke's entry points for the API (see ``fhirbridge.formats.registry``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from fhirbridge.formats.fhir import xml
from fhirbridge.formats.fhir.checker.output import check_bundle
from fhirbridge.formats.fhir.models import FHIR_VERSIONS, Release
from fhirbridge.formats.fhir.ndjson import relative_references, write_ndjson
from fhirbridge.formats.fhir.reader import FhirReader
from fhirbridge.formats.fhir.writer import bundle
from fhirbridge.formats.options import ConvertOptions, Derived, UnsupportedOption
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.records import Study, StudyData


def read(inputs: list[Path | Source], report: Report, options: ConvertOptions) -> StudyData:
    """Read FHIR Bundles, bare resources (JSON or XML) and NDJSON files into one StudyData."""
    data = StudyData()
    for n, chunk in enumerate(read_chunks(inputs, report, options)):
        for record in chunk.records():
            if n == 0 or not isinstance(record, Study):
                data.add(record)
    return data


def read_chunks(inputs: list[Path | Source], report: Report, options: ConvertOptions) -> Iterator[StudyData]:
    """The records a subject at a time (grouped into chunks of bounded size), each chunk with its study.

    The first chunk holds the studies only; each later one holds the studies again (so that it can be checked
    and written on its own) and whole subjects: every record of a subject is in the same chunk.
    """
    fhir = load_fhir_mapping(options.fhir_mapping)
    report.header["fhir_mapping"] = f"{fhir.spec} {fhir.version}"
    yield from FhirReader(fhir, report, options.fhir_version, options.progress, options.fhir_rejected).chunks(inputs)


def write(data: StudyData, outdir: Path, report: Report, options: ConvertOptions, derived: Derived) -> list[Path]:
    """Write one Bundle (JSON or XML) or NDJSON files per resource type, and check what was written."""
    release: Release = options.fhir_version or "R4"
    if options.fhir_format == "ndjson" and options.bundle_type != "collection":
        raise UnsupportedOption("NDJSON holds resources, not a Bundle: --bundle-type transaction needs "
                                "--fhir-format json or xml")
    fhir = load_fhir_mapping(options.fhir_mapping)
    report.header.update({"fhir_release": FHIR_VERSIONS[release], "fhir_mapping": f"{fhir.spec} {fhir.version}"})
    sources = sorted({Path(r.source.file).name for r in data.records() if r.source and r.source.file})
    result = bundle(fhir, data, bundle_type=options.bundle_type, computed=derived, inputs=sources, release=release)
    if options.progress:
        options.progress(f"validating {len(result['entry'])} resources")
    report.extend(check_bundle(result, release))
    report.stats["resources"] = len(result["entry"])
    outdir.mkdir(parents=True, exist_ok=True)
    if options.fhir_format == "ndjson":
        return write_ndjson(relative_references([e["resource"] for e in result["entry"]]), outdir)
    out = outdir / f"bundle.{options.fhir_format}"
    if options.fhir_format == "xml":
        out.write_bytes(_xml_bundle(result, release, report))
    else:
        out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return [out]


def _xml_bundle(result: dict, release: Release, report: Report) -> bytes:
    """The Bundle as XML; an entry holding text XML cannot carry (control characters) is reported and left out."""
    try:
        return xml.to_bytes(xml.to_xml(result, release))
    except ValueError:
        kept = []
        for i, entry in enumerate(result["entry"]):
            try:
                xml.to_xml(entry["resource"], release)
            except ValueError as exc:
                report.add(Issue.of("FB-FHIR-003", f"not written as XML: {exc}", target=f"Bundle.entry[{i}]"))
            else:
                kept.append(entry)
        return xml.to_bytes(xml.to_xml({**result, "entry": kept}, release))
