"""The FHIR spoke, read direction: Bundles, bare resources and NDJSON → records, a subject at a time.

Reading happens in two passes so that an input of any size is read in flat memory:

1. **Index.** Every resource is parsed once and filed under the Patient it belongs to (its ``subject``,
   ``individual`` or the product's ``collection.source``). Bundles and XML files are in memory anyway; an
   NDJSON line is kept only as its file, byte offset and length. Studies (small) are kept whole. What the
   input says about its FHIR release is gathered on the way, and resource types fhirbridge does not read are
   reported here.
2. **Records.** Patient by Patient, the resources are read again (NDJSON lines by seeking to them) and turned
   into records (``read_group``); records are handed out in chunks of whole subjects.

The trade-off: checks that need a whole subject (the timeline, an exam with its classification, an adverse
event with its infusion) work on every chunk, because a subject is never split; a check across subjects would
not, and there is none. NDJSON is read twice and in the Patient order, with random access when one
subject's resources are spread over the files (a bulk export writes one file per resource type).
"""

from __future__ import annotations

import contextlib
import tempfile
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

import orjson

from fhirbridge.formats.fhir.bundle_stream import BadDocument, NotStreamable, json_entries, xml_entries
from fhirbridge.formats.fhir.entries import (
    XML_SUFFIXES,
    Entry,
    bundle_entry,
    check_bundle_type,
    document_entries,
    input_files,
    is_ndjson,
    known_type,
    load_document,
    ref_key,
)
from fhirbridge.formats.fhir.models import FHIR_VERSIONS, Release
from fhirbridge.formats.fhir.ndjson import lines, read_line
from fhirbridge.formats.fhir.read_context import Item, ReadContext, reference
from fhirbridge.formats.fhir.read_group import read_group, usable
from fhirbridge.formats.fhir.read_subject import read_study
from fhirbridge.formats.fhir.versions import ReleaseEvidence
from fhirbridge.formats.spill import Spill
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import FhirMapping
from fhirbridge.records import Study, StudyData

#: Resource types read into records, besides ResearchStudy (kept whole, as every subject needs its study).
GROUPED = frozenset({"Patient", "ResearchSubject", "Condition", "Observation", "Procedure", "AdverseEvent",
                     "BiologicallyDerivedProduct"})
#: Input bytes of resources read before a chunk of records is handed out.
CHUNK_BYTES = 8 << 20
_RESIDENT = -1  # the file index of a resource kept in memory (from a Bundle or an XML file)


