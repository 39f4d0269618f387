"""The FHIR reader's first pass over one input file: each resource filed under the Patient it belongs to.

A ``Filing`` takes a file's resources in input order and keeps, per resource read into records, only its place
(an NDJSON line's byte range, a Bundle entry's index or the index of a resource held in memory) and the keys of
its Patient; studies are kept whole; what the resources say about their FHIR release is gathered; resources
fhirbridge does not read are reported. The reader then takes the filing whole (``FhirReader._take``), which
groups the keys across files.

A JSON Bundle that validation's FHIR checker streams is filed chunk by chunk as the checker parses it
(``Spill.keep_chunks``), so that the reader neither parses the entries again for this pass nor keeps them. The
issues of a filing are held until the reader takes it, so that they come where reading the file alone would
put them: after the checker's, in input order, and not at all for a file that turns out broken.
"""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Any

from fhirbridge.formats.fhir.entries import Entry, bundle_entry, known_type, ref_key
from fhirbridge.formats.fhir.read_context import reference
from fhirbridge.formats.fhir.versions import ReleaseEvidence
from fhirbridge.issues.issue import Issue, Severity

#: Resource types read into records, besides ResearchStudy (kept whole, as every subject needs its study).
GROUPED = frozenset(
    {
        "Patient",
        "ResearchSubject",
        "Condition",
        "Observation",
        "Procedure",
        "AdverseEvent",
        "BiologicallyDerivedProduct",
    }
)
_OWNER_ELEMENTS = ("subject", "individual", "patient")


class Filing:
    """One file's resources filed (see the module docstring). Per resource read into records: ``place`` and
    ``length`` (where it is), ``line`` (its NDJSON line, or the index of its Bundle entry), ``owner`` and
    ``second`` (indices in ``keys``; ``second`` is -1 but for a Patient with both an id and a fullUrl)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.display = Path(name).name  # the file as the release evidence names it
        self.evidence = ReleaseEvidence()
        self.studies: list[Entry] = []
        self.issues: list[Issue] = []
        self.direct: set[int] = set()  # issues the reader appends to the report as they are (no selection)
        self.provenance: int | None = None  # the index of the issue telling that Provenance is not converted
        self.keys: list[str] = []
        self._key_index: dict[str, int] = {}
        # 24 bytes a resource (the byte offset in 64 bits, the rest in 32), held until the reader takes the file
        self.place, self.length, self.line = array("q"), array("I"), array("i")
        self.owner, self.second = array("i"), array("i")
        self.patients = array("i")  # positions (in ``place``) of the Patients
        self.entries = 0  # Bundle entries seen

    def add_entries(self, entries: list[Any]) -> None:
        """Bundle entries in order (a chunk of them, as streamed), each filed at its entry index."""
        i = self.entries
        for item in entries:
            resource = item.get("resource") if isinstance(item, dict) else None
            if isinstance(resource, dict) and known_type(kind := resource.get("resourceType")):
                full_url = item.get("fullUrl")
                self.add(
                    resource,
                    kind,
                    f"Bundle.entry[{i}].resource",
                    None,
                    full_url if isinstance(full_url, str) else None,
                    i,
                    0,
                    i,
                )
            else:
                self.add_problems(_entry_problems(item, i, self.name))
            i += 1
        self.entries = i

    def add_problems(self, issues: list[Issue]) -> None:
        """Issues of reading the file, appended to the report as they are."""
        for issue in issues:
            self.direct.add(len(self.issues))
            self.issues.append(issue)

    def add(
        self,
        resource: dict[str, Any],
        kind: str,
        path: str,
        line: int | None,
        full_url: str | None,
        place: int,
        length: int,
        slot_line: int,
    ) -> None:
        """Note what the resource says about the release, and file it under its Patient."""
        self.evidence.add(resource, self.display, path)
        if kind == "ResearchStudy":
            self.studies.append(Entry(resource, self.name, path, line, full_url))  # small, and needed by every subject
            return
        if kind not in GROUPED:
            if kind == "Provenance":
                if self.provenance is not None:
                    return  # said once per file: a conversion writes one per subject
                self.provenance = len(self.issues)
                self.issues.append(
                    Issue.at(
                        "FB-FHIR-054",
                        "Provenance is not converted: records of an earlier conversion",
                        self.name,
                        line,
                        path,
                        severity=Severity.INFORMATION,
                    )
                )
                return
            severity = Severity.INFORMATION if kind == "CapabilityStatement" else None
            self.issues.append(
                Issue.at(
                    "FB-FHIR-054",
                    f"{kind} is not converted: fhirbridge reads no {kind}",
                    self.name,
                    line,
                    path,
                    severity=severity,
                )
            )
            return
        keys = _patient_keys(resource, full_url) if kind == "Patient" else _owner(resource)
        if not keys:
            self.issues.append(
                Issue.at(
                    "FB-FHIR-060", f"{kind} names no Patient; it is not converted", self.name, line, f"{path}.subject"
                )
            )
            return
        if kind == "Patient":
            self.patients.append(len(self.place))
        self.place.append(place)
        self.length.append(length)
        self.line.append(slot_line)
        self.owner.append(self._key(keys[0]))
        self.second.append(self._key(keys[1]) if len(keys) > 1 else -1)

    def _key(self, key: str) -> int:
        found = self._key_index.get(key)
        if found is None:
            found = self._key_index[key] = len(self.keys)
            self.keys.append(key)
        return found


def _patient_keys(resource: dict[str, Any], full_url: str | None) -> list[str]:
    """A Patient's own keys: its id and its fullUrl."""
    return [ref_key(str(k)) for k in (resource.get("id"), full_url) if k]


def _owner(resource: dict[str, Any]) -> list[str]:
    """The key of the Patient a resource other than a Patient belongs to (its reference), if any."""
    for element in _OWNER_ELEMENTS:
        if ref := reference(resource.get(element)):
            return [ref_key(ref)]
    collection = resource.get("collection")
    ref = reference(collection.get("source")) if isinstance(collection, dict) else None
    return [ref_key(ref)] if ref else []


def _entry_problems(item: Any, i: int, name: str) -> list[Issue]:
    """Why a Bundle entry holds no resource fhirbridge could read (``bundle_entry`` says it)."""
    problems: list[Issue] = []
    bundle_entry(item, i, name, problems)
    return problems
