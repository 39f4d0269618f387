"""fhirbridge: convert and validate spinal-cord-injury trial data between CSV, CDISC SDTM and HL7 FHIR.

The public Python API (``fhirbridge.public``)::

    import fhirbridge

    report = fhirbridge.validate("examples/honmou2021/csv", fail_on="warning")
    data, report = fhirbridge.read(bundle_dict)            # parsed FHIR JSON, bytes, file objects, paths
    report = fhirbridge.convert("export/", "out", target="fhir", fhir_format="ndjson")

Names are imported on first use, so that ``import fhirbridge`` and the command line start fast; ``__version__``
is defined here without importing anything (the issue kernel imports it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from fhirbridge.errors import FhirbridgeError, InvalidOption
    from fhirbridge.formats.options import ConvertOptions, UnsupportedOption
    from fhirbridge.inputs import Source
    from fhirbridge.issues.issue import Issue, Severity
    from fhirbridge.issues.report import Report
    from fhirbridge.mapping.loader import MappingError
    from fhirbridge.public import classify, convert, read, validate, write
    from fhirbridge.records import (
        AdverseEvent,
        Harvest,
        Infusion,
        IsncsciClassification,
        IsncsciExam,
        IsncsciSide,
        Record,
        ScimAssessment,
        SourceLocation,
        Study,
        StudyData,
        Subject,
        SubjectRecord,
    )

#: The module each public name comes from.
_MODULES: dict[str, str] = {
    **dict.fromkeys(("classify", "convert", "read", "validate", "write"), "fhirbridge.public"),
    **dict.fromkeys(("ConvertOptions", "UnsupportedOption"), "fhirbridge.formats.options"),
    **dict.fromkeys(("FhirbridgeError", "InvalidOption"), "fhirbridge.errors"),
    **dict.fromkeys(("Issue", "Severity"), "fhirbridge.issues.issue"),
    "MappingError": "fhirbridge.mapping.loader",
    "Report": "fhirbridge.issues.report",
    "Source": "fhirbridge.inputs",
    **dict.fromkeys(("AdverseEvent", "Harvest", "Infusion", "IsncsciClassification", "IsncsciExam", "IsncsciSide",
                     "Record", "ScimAssessment", "SourceLocation", "Study", "StudyData", "Subject", "SubjectRecord"),
                    "fhirbridge.records"),
}

__all__ = [
    "AdverseEvent",
    "ConvertOptions",
    "FhirbridgeError",
    "Harvest",
    "Infusion",
    "InvalidOption",
    "IsncsciClassification",
    "IsncsciExam",
    "IsncsciSide",
    "Issue",
    "MappingError",
    "Record",
    "Report",
    "ScimAssessment",
    "Severity",
    "Source",
    "SourceLocation",
    "Study",
    "StudyData",
    "Subject",
    "SubjectRecord",
    "UnsupportedOption",
    "__version__",
    "classify",
    "convert",
    "read",
    "validate",
    "write",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups find it without calling this again
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
