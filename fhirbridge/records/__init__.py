"""The hub: typed domain records that every format is read into and written from.

The record types are imported from their modules on first use, so that a command needing one kind of record
(classifying ISNCSCI exams) does not build the pydantic models of all the others when it starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fhirbridge.records.adverse_event import AdverseEvent
    from fhirbridge.records.base import Record, SubjectRecord
    from fhirbridge.records.dataset import StudyData
    from fhirbridge.records.isncsci import IsncsciClassification, IsncsciExam, IsncsciSide
    from fhirbridge.records.procedures import Harvest, Infusion
    from fhirbridge.records.scim import ScimAssessment
    from fhirbridge.records.source import SourceLocation
    from fhirbridge.records.study import Study, Subject

#: The module of each record type.
_MODULES: dict[str, str] = {
    "AdverseEvent": "adverse_event",
    "Harvest": "procedures",
    "Infusion": "procedures",
    "IsncsciClassification": "isncsci",
    "IsncsciExam": "isncsci",
    "IsncsciSide": "isncsci",
    "Record": "base",
    "ScimAssessment": "scim",
    "SourceLocation": "source",
    "Study": "study",
    "StudyData": "dataset",
    "Subject": "study",
    "SubjectRecord": "base",
}

__all__ = [
    "AdverseEvent",
    "Harvest",
    "Infusion",
    "IsncsciClassification",
    "IsncsciExam",
    "IsncsciSide",
    "Record",
    "ScimAssessment",
    "SourceLocation",
    "Study",
    "StudyData",
    "Subject",
    "SubjectRecord",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups find it without calling this again
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
