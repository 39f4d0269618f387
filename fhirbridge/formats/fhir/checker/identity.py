"""Records of one subject agree on who that subject is, across the resources of a bundle.

- Patients that share an identifier (system and value) are the same person: sex and birth date agree.
- A record that names its study (workflow-researchStudy extension) names a study its patient is enrolled in
  (a ResearchSubject links the patient to that study).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Node = dict[str, Any]
Emit = Callable[[str, str, str, Any, "str | None", "str | None"], None]

_STUDY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/workflow-researchStudy"


def _ref(node: Any) -> str | None:
    return node.get("reference") if isinstance(node, dict) and isinstance(node.get("reference"), str) else None


@dataclass
class IdentityCheck:
    """Collects what identifies subjects while resources go by; ``finish`` reports disagreements. It keeps only
    keys, references and the sex and birth date of each patient, never a resource, so that a bundle read entry by
    entry is checked in flat memory."""

    aliases: dict[str, str] = field(default_factory=dict)  # fullUrl or Type/id → one key per resource
    #: identifier → (path, gender, birthDate) of the first patient holding it
    patients: dict[tuple[str, str], tuple[str, Any, Any]] = field(default_factory=dict)
    enrolled: dict[str, set[str]] = field(default_factory=dict)  # patient key → study keys
    records: list[tuple[str, str, str]] = field(default_factory=list)  # (path, patient ref, study ref)

    def add(self, resource: Node, path: str, full_url: str | None, emit: Emit) -> None:
        rtype, rid = resource.get("resourceType"), resource.get("id")
        key = full_url or f"{rtype}/{rid}"
        for alias in (full_url, f"{rtype}/{rid}" if rid else None):
            if alias:
                self.aliases[alias] = key
        if rtype == "Patient":
            self._patient(resource, path, emit)
        elif rtype == "ResearchSubject":
            patient, study = _ref(resource.get("individual")), _ref(resource.get("study"))
            if patient and study:
                self.enrolled.setdefault(patient, set()).add(study)
        else:
            patient = _ref(resource.get("subject")) or _ref(resource.get("patient"))
            for i, ext in enumerate(resource.get("extension", ()) if isinstance(resource.get("extension"), list)
                                    else ()):
                if isinstance(ext, dict) and ext.get("url") == _STUDY_EXTENSION and patient:
                    study = _ref(ext.get("valueReference"))
                    if study:  # the texts shared by all the records of one patient and study
                        self.records.append((f"{path}.extension[{i}].valueReference", sys.intern(patient),
                                             sys.intern(study)))

    def _patient(self, patient: Node, path: str, emit: Emit) -> None:
        identifiers = patient.get("identifier") if isinstance(patient.get("identifier"), list) else []
        for ident in identifiers:
            if not isinstance(ident, dict) or not isinstance(ident.get("system"), str) \
                    or not isinstance(ident.get("value"), str):
                continue
            first = self.patients.setdefault((ident["system"], ident["value"]),
                                             (path, patient.get("gender"), patient.get("birthDate")))
            if first[0] == path:
                continue  # the same patient, by another of its identifiers
            for element, known in zip(("gender", "birthDate"), first[1:], strict=True):
                if patient.get(element) != known:
                    emit("FB-FHIR-040", f"patient {ident['value']} has {element} {patient.get(element)!r} here and "
                         f"{known!r} at {first[0]}", f"{path}.{element}", patient.get(element), str(known), None)

    def finish(self, emit: Emit) -> None:
        studies_of: dict[str, set[str]] = {}
        for patient, studies in self.enrolled.items():
            studies_of.setdefault(self.aliases.get(patient, patient), set()).update(
                self.aliases.get(s, s) for s in studies)
        for path, patient, study in self.records:
            enrolled = studies_of.get(self.aliases.get(patient, patient))
            if enrolled is not None and self.aliases.get(study, study) not in enrolled:
                emit("FB-FHIR-040", f"the record names study {study}, but its patient {patient} is enrolled in "
                     f"{', '.join(sorted(enrolled))}", path, study, " or ".join(sorted(enrolled)), None)
