"""Records of one subject agree on who that subject is, across the resources of a bundle.

- Patients that share an identifier (system and value) are the same person: sex and birth date agree.
- A record that names its study (workflow-researchStudy extension) names a study its patient is enrolled in
  (a ResearchSubject links the patient to that study).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Node = dict[str, Any]
Emit = Callable[[str, str, str, Any, "str | None", "str | None"], None]

_STUDY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/workflow-researchStudy"


def _ref(node: Any) -> str | None:
    return node.get("reference") if isinstance(node, dict) and isinstance(node.get("reference"), str) else None


#: the types a reference checked here names in a conforming bundle (ResearchSubject.individual, a record's subject
#: or patient, the study extension): only their fullUrl and Type/id are noted, to tell two references to one apart
_NAMED = frozenset({"Patient", "ResearchStudy"})
_IN_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]\.resource")


@dataclass
class IdentityCheck:
    """Collects what identifies subjects while resources go by; ``finish`` reports disagreements. It keeps only
    keys, references and the sex and birth date of each patient, never a resource, so that a bundle read entry by
    entry is checked in near-flat memory: what grows with each record naming its study is a few bytes in arrays
    (its place, and the patient and study it names, as one of the pairs met)."""

    aliases: dict[str, str] = field(default_factory=dict)  # fullUrl or Type/id → one key per patient or study
    #: identifier → (path, gender, birthDate) of the first patient holding it
    patients: dict[tuple[str, str], tuple[str, Any, Any]] = field(default_factory=dict)
    enrolled: dict[str, set[str]] = field(default_factory=dict)  # patient key → study keys
    pairs: dict[tuple[str, str], int] = field(default_factory=dict)  # (patient ref, study ref) of records → number
    #: the records naming their study, in order: the pair each names, its entry and the place of the extension
    record_pairs: array = field(default_factory=lambda: array("I"))
    record_entries: array = field(default_factory=lambda: array("q"))  # entry number, -1: path in ``other_paths``
    record_extensions: array = field(default_factory=lambda: array("I"))
    other_paths: dict[int, str] = field(default_factory=dict)  # record → path of its resource, if not an entry's

    def add(self, resource: Node, path: str, full_url: str | None, emit: Emit) -> None:
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if rtype in _NAMED:
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
                    if study:
                        self._record(path, i, patient, study)

    def _record(self, path: str, extension: int, patient: str, study: str) -> None:
        pair = self.pairs.setdefault((patient, study), len(self.pairs))
        entry = _IN_ENTRY.fullmatch(path)
        if entry is None:
            self.other_paths[len(self.record_pairs)] = path
        self.record_pairs.append(pair)
        self.record_entries.append(int(entry.group(1)) if entry else -1)
        self.record_extensions.append(extension)

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
        names = list(self.pairs)
        for n, (pair, entry, extension) in enumerate(zip(self.record_pairs, self.record_entries,
                                                         self.record_extensions, strict=True)):
            patient, study = names[pair]
            enrolled = studies_of.get(self.aliases.get(patient, patient))
            if enrolled is not None and self.aliases.get(study, study) not in enrolled:
                resource = self.other_paths[n] if entry < 0 else f"Bundle.entry[{entry}].resource"
                emit("FB-FHIR-040", f"the record names study {study}, but its patient {patient} is enrolled in "
                     f"{', '.join(sorted(enrolled))}", f"{resource}.extension[{extension}].valueReference", study,
                     " or ".join(sorted(enrolled)), None)