class FhirReader:
    def __init__(self, mapping: FhirMapping, report: Report, asked: Release | None,
                 progress: Callable[[str], None] | None = None,
                 rejected: frozenset[tuple[str, str, int | None]] | None = None,
                 parsed: Spill | None = None) -> None:
        self.mapping = mapping
        self.parsed = parsed
        self.rejected = rejected
        self.report = report
        self.asked = asked
        self.progress = progress
        self.files: list[Source] = []
        self.resident: list[Entry] = []
        self.studies: list[Entry] = []
        self.evidence = ReleaseEvidence()
        # one slot per grouped resource: where it is (file index and byte range, or index in ``resident``),
        # its NDJSON line and its group
        self.slot_file, self.slot_offset, self.slot_length = array("i"), array("q"), array("q")
        self.slot_line, self.slot_group, self.patient_slots = array("q"), array("i"), array("q")
        self.group_of: dict[str, int] = {}
        # Bundle entries as JSON, one after another (the checker's, when it parsed the Bundles already)
        self.spill: IO[bytes] | None = parsed.file if parsed is not None else None
        self.bundle_files: set[int] = set()  # files whose entries are in ``spill``
        self.provenance_files: set[str] = set()
        self.file_names: dict[str, str] = {}  # file → its name, as the release evidence tells where it is
        self.parent: list[int] = []  # union-find over groups: a Patient's id and fullUrl may name two

    # pass 1 ------------------------------------------------------------------------------------------------
    def chunks(self, inputs: list[Path | Source]) -> Iterator[StudyData]:
        """Chunks of records: the studies first, then whole subjects (see the module docstring)."""
        try:
            for path in input_files(inputs):
                self._index_file(path)
            release, why, doubt = self.evidence.decide(self.asked)
            self.report.header.update({"fhir_release": FHIR_VERSIONS[release], "fhir_release_from": why})
            if doubt:
                self.report.add(Issue.of("FB-FHIR-058", doubt))
            ctx = ReadContext(self.mapping, release, self.report.issues, self.rejected)
            studies, by_key = self._studies(ctx)
            yield StudyData(studies=list(studies))
            yield from self._subject_chunks(ctx, studies, by_key)
        finally:
            if self.spill is not None:
                self.spill.close()

    def _index_file(self, path: Source) -> None:
        if is_ndjson(path):
            self.files.append(path)
            file_index = len(self.files) - 1
            for number, offset, raw in lines(path):
                entry = self._ndjson_entry(raw, str(path), number)
                if entry is not None:
                    self._file(entry, file_index, offset, len(raw))
            return
        # a file the FHIR checker has read already had its reading problems reported there
        problems = self.report.issues if self.rejected is None else []
        try:
            self._index_bundle(path)
            return
        except NotStreamable:
            pass
        except BadDocument as exc:
            problems.append(Issue.of(exc.code, str(exc), file=str(path)))
            return
        except OSError:
            pass  # reported by the whole-document reader
        document = load_document(path, problems, self.asked)
        if document is None:
            return
        for entry in document_entries(document, str(path), self.report.issues):
            self.resident.append(entry)
            self._file(entry, _RESIDENT, len(self.resident) - 1, 0)

    def _index_bundle(self, path: Source) -> None:
        """A Bundle's entries, copied one by one as JSON lines into the spill file (flat memory) and filed from
        there once the whole file has been read, so that a file that turns out broken files nothing. Content in
        memory is read whole (``NotStreamable``): the entry readers take a file."""
        if path.path is None:
            raise NotStreamable
        if self.spill is None:
            self.spill = tempfile.TemporaryFile()  # noqa: SIM115 (open while chunks are handed out)
        name = str(path)
        top: dict[str, object] = {}
        problems: list[tuple[str, str]] = []
        spilled = array("q")
        start = self.spill.seek(0, 2)
        if self.parsed is not None and name in self.parsed.bundles:
            done = self.parsed.bundles[name]
            start, spilled, top = done.start, done.lengths, dict(done.top)
        elif _is_xml(path):
            for item, found in xml_entries(path, self.asked, top):
                problems.extend(found)
                spilled.append(self.spill.write(orjson.dumps(item)))
        else:
            for item in json_entries(path, top):
                spilled.append(self.spill.write(orjson.dumps(item)))
        if top.get("resourceType") != "Bundle":
            raise NotStreamable
        for where, message in problems:
            self.report.add(Issue.of("FB-FHIR-056", f"{message}; not read", file=name, target=where))
        check_bundle_type(top.get("type"), name, self.report.issues)
        self.files.append(path)
        file_index = len(self.files) - 1
        self.bundle_files.add(file_index)
        offset = start
        for i, length in enumerate(spilled):
            self.spill.seek(offset)
            entry = bundle_entry(orjson.loads(self.spill.read(length)), i, name, self.report.issues)
            if entry is not None:
                self._file(entry, file_index, offset, length, line=i)
            offset += length

    def _ndjson_entry(self, raw: bytes, name: str, number: int) -> Entry | None:
        try:
            resource = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if self.rejected is None:  # else reported by the FHIR checker, which read the line first
                self.report.add(Issue.of("FB-IO-007", f"not a JSON object: {exc}", file=name, row=number))
            return None
        if not isinstance(resource, dict) or not known_type(resource.get("resourceType")):
            found = resource.get("resourceType") if isinstance(resource, dict) else None
            self.report.add(Issue.of("FB-FHIR-052", "the line is not a FHIR resource", file=name, row=number,
                                     value=found))
            return None
        return Entry(resource, name, resource["resourceType"], line=number)

    def _file(self, entry: Entry, file_index: int, offset: int, length: int, line: int | None = None) -> None:
        """Note what the resource says about the release, and file it under its Patient (``line``: where it is in
        its file, when not its NDJSON line: the index of a Bundle entry)."""
        resource = entry.resource
        name = self.file_names.get(entry.file)
        if name is None:
            name = self.file_names[entry.file] = Path(entry.file).name
        self.evidence.add(resource, f"{name} {entry.path}")
        kind = entry.type
        if kind == "ResearchStudy":
            self.studies.append(entry)  # small, and every subject needs its study: kept whole
            return
        if kind == "Provenance" and entry.file in self.provenance_files:
            return  # said once per file: a conversion writes one per subject
        if kind not in GROUPED:
            if kind == "Provenance":
                self.provenance_files.add(entry.file)
            why = "records of an earlier conversion" if kind == "Provenance" else f"fhirbridge reads no {kind}"
            severity = Severity.INFORMATION if kind in ("Provenance", "CapabilityStatement") else None
            self.report.add(entry.issue("FB-FHIR-054", f"{kind} is not converted: {why}", severity=severity))
            return
        owners = _owners(entry)
        if not owners:
            self.report.add(entry.issue("FB-FHIR-060", f"{kind} names no Patient; it is not converted", "subject"))
            return
        group = self._group(owners)
        if kind == "Patient":
            self.patient_slots.append(len(self.slot_group))
        self.slot_file.append(file_index)
        self.slot_offset.append(offset)
        self.slot_length.append(length)
        self.slot_line.append(line if line is not None else entry.line or 0)
        self.slot_group.append(group)

    def _group(self, keys: list[str]) -> int:
        groups = []
        for key in keys:
            if key not in self.group_of:
                self.group_of[key] = len(self.parent)
                self.parent.append(len(self.parent))
            groups.append(self._root(self.group_of[key]))
        for other in groups[1:]:
            self.parent[other] = groups[0]
        return groups[0]

    def _root(self, group: int) -> int:
        while self.parent[group] != group:
            self.parent[group] = self.parent[self.parent[group]]
            group = self.parent[group]
        return group

    def _studies(self, ctx: ReadContext) -> tuple[list[Study], dict[str, Study]]:
        """Every ResearchStudy as a Study, and the studies by each key a reference to one may use."""
        studies: list[Study] = []
        found: dict[str, Study] = {}
        ids: set[str] = set()
        for entry in self.studies:
            if not usable(entry, ctx):
                continue
            item = Item(entry, ctx)
            study = read_study(item)
            if study is None:
                continue
            if study.study_id in ids:
                item.issue("FB-FHIR-061", f"study {study.study_id} is described twice; this one is not converted")
                continue
            ids.add(study.study_id)
            studies.append(study)
            item.report_leftovers()
            for key in (entry.full_url, entry.resource.get("id")):
                if key:
                    found[ref_key(str(key))] = study
        return studies, found

    # pass 2 ------------------------------------------------------------------------------------------------
    def _subject_chunks(self, ctx: ReadContext, studies: list[Study], by_key: dict[str, Study]
                        ) -> Iterator[StudyData]:
        order = self._slots_by_group()
        seen = _SeenKeys()
        chunk, size, subjects = StudyData(), 0, 0
        with contextlib.ExitStack() as stack:
            handles: dict[int, BinaryIO] = {}
            for slots in order:
                entries = [self._entry(slot, handles, stack) for slot in slots]
                size += sum(self.slot_length[slot] for slot in slots)
                group = read_group(entries, ctx, by_key, seen)
                seen.records.clear()
                for record in group.records():
                    chunk.add(record)
                subjects += len(group.subjects)
                if size >= CHUNK_BYTES:
                    chunk.studies = list(studies)
                    yield chunk
                    if self.progress:
                        self.progress(f"read {subjects} subjects")
                    chunk, size = StudyData(), 0
            if any(chunk.count().values()):
                chunk.studies = list(studies)
                yield chunk

    def _slots_by_group(self) -> list[array]:
        """Slot numbers per group, slots in input order; groups in the order of their Patients (a bulk export has
        one file per resource type, so the first resource of a subject may be any of its records). In arrays:
        a list of int objects took about 40 bytes more per resource of the input, held while it is read."""
        by_group: dict[int, array] = {}
        for slot in self.patient_slots:
            by_group.setdefault(self._root(self.slot_group[slot]), array("q"))
        for slot, group in enumerate(self.slot_group):
            by_group.setdefault(self._root(group), array("q")).append(slot)
        return list(by_group.values())

    def _entry(self, slot: int, handles: dict[int, BinaryIO], stack: contextlib.ExitStack) -> Entry:
        file_index = self.slot_file[slot]
        if file_index == _RESIDENT:
            return self.resident[self.slot_offset[slot]]
        if file_index in self.bundle_files:
            assert self.spill is not None
            item = orjson.loads(read_line(self.spill, self.slot_offset[slot], self.slot_length[slot]))
            full_url = item.get("fullUrl")
            return Entry(item["resource"], str(self.files[file_index]),
                         f"Bundle.entry[{self.slot_line[slot]}].resource",
                         full_url=full_url if isinstance(full_url, str) else None)
        if file_index not in handles:
            handles[file_index] = stack.enter_context(self.files[file_index].open())
        raw = read_line(handles[file_index], self.slot_offset[slot], self.slot_length[slot])
        resource = orjson.loads(raw)
        return Entry(resource, str(self.files[file_index]), resource["resourceType"], line=self.slot_line[slot])


