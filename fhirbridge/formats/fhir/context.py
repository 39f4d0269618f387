"""What every FHIR builder needs: deterministic ids, references, codings and resource metadata."""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhirbridge.formats.fhir.models import Release
from fhirbridge.formats.fhir.terminology import display as our_display
from fhirbridge.mapping.fhir_mapping import FhirMapping
from fhirbridge.mapping.loader import MappingError
from fhirbridge.records import Record, SubjectRecord

#: Namespace of fhirbridge's UUIDv5 resource ids; never change it, or every id changes.
ID_NAMESPACE = uuid.UUID("7d3f5a8e-1c2b-5e4f-9a6b-2f1e0d9c8b7a")

Resource = dict[str, Any]


_NAMESPACE_BYTES = ID_NAMESPACE.bytes


#: the hex digit of a digest's 9th byte's high half with the RFC 4122 variant set (``10xx``)
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _uuid_text(h: str) -> str:
    """The UUIDv5 of a SHA-1 hex digest: its first 16 bytes, with the version (5) and the variant set."""
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


@functools.lru_cache(maxsize=1 << 16)
def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(ID_NAMESPACE, name))`` without the UUID object (asked for several times per resource
    written); every resource's id is asked for again by each resource referring to it: computed once."""
    return _uuid_text(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).hexdigest())


def resource_ids(kind: str, *key: str) -> Callable[[str], str]:
    """``FhirContext.resource_id(kind, *key, last)`` for many ``last`` (an exam's 17 classification values):
    the hash of what they share is made once and copied, and these ids, each asked for once, are not cached."""
    shared = hashlib.sha1(_NAMESPACE_BYTES + "|".join((kind, *key, "")).encode())

    def made(last: str) -> str:
        digest = shared.copy()
        digest.update(last.encode())
        return _uuid_text(digest.hexdigest())

    return made


def lookup(mapping: FhirMapping, section: str, key: str) -> Any:
    """One entry of the FHIR mapping spec; a spec written for an older fhirbridge lacks newer keys, and that
    is a mapping spec error naming the key rather than a crash."""
    try:
        return getattr(mapping, section)[key]
    except KeyError:
        raise MappingError(
            f"FHIR mapping spec {mapping.spec} {mapping.version}: {section}.{key} is missing; "
            "compare with the bundled mappings/fhir-r4.yaml"
        ) from None


@functools.lru_cache(maxsize=64)
def _source_name(file: str) -> str:
    """The input file's name as meta.source gives it (a URI: no spaces); asked for every resource written."""
    return Path(file).name.replace(" ", "%20")


class FhirContext:
    """Builds the parts shared by all resources, from the FHIR mapping spec, for one FHIR release."""

    def __init__(self, mapping: FhirMapping, release: Release = "R4") -> None:
        self.mapping = mapping
        self.release = release
        #: parts that are the same in every resource holding them (an exam cell's component for one value),
        #: built once and shared by those resources; a part is never changed once built
        self.constants: dict[tuple[str, ...], Any] = {}

    @property
    def r5(self) -> bool:
        """R5 changed AdverseEvent, Procedure, ResearchStudy, ResearchSubject and BiologicallyDerivedProduct."""
        return self.release == "R5"

    # identity ---------------------------------------------------------------------------------------
    @staticmethod
    def resource_id(kind: str, *key: str) -> str:
        """A UUIDv5 of the record kind and key: the same record always gets the same id."""
        return _uuid5("|".join((kind, *key)))

    def reference(self, kind: str, *key: str, display: str | None = None) -> dict[str, str]:
        ref = {"reference": f"urn:uuid:{self.resource_id(kind, *key)}"}
        if display:
            ref["display"] = display
        return ref

    def patient_ref(self, record: SubjectRecord) -> dict[str, str]:
        return self.reference("Patient", record.study_id, record.subject_id)

    def study_ext(self, record: SubjectRecord) -> dict[str, Any]:
        """The workflow-researchStudy extension linking an event resource to its study."""
        return self.extension("research_study", valueReference=self.reference("ResearchStudy", record.study_id))

    def visit_ext(self, visit: str) -> dict[str, Any]:
        """fhirbridge's ``visit`` extension: on an assessment panel and on every value Observation of it."""
        return self.extension("visit", valueString=visit)

    def record_id(self, prefix: str, record: Record) -> dict[str, str]:
        """The business identifier of a record: its kind and key, under fhirbridge's record system."""
        return {"system": self.system("record_id"), "value": "/".join((prefix, *record.key()))}

    def panel(
        self,
        id_kind: str,
        kind: str,
        profile: str,
        record: SubjectRecord,
        visit: str,
        category: str,
        code: dict[str, Any],
        effective: str | None,
    ) -> Resource:
        """The Observation skeleton of an assessment panel (ISNCSCI exam, SCIM-III) taken at one visit."""
        resource: Resource = {
            "resourceType": "Observation",
            "id": self.resource_id(id_kind, *record.key()),
            "meta": self.meta(profile, record),
            "extension": [self.study_ext(record), self.visit_ext(visit)],
            "identifier": [self.record_id(kind, record)],
            "status": "final",
            "category": [self.named(category)],
            "code": code,
            "subject": self.patient_ref(record),
        }
        if effective:
            resource["effectiveDateTime"] = effective
        return resource

    def meta(self, profile: str, record: Record) -> dict[str, Any]:
        """meta.profile, and meta.source naming the input file and row the record came from."""
        meta: dict[str, Any] = {"profile": [self.profile(profile)]}
        source = self.source(record)
        if source is not None:
            meta["source"] = source
        return meta

    @staticmethod
    def source(record: Record) -> str | None:
        """meta.source: the input file and row the record came from (None when it came from no file)."""
        source = record.source
        if source is None or not source.file:
            return None
        where = f"#row={source.row}" if source.row is not None else ""
        return f"{_source_name(source.file)}{where}"

    def profile(self, key: str) -> str:
        return lookup(self.mapping, "profiles", key)

    # terminology ------------------------------------------------------------------------------------
    def system(self, key: str) -> str:
        found = self.mapping.systems.get(key)  # asked for every Coding written: the common case first
        return found if found is not None else lookup(self.mapping, "systems", key)

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

    def named_coding(self, key: str) -> dict[str, str]:
        lookup(self.mapping, "codes", key)
        return self.mapping.coding(key)

    def named(self, key: str, text: str | None = None) -> dict[str, Any]:
        """A CodeableConcept of one of the mapping spec's named codes."""
        return self.concept(self.named_coding(key), text=text)

    def mapped(self, table: str, value: str) -> str:
        codes = lookup(self.mapping, "value_maps", table)
        if value not in codes:
            raise MappingError(
                f"FHIR mapping spec {self.mapping.spec} {self.mapping.version}: value_maps.{table} has "
                f"no entry for {value!r}"
            )
        return codes[value]

    def quantity(self, value: float, unit: str) -> dict[str, Any]:
        u = lookup(self.mapping, "units", unit)
        number: float | int = int(value) if float(value).is_integer() and abs(value) < 2**53 else value
        return {"value": number, "unit": u.unit, "system": self.system("ucum"), "code": u.code}

    def extension(self, key: str, **value: Any) -> dict[str, Any]:
        return {"url": lookup(self.mapping, "extensions", key), **value}

    def absent(self) -> dict[str, Any]:
        """The ``_element`` object of a required primitive whose value the record does not have."""
        return {"extension": [self.extension("data_absent_reason", valueCode="unknown")]}
