"""StudyData: every record of one conversion, grouped by kind."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from fhirbridge.records.adverse_event import AdverseEvent
from fhirbridge.records.base import Record
from fhirbridge.records.isncsci import IsncsciExam
from fhirbridge.records.procedures import Harvest, Infusion
from fhirbridge.records.scim import ScimAssessment
from fhirbridge.records.study import Study, Subject


@dataclass
class StudyData:
    """The records of one study, as a reader produced them and a writer consumes them."""

    studies: list[Study] = field(default_factory=list)
    subjects: list[Subject] = field(default_factory=list)
    isncsci_exams: list[IsncsciExam] = field(default_factory=list)
    scim_assessments: list[ScimAssessment] = field(default_factory=list)
    harvests: list[Harvest] = field(default_factory=list)
    infusions: list[Infusion] = field(default_factory=list)
    adverse_events: list[AdverseEvent] = field(default_factory=list)

    def records(self) -> Iterator[Record]:
        for group in (
            self.studies,
            self.subjects,
            self.harvests,
            self.infusions,
            self.isncsci_exams,
            self.scim_assessments,
            self.adverse_events,
        ):
            yield from group

    def add(self, record: Record) -> None:
        """File a record under its kind."""
        for name, kind in _KINDS.items():
            if isinstance(record, kind):
                getattr(self, name).append(record)
                return
        raise TypeError(f"not a hub record: {type(record).__name__}")

    def count(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in _KINDS}


_KINDS: dict[str, type[Record]] = {
    "studies": Study,
    "subjects": Subject,
    "isncsci_exams": IsncsciExam,
    "scim_assessments": ScimAssessment,
    "harvests": Harvest,
    "infusions": Infusion,
    "adverse_events": AdverseEvent,
}