def _is_xml(path: Source) -> bool:
    if path.suffix.lower() in XML_SUFFIXES:
        return True
    with path.open() as handle:
        return handle.read(1024).lstrip()[:1] == b"<"


def _owners(entry: Entry) -> list[str]:
    """The keys of the Patient a resource belongs to: a Patient's own id and fullUrl, else its reference."""
    resource = entry.resource
    if entry.type == "Patient":
        keys = [str(k) for k in (resource.get("id"), entry.full_url) if k]
        return [ref_key(k) for k in keys]
    for element in ("subject", "individual", "patient"):
        if ref := reference(resource.get(element)):
            return [ref_key(ref)]
    collection = resource.get("collection")
    ref = reference(collection.get("source")) if isinstance(collection, dict) else None
    return [ref_key(ref)] if ref else []


class _SeenKeys(set[tuple[str, ...]]):
    """The keys of the records read so far, for ``read_group`` to find one described twice: those of subjects
    (``("Subject", study, subject)``) for the whole input, those of other records for their group only. A
    record's key starts with its subject's, whose records all come in the group that added that subject (the
    reader groups resources by Patient, and a subject is added once), so no record of another group can repeat
    it. Keeping every record's key held a tuple and its strings per record until the end: about 2 KB a subject
    of the example study (estimated), some 25 MiB at 13,000 subjects, in the process that reads."""

    def __init__(self) -> None:
        super().__init__()
        self.records: set[tuple[str, ...]] = set()

    def __contains__(self, key: object) -> bool:
        if isinstance(key, tuple) and key[:1] == ("Subject",):
            return super().__contains__(key)
        return key in self.records

    def add(self, key: tuple[str, ...]) -> None:
        if key[:1] == ("Subject",):
            super().add(key)
        else:
            self.records.add(key)
