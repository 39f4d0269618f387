"""What every FHIR builder needs: deterministic ids, references, codings and resource metadata."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fhirbridge.formats.fhir.terminology import display as our_display
from fhirbridge.mapping.fhir_mapping import FhirMapping
from fhirbridge.records import Record, SubjectRecord

#: Namespace of fhirbridge's UUIDv5 resource ids; never change it, or every id changes.
ID_NAMESPACE = uuid.UUID("7d3f5a8e-1c2b-5e4f-9a6b-2f1e0d9c8b7a")

Resource = dict[str, Any]


class FhirContext:
    """Builds the parts shared by all resources, from the FHIR mapping spec."""

    def __init__(self, mapping: FhirMapping) -> None:
        self.mapping = mapping

    # identity ---------------------------------------------------------------------------------------
    @staticmethod
    def resource_id(kind: str, *key: str) -> str:
        """A UUIDv5 of the record kind and key: the same record always gets the same id."""
        return str(uuid.uuid5(ID_NAMESPACE, "|".join((kind, *key))))

    def reference(self, kind: str, *key: str, display: str | None = None) -> dict[str, str]:
        ref = {"reference": f"urn:uuid:{self.resource_id(kind, *key)}"}
        if display:
            ref["display"] = display
        return ref

    def patient_ref(self, record: SubjectRecord) -> dict[str, str]:
        return self.reference("Patient", record.study_id, record.subject_id)

    def study_ext(self, record: SubjectRecord) -> dict[str, Any]:
        """The workflow-researchStudy extension linking an event resource to its study."""
        return {
            "url": self.mapping.extensions["research_study"],
            "valueReference": self.reference("ResearchStudy", record.study_id),
        }

    def meta(self, profile: str, record: Record) -> dict[str, Any]:
        """meta.profile, and meta.source naming the input file and row the record came from."""
        meta: dict[str, Any] = {"profile": [self.mapping.profiles[profile]]}
        source = record.source
        if source is not None and source.file:
            where = f"#row={source.row}" if source.row is not None else ""
            meta["source"] = f"{Path(source.file).name}{where}".replace(" ", "%20")
        return meta

    # terminology ------------------------------------------------------------------------------------
    def system(self, key: str) -> str:
        return self.mapping.systems[key]

    def coding(self, system: str, code: str, display: str | None = None) -> dict[str, str]:
        """A Coding; fhirbridge's own codes get their display from its CodeSystems."""
        coding = {"system": self.system(system), "code": code}
        display = display or our_display(system, code)
        if display:
            coding["display"] = display
        return coding

    def concept(self, *codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
        concept: dict[str, Any] = {}
        if codings:
            concept["coding"] = list(codings)
        if text:
            concept["text"] = text
        return concept

    def named(self, key: str, text: str | None = None) -> dict[str, Any]:
        """A CodeableConcept of one of the mapping spec's named codes."""
        return self.concept(self.mapping.coding(key), text=text)

    def mapped(self, table: str, value: str) -> str:
        return self.mapping.value_maps[table][value]

    def quantity(self, value: float, unit: str) -> dict[str, Any]:
        u = self.mapping.units[unit]
        number: float | int = int(value) if float(value).is_integer() and abs(value) < 2**53 else value
        return {"value": number, "unit": u.unit, "system": self.system("ucum"), "code": u.code}

    def extension(self, key: str, **value: Any) -> dict[str, Any]:
        return {"url": self.mapping.extensions[key], **value}
