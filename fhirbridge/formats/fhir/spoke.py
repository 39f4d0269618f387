"""The FHIR spoke's entry points for the API (see ``fhirbridge.formats.registry``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fhirbridge.formats.fhir.reader import FhirReader
from fhirbridge.formats.fhir.sink import FhirSink
from fhirbridge.formats.options import ConvertOptions, Derived
from fhirbridge.inputs import Source
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
    yield from FhirReader(fhir, report, options.fhir_version, options.progress, options.fhir_rejected,
                          options.fhir_parsed).chunks(inputs)


def write(data: StudyData, outdir: Path, report: Report, options: ConvertOptions, derived: Derived) -> list[Path]:
    """Write checked records as one Bundle (JSON or XML), several (``bundle_size``, ``bundle_per_subject``) or
    NDJSON files per resource type, and check what is written."""
    sink = FhirSink(outdir, report, options)
    rendered = (sink.render(StudyData(studies=list(data.studies)), {}, True, report),
                sink.render(data, derived, False, report))
    return sink.consume(iter(rendered), report)
