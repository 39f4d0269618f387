"""The FHIR spoke's entry points for the API (see ``fhirbridge.formats.registry``)."""

from __future__ import annotations

from pathlib import Path

import orjson

from fhirbridge.formats.fhir.models import FHIR_RELEASE
from fhirbridge.formats.fhir.writer import bundle
from fhirbridge.formats.options import ConvertOptions, Derived, UnsupportedOption
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.records import StudyData
from fhirbridge.validation.fhir_output import check_bundle
from fhirbridge.validation.report import Report


def write(data: StudyData, outdir: Path, report: Report, options: ConvertOptions, derived: Derived) -> list[Path]:
    """Write one Bundle (JSON) and check what was written: structure and references."""
    if options.fhir_format != "json" or options.fhir_version not in (None, "R4"):
        raise UnsupportedOption(f"FHIR output as {options.fhir_format} {options.fhir_version or 'R4'} is not "
                                "supported; use --fhir-format json --fhir-version R4")
    fhir = load_fhir_mapping(options.fhir_mapping)
    report.header.update({"fhir_release": FHIR_RELEASE, "fhir_mapping": f"{fhir.spec} {fhir.version}"})
    sources = sorted({Path(r.source.file).name for r in data.records() if r.source and r.source.file})
    result = bundle(fhir, data, bundle_type=options.bundle_type, computed=derived, inputs=sources,
                    issues=report.issues)
    if options.progress:
        options.progress(f"validating {len(result['entry'])} resources")
    report.extend(check_bundle(result))
    report.stats["resources"] = len(result["entry"])
    outdir.mkdir(parents=True, exist_ok=True)
    out = outdir / "bundle.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return [out]
