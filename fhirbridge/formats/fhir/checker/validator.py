"""FHIR validation of any R4 content, ours or not: a Bundle or a resource as JSON or XML, or NDJSON streamed
line by line, every problem of every layer reported with its file, line and FHIRPath.

Layers, in one walk per resource: structure (cardinality, unknown elements, JSON shapes, choice types),
primitive values, required bindings, FHIRPath invariants, fhirbridge's terminology and profiles; then, per
bundle, integrity (fullUrl, request, references) and the identity of subjects across resources.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from fhirbridge.formats.fhir.bundle_stream import BadDocument, NotStreamable, json_entry_chunks, xml_bundle_entries
from fhirbridge.formats.fhir.checker.bundle import RESOLVING, BundleEntries
from fhirbridge.formats.fhir.checker.identity import IdentityCheck
from fhirbridge.formats.fhir.checker.profiles import own_codes, own_profiles
from fhirbridge.formats.fhir.checker.structure import EntriesRead, Reference, Walker, WalkOptions
from fhirbridge.formats.fhir.entries import PACKAGE_MANIFESTS, load_document
from fhirbridge.formats.fhir.versions import declared, family, shaped
from fhirbridge.formats.spill import Spill
from fhirbridge.inputs import Source, exists, is_folder, no_such_file
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report

JSON_SUFFIXES = (".json",)
XML_SUFFIXES = (".xml",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
#: Resources between two calls of ``FhirValidator.progress``: a bar moves often, at no cost worth measuring.
PROGRESS_STEP = 200
#: Entries of an XML Bundle screened in one call (XML is read an entry at a time; JSON in chunks of bytes).
XML_CHUNK = 256
_ENTRY_RESOURCE = re.compile(r"Bundle\.entry\[\d+\]\.resource")

#: What each layer checks, for the report's account of the rules that ran.
STRUCTURE_RULES = ("FB-FHIR-010", "FB-FHIR-011", "FB-FHIR-012", "FB-FHIR-013", "FB-FHIR-014", "FB-FHIR-015",
                   "FB-FHIR-016", "FB-FHIR-017", "FB-FHIR-018", "FB-FHIR-019", "FB-FHIR-023", "FB-FHIR-030",
                   "FB-FHIR-031", "FB-FHIR-032", "FB-FHIR-033", "FB-FHIR-034", "FB-FHIR-035")
#: What the FHIR reader's checker checks of each resource (no profiles, no best practice): content of another
#: release than the validator's is checked so when it is read.
READER_STRUCTURE_RULES = tuple(c for c in STRUCTURE_RULES if c <= "FB-FHIR-030" and c != "FB-FHIR-019")
BUNDLE_RULES = ("FB-FHIR-002", "FB-FHIR-020", "FB-FHIR-021", "FB-FHIR-022", "FB-FHIR-040")


def fhir_files(inputs: list[Path | Source]) -> list[Path | Source]:
    """The FHIR files of ``inputs`` (folders are searched, in name order; a folder without any stays a Path)."""
    found: list[Path | Source] = []
    for path in inputs:
        if isinstance(path, Path) and is_folder(path):
            found.extend([Source(p) for p in sorted(path.rglob("*"))
                          if p.suffix.lower() in JSON_SUFFIXES + XML_SUFFIXES + NDJSON_SUFFIXES
                          and p.name not in PACKAGE_MANIFESTS] or [path])
        else:
            found.append(Source(path) if isinstance(path, Path) else path)
    return found


class FhirValidator:
    """Validates FHIR inputs into one Report."""

    def __init__(self, report: Report, spill: Spill | None = None) -> None:
        self.report = report
        #: where the entries of each JSON Bundle streamed are written for the FHIR reader (None: nowhere)
        self.spill = spill
        self.file: str | None = None
        self.row: int | None = None
        self.walker = Walker(self._walked, WalkOptions(best_practice=report.selected("FB-FHIR-019"),
                                                    own_codes=own_codes()))
        self.profiles = own_profiles()
        self.resources = 0
        self.bundles = 0
        self.ndjson_lines = 0
        #: resources with an error of structure, values, bindings or invariants, by (file, FHIRPath, line): the
        #: FHIR reader leaves them out rather than checking every resource again
        self.rejected: set[tuple[str, str, int | None]] = set()
        #: files holding content of another release, which the R4 rules did not check
        self.other_release: set[str] = set()
        #: where issues go while a bundle is read, to be reported in order at its end (None: to the report)
        self._held: list[Issue] | None = None
        #: given how many more resources were checked, every PROGRESS_STEP of them (a progress bar; None: nobody)
        self.progress: Callable[[int], None] | None = None

    def emit(self, code: str, message: str, target: str | None, value: Any, expected: str | None,
             severity: str | None) -> Issue:
        issue = Issue.of(code, message, file=self.file, row=self.row, target=target, value=value,
                         expected=expected, severity=Severity.parse(severity) if severity else None)
        if self.report.selected(code):
            if self._held is not None:
                self._held.append(issue)
            else:
                self.report.add(issue)
        return issue

    def _walked(self, code: str, message: str, target: str | None, value: Any, expected: str | None,
                severity: str | None) -> None:
        """An issue of the walker: an error rejects the resource it is in (selected for the report or not)."""
        issue = self.emit(code, message, target, value, expected, severity)
        if target is not None and issue.severity >= Severity.ERROR:
            entry = _ENTRY_RESOURCE.match(target)
            self.rejected.add((self.file or "", entry.group(0) if entry else target.split(".")[0], self.row))

    # --- inputs --------------------------------------------------------------------------------------------
    def validate_files(self, inputs: list[Path | Source]) -> None:
        for path in fhir_files(inputs):
            self.file, self.row = str(path), None
            if isinstance(path, Path):
                self.report.add(Issue.of("FB-IO-005", "the folder holds no FHIR JSON, XML or NDJSON file",
                                         file=str(path)))
            elif path.path is not None and not exists(path.path):
                self.report.add(no_such_file(path.path))
            elif path.suffix.lower() in NDJSON_SUFFIXES:
                self._ndjson(path)
            elif path.suffix.lower() in JSON_SUFFIXES:
                self._json(path)
            elif path.suffix.lower() in XML_SUFFIXES:
                self._xml(path)
            else:
                self.report.add(Issue.of("FB-IO-005", "not a FHIR JSON, XML or NDJSON file; it was not read",
                                         file=str(path)))
        self.file = self.row = None
        if self.progress is not None and self.resources % PROGRESS_STEP:
            self.progress(self.resources % PROGRESS_STEP)
        self.report.header.setdefault("fhir_release", self.walker.defs.fhir_version)
        self.report.ran("FB-IO-001", "FB-IO-006", "FB-IO-007")
        if self.resources:
            self.report.ran(*STRUCTURE_RULES)
        else:
            for code in STRUCTURE_RULES:
                self.report.skip(code, "no FHIR R4 resource in the input")
        if self.bundles:
            self.report.ran(*BUNDLE_RULES)
        else:
            for code in BUNDLE_RULES:
                self.report.skip(code, "no collection or transaction bundle in the input")
        if self.walker.not_evaluated:
            self.report.stats["invariants_not_evaluated"] = sorted(self.walker.not_evaluated)
        self.report.stats["resources"] = self.report.stats.get("resources", 0) + self.resources

    def _json(self, path: Source) -> None:
        """A JSON Bundle on disk is read entry by entry (flat memory on any size); anything else, and a file the
        entry reader cannot take or finds broken, whole (the same checks, and the JSON parser's own verdict)."""
        if path.path is not None and path.parsed is None:
            kept = self.resources, set(self.rejected), set(self.walker.not_evaluated)
            top: dict[str, Any] = {}
            try:
                chunks = json_entry_chunks(path, top)
                self._bundle(top, self.spill.keep_chunks(str(path), chunks, top) if self.spill is not None else chunks)
                return
            except OSError as exc:
                self.report.add(Issue.of("FB-IO-001", f"cannot read file: {exc.strerror or exc}", file=str(path)))
                return
            except (NotStreamable, BadDocument):
                self.resources, self.rejected, self.walker.not_evaluated = kept
        try:
            document = path.json()
        except OSError as exc:
            self.report.add(Issue.of("FB-IO-001", f"cannot read file: {exc.strerror or exc}", file=str(path)))
            return
        except orjson.JSONDecodeError as exc:
            self.report.add(Issue.of("FB-IO-006", f"not valid JSON: {exc}", file=str(path)))
            return
        self.document(document)

    def _xml(self, path: Source) -> None:
        """FHIR XML, through the FHIR spoke's mapping to the JSON form (which reports what it cannot map). A Bundle
        on disk is read entry by entry (``xml_bundle_entries``), with the report of the whole document: the
        problems of reading come first, as there; anything else is read whole."""
        if path.path is not None and path.parsed is None and self._xml_streamed(path):
            return
        problems: list[Issue] = []
        document = load_document(path, problems, "R4")
        for issue in problems:
            self.report.add(issue)
        if document is not None:
            self.document(document)

    def _xml_streamed(self, path: Source) -> bool:
        """Whether the XML Bundle at ``path`` could be checked entry by entry (else nothing of it is reported)."""
        kept = self.resources, set(self.rejected), set(self.walker.not_evaluated)
        report = self.report  # the issues of the stream go first to one of their own, after the problems here
        self.report = Report(select=report.select, ignore=report.ignore, max_issues=report.max_issues)
        top: dict[str, Any] = {}
        found: list[tuple[str, str]] = []
        try:
            self._bundle(top, _in_chunks(xml_bundle_entries(path, top, "R4", found)))
            streamed = self.report
        except (OSError, NotStreamable, BadDocument):
            self.resources, self.rejected, self.walker.not_evaluated = kept
            return False
        finally:
            self.report = report
        for where, message in found:
            report.add(Issue.of("FB-FHIR-056", f"{message}; not read", file=str(path), target=where))
        report.extend(streamed.issues)
        report.overflow.update(streamed.overflow)
        return True

    def _ndjson(self, path: Source) -> None:
        """One resource per line, read and checked one line at a time so memory stays flat on any size."""
        try:
            handle = path.open()
        except OSError as exc:
            self.report.add(Issue.of("FB-IO-001", f"cannot read file: {exc.strerror or exc}", file=str(path)))
            return
        with handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                self.row = number
                self.ndjson_lines += 1
                try:
                    resource = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    self.emit("FB-IO-007", f"line {number} is not JSON: {exc}", None, None, "one JSON object per line",
                              None)
                    continue
                self.walker.references.clear()
                if not self._of_another_release([resource]):
                    self._resource(resource, resource.get("resourceType", "Resource") if isinstance(resource, dict)
                                   else "Resource")
        self.row = None

    # --- documents -----------------------------------------------------------------------------------------
    def document(self, document: Any) -> None:
        """A Bundle (its entries are checked as resources, then the bundle's integrity) or a lone resource."""
        self.walker.references.clear()
        if isinstance(document, dict) and document.get("resourceType") == "Bundle":
            shell = dict(document)
            entries = shell.get("entry")
            if isinstance(entries, list):
                shell["entry"] = []
            self._bundle(shell, iter([entries] if isinstance(entries, list) else ()))
        elif not self._of_another_release([document]):
            self._resource(document, document.get("resourceType", "Resource") if isinstance(document, dict)
                           else "Resource")

    def _of_another_release(self, resources: list[Any], votes: Counter[str] | None = None) -> bool:
        """Whether a document is R5 by what its resources declare or by the shape of most of them (reported);
        ``votes`` are those of resources already gone by (a bundle's entries, counted as they were read)."""
        votes = Counter(votes)
        for resource in resources:
            votes.update(_release_votes(resource))
        if votes["R5"] <= votes["R4"]:
            return False
        if self.file not in self.other_release:
            self.other_release.add(self.file or "")
            self.emit("FB-FHIR-024", f"FHIR R5 content ({votes['R5']} of {votes['resources']} resources shaped or "
                      "declared so): the R4 rules did not run on it", None, None, "FHIR R4 content", None)
        return True

    def _counted(self) -> None:
        self.resources += 1
        if self.progress is not None and not self.resources % PROGRESS_STEP:
            self.progress(PROGRESS_STEP)

    def _resource(self, resource: Any, path: str) -> None:
        self._counted()
        self.walker.resource(resource, path)
        if isinstance(resource, dict):
            self.profiles.check(resource, path, self.emit)

    def _bundle(self, shell: dict[str, Any], chunks: Iterator[list[Any]]) -> None:
        """A Bundle given as its other elements (``shell``, where ``entry`` is an empty list standing for the
        array) and its entries, read a chunk at a time: each chunk is screened in one call (each entry on its own
        when the chunk holds one the screen rejects), each entry checked as it comes and only small keys are kept
        (for the integrity and identity rules, at the end). The issues are held until the end and put in the
        order of a walk of the whole document: nothing is reported of a file that turns out broken or of
        another release. ``shell`` may fill as the entries are read; if it is no Bundle, it is the document."""
        walked: list[Issue] = []  # the walk of each entry, in the place of ``entry`` in the walk of the shell
        checked: list[Issue] = []  # the profiles and identity of each resource, after the walk
        index, identity, votes = BundleEntries(), IdentityCheck(), Counter[str]()
        stubs: dict[tuple[bool, ...], dict[str, Any] | None] = {}
        try:
            for i, entry, screened in self._screened(chunks):
                self._held = walked
                where = f"Bundle.entry[{i}].resource"
                if screened is None:
                    start = len(self.walker.references)
                    self.walker.entry(entry, where[:-9], shell, shell)
                    met = self.walker.references[start:]
                    del self.walker.references[start:]
                else:
                    met = screened
                index.add(entry)
                # a reference that resolves keeps no path; the others are located in their resource, at once or
                # when too many resources wait for their targets (BundleEntries.settle), so that few resources are
                # held for a path shown only if one does not resolve
                index.settle(met, where)
                is_object = isinstance(entry, dict)
                if i == 0 or is_object:
                    kind = (i == 0, is_object and "search" in entry, is_object and "response" in entry)
                    if kind not in stubs:
                        stubs[kind] = _stub(entry, first=i == 0)
                resource = entry.get("resource") if is_object else None
                if not isinstance(resource, dict):
                    continue
                self._held = checked
                self._counted()
                _vote(resource, votes)
                self.profiles.check(resource, where, self.emit)
                full_url = entry.get("fullUrl")
                identity.add(resource, where, full_url if isinstance(full_url, str) else None, self.emit)
        finally:
            self._held = None
        if shell.get("resourceType") != "Bundle":
            self.document(shell)  # a lone resource: it had no entries
            return
        listed = isinstance(shell.get("entry"), list)
        if self._of_another_release([] if listed else [shell], votes):
            self.resources -= votes["resources"]
            self.rejected = {r for r in self.rejected if r[0] != (self.file or "")}
            return
        held: list[Issue] = []
        self._held = held

        def replay() -> None:
            held.extend(walked)
            self.walker.references.extend(index.pending_references())

        if listed and stubs:
            shell["entry"] = EntriesRead(list(stubs.values()), replay)
        self.walker.references.clear()
        try:
            self.walker.resource(shell, "Bundle")
            held.extend(checked)
            if listed:
                index.check(shell.get("type"), self.walker.references, self.emit)
            if isinstance(shell.get("type"), str) and shell["type"] in RESOLVING:
                self.bundles += 1
                identity.finish(self.emit)
        finally:
            self._held = None
            self.walker.references.clear()
        self.report.extend(held)


    def _screened(self, chunks: Iterator[list[Any]]) -> Iterator[tuple[int, Any, list[Reference] | None]]:
        """Each entry with its index and, when its chunk passed the screen as a whole, the references it holds
        (None: the entry is to be checked on its own)."""
        first = 0
        for chunk in chunks:
            met = self.walker.screen_entries(chunk, first, getattr(chunk, "no_empty_object", False))
            if met is None:
                for i, entry in enumerate(chunk, start=first):
                    yield i, entry, None
            else:
                for i, entry in enumerate(chunk):
                    yield first + i, entry, met[i]
            first += len(chunk)


def _in_chunks(entries: Iterator[Any], size: int = XML_CHUNK) -> Iterator[list[Any]]:
    """Entries read one at a time (an XML Bundle), in lists of ``size`` for the screen's one call per chunk."""
    chunk: list[Any] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _release_votes(resource: Any) -> Counter[str]:
    """The release a resource declares, or the one its shape tells when it tells one, as a vote."""
    votes = Counter({"resources": 0})
    _vote(resource, votes)
    return votes


def _vote(resource: Any, votes: Counter[str]) -> None:
    """Adds a resource's vote (see ``_release_votes``) to ``votes``: asked of every entry of a bundle, so without
    a Counter of its own."""
    votes["resources"] += 1
    if not isinstance(resource, dict):
        return
    stated = declared(resource)
    if stated:
        votes[family(stated)] += 1
        return
    shapes = shaped(resource)
    if len(shapes) == 1:
        votes[family(shapes[0])] += 1


def _stub(entry: Any, first: bool) -> dict[str, Any] | None:
    """What the Bundle's invariants look at in an entry: whether it has ``search`` and ``response``, and for the
    first entry the type of its resource (None for an entry that is not an object, which they pass over)."""
    if not isinstance(entry, dict):
        return None
    stub = {k: entry[k] for k in ("search", "response") if k in entry}
    resource = entry.get("resource")
    if first and isinstance(resource, dict):
        stub["resource"] = {k: resource[k] for k in ("resourceType",) if k in resource}
    return stub
