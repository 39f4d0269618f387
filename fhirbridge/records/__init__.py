"""The hub: typed domain records that every format is read into and written from."""

from fhirbridge.records.adverse_event import AdverseEvent
from fhirbridge.records.base import Record, SubjectRecord
from fhirbridge.records.dataset import StudyData
from fhirbridge.records.isncsci import IsncsciClassification, IsncsciExam, IsncsciSide
from fhirbridge.records.procedures import Harvest, Infusion
from fhirbridge.records.scim import ScimAssessment
from fhirbridge.records.source import SourceLocation
from fhirbridge.records.study import Study, Subject

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
