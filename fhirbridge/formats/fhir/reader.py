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
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate
from pathlib import Path
from typing import IO, BinaryIO

import orjson

from fhirbridge.formats.fhir.bundle_stream import BadDocument, NotStreamable, json_entries, xml_entries
from fhirbridge.formats.fhir.entries import (
    XML_SUFFIXES,
    Entry,
    check_bundle_type,
    document_entries,
    input_files,
    is_ndjson,
    known_type,
    load_document,
    ref_key,
)
from fhirbridge.formats.fhir.filing import Filing
from fhirbridge.formats.fhir.models import FHIR_VERSIONS, Release
from fhirbridge.formats.fhir.ndjson import lines
from fhirbridge.formats.fhir.read_context import Item, ReadContext
from fhirbridge.formats.fhir.read_group import read_group, usable
from fhirbridge.formats.fhir.read_subject import read_study
from fhirbridge.formats.fhir.versions import ReleaseEvidence
from fhirbridge.formats.spill import Spill
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import FhirMapping
from fhirbridge.records import Study, StudyData

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
        # its NDJSON line and its group: 24 bytes a resource of the input, held until the last chunk (a line
        # number, a length and a group fit in 32 bits; a resource of 4 GiB or more is refused by the array)
        self.slot_file, self.slot_offset, self.slot_length = array("i"), array("q"), array("I")
        self.slot_line, self.slot_group, self.patient_slots = array("i"), array("i"), array("i")
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
        name = str(path)
        if is_ndjson(path):
            self.files.append(path)
            filing = Filing(name)
            for number, offset, raw in lines(path):
                self._ndjson_entry(filing, raw, number, offset)
            self._take(filing, len(self.files) - 1)
            return
        # a file the FHIR checker has read already had its reading problems reported there
        problems = self.report.issues if self.rejected is None else []
        try:
            self._index_bundle(path)
            return
        except NotStreamable:
            pass
        except BadDocument as exc:
            problems.append(Issue.of(exc.code, str(exc), file=name))
            return
        except OSError:
            pass  # reported by the whole-document reader
        document = load_document(path, problems, self.asked)
        if document is None:
            return
        filing, found = Filing(name), []
        for entry in document_entries(document, name, found):
            filing.add_problems(found)
            found.clear()
            self.resident.append(entry)
            filing.add(entry.resource, entry.type, entry.path, entry.line, entry.full_url, len(self.resident) - 1, 0,
                       entry.line or 0)
        filing.add_problems(found)
        self._take(filing, _RESIDENT)

    def _index_bundle(self, path: Source) -> None:
        """A Bundle's entries, copied one by one as JSON lines into the spill file (flat memory) and filed as they
        come; the filing is taken once the whole file has been read, so that a file that turns out broken files
        nothing. When the FHIR checker has streamed the file, its entries are in the spill and filed already.
        Content in memory is read whole (``NotStreamable``): the entry readers take a file."""
        if path.path is None:
            raise NotStreamable
        if self.spill is None:
            self.spill = tempfile.TemporaryFile()  # noqa: SIM115 (open while chunks are handed out)
        name = str(path)
        top: dict[str, object] = {}
        problems: list[tuple[str, str]] = []
        spilled = array("I")  # 32 bits an entry: an entry of 4 GiB or more is refused
        start = self.spill.seek(0, 2)
        filing = Filing(name)
        done = self.parsed.bundles.get(name) if self.parsed is not None else None
        if done is not None and isinstance(done.index, Filing):
            start, spilled, top, filing = done.start, done.lengths, dict(done.top), done.index
        elif done is not None:
            start, spilled, top = done.start, done.lengths, dict(done.top)
            self.spill.seek(start)
            for length in spilled:
                filing.add_entries([orjson.loads(self.spill.read(length))])
        elif _is_xml(path):
            for item, found in xml_entries(path, self.asked, top):
                problems.extend(found)
                spilled.append(self.spill.write(orjson.dumps(item)))
                filing.add_entries([item])
        else:
            for item in json_entries(path, top):
                spilled.append(self.spill.write(orjson.dumps(item)))
                filing.add_entries([item])
        if top.get("resourceType") != "Bundle":
            raise NotStreamable
        for where, message in problems:
            self.report.add(Issue.of("FB-FHIR-056", f"{message}; not read", file=name, target=where))
        check_bundle_type(top.get("type"), name, self.report.issues)
        self.files.append(path)
        file_index = len(self.files) - 1
        self.bundle_files.add(file_index)
        offsets = array("q", accumulate(spilled, initial=start))  # a slot's place is its entry's index here
        self._take(filing, file_index, (offsets[i] for i in filing.place), (spilled[i] for i in filing.place))

    def _ndjson_entry(self, filing: Filing, raw: bytes, number: int, offset: int) -> None:
        try:
            resource = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if self.rejected is None:  # else reported by the FHIR checker, which read the line first
                filing.issues.append(Issue.of("FB-IO-007", f"not a JSON object: {exc}", file=filing.name, row=number))
            return
        if not isinstance(resource, dict) or not known_type(resource.get("resourceType")):
            found = resource.get("resourceType") if isinstance(resource, dict) else None
            filing.issues.append(Issue.of("FB-FHIR-052", "the line is not a FHIR resource", file=filing.name,
                                          row=number, value=found))
            return
        kind = resource["resourceType"]
        filing.add(resource, kind, kind, number, None, offset, len(raw), number)

    def _take(self, filing: Filing, file_index: int, places: Iterable[int] | None = None,
              lengths: Iterable[int] | None = None) -> None:
        """A file's filing, in input order: its release evidence, studies and issues, and a slot per resource read
        into records, grouped with the other resources of its Patient (``places`` and ``lengths`` in place of
        the filing's: a Bundle's entries in the spill). The filing is left as it is (a file named twice)."""
        self.evidence.merge(filing.evidence)
        self.studies.extend(filing.studies)
        said = filing.name in self.provenance_files
        if filing.provenance is not None:
            self.provenance_files.add(filing.name)
        add, direct = self.report.add, filing.direct
        for n, issue in enumerate(filing.issues):
            if n in direct:
                self.report.issues.append(issue)
            elif not (said and n == filing.provenance):
                add(issue)
        keys, first = filing.keys, len(self.slot_group)
        self.patient_slots.extend(first + p for p in filing.patients)
        # into the arrays straight from iterators: a list of the file's slots (a pointer, and an int object
        # for most values) took about 40 bytes a resource of the largest file at the end of the first pass
        self.slot_file.extend(array("i", [file_index]) * len(filing.place))
        self.slot_offset.extend(filing.place if places is None else places)
        self.slot_length.extend(filing.length if lengths is None else lengths)
        self.slot_line.extend(filing.line)
        group = self._group
        self.slot_group.extend(group([keys[o]] if s < 0 else [keys[o], keys[s]])
                               for o, s in zip(filing.owner, filing.second, strict=True))

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
        self.slot_group, self.patient_slots = array("i"), array("i")  # in ``order`` now
        seen = _SeenKeys()
        chunk, size, subjects = StudyData(), 0, 0
        with contextlib.ExitStack() as stack:
            windows: dict[int, _Window] = {}
            lengths = self.slot_length
            for slots in order:
                entries = [self._entry(slot, windows, stack) for slot in slots]
                size += sum([lengths[slot] for slot in slots])
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
        one file per resource type, so the first resource of a subject may be any of its records). In arrays
        of 32-bit slot numbers: a list of int objects took about 40 bytes more per resource of the input, held
        while it is read."""
        by_group: dict[int, array] = {}
        for slot in self.patient_slots:
            by_group.setdefault(self._root(self.slot_group[slot]), array("i"))
        for slot, group in enumerate(self.slot_group):
            by_group.setdefault(self._root(group), array("i")).append(slot)
        return list(by_group.values())

    def _entry(self, slot: int, windows: dict[int, _Window], stack: contextlib.ExitStack) -> Entry:
        file_index = self.slot_file[slot]
        if file_index == _RESIDENT:
            return self.resident[self.slot_offset[slot]]
        window = windows.get(file_index)
        if window is None:
            bundle = file_index in self.bundle_files
            assert self.spill is not None or not bundle
            handle = self.spill if bundle else stack.enter_context(self.files[file_index].open())
            window = windows[file_index] = _Window(handle, str(self.files[file_index]), bundle)  # type: ignore[arg-type]
        item = orjson.loads(window.read(self.slot_offset[slot], self.slot_length[slot]))
        if window.bundle:
            full_url = item.get("fullUrl")
            return Entry(item["resource"], window.name, f"Bundle.entry[{self.slot_line[slot]}].resource",
                         full_url=full_url if isinstance(full_url, str) else None)
        return Entry(item, window.name, item["resourceType"], line=self.slot_line[slot])


class _Window:
    """Byte ranges of one file (an NDJSON file, or the spill for a Bundle's entries), read a block at a time: the
    second pass takes the resources of most inputs in the order they were written, so one read serves many
    resources instead of a seek and a read for each."""

    BLOCK = 1 << 20

    def __init__(self, handle: BinaryIO, name: str, bundle: bool) -> None:
        self.handle, self.name, self.bundle = handle, name, bundle
        self.base, self.data = 0, memoryview(b"")

    def read(self, offset: int, length: int) -> memoryview:
        start = offset - self.base
        if start < 0 or start + length > len(self.data):
            self.handle.seek(offset)
            self.data, self.base, start = memoryview(self.handle.read(max(length, self.BLOCK))), offset, 0
        return self.data[start : start + length]


def _is_xml(path: Source) -> bool:
    if path.suffix.lower() in XML_SUFFIXES:
        return True
    with path.open() as handle:
        return handle.read(1024).lstrip()[:1] == b"<"


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
