"""FHIR validation of any R4 content, ours or not: a Bundle or a resource as JSON or XML, or NDJSON streamed
line by line, every problem of every layer reported with its file, line and FHIRPath.

Layers, in one walk per resource: structure (cardinality, unknown elements, JSON shapes, choice types),
primitive values, required bindings, FHIRPath invariants, fhirbridge's terminology and profiles; then, per
bundle, integrity (fullUrl, request, references) and the identity of subjects across resources.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from fhirbridge.formats.fhir.checker.bundle import RESOLVING, check_bundle
from fhirbridge.formats.fhir.checker.identity import IdentityCheck
from fhirbridge.formats.fhir.checker.profiles import own_codes, own_profiles
from fhirbridge.formats.fhir.checker.structure import Walker, WalkOptions
from fhirbridge.formats.fhir.entries import load_document
from fhirbridge.formats.fhir.versions import declared, family, shape
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report

JSON_SUFFIXES = (".json",)
XML_SUFFIXES = (".xml",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
_ENTRY_RESOURCE = re.compile(r"Bundle\.entry\[\d+\]\.resource")

#: What each layer checks, for the report's account of the rules that ran.
STRUCTURE_RULES = ("FB-FHIR-010", "FB-FHIR-011", "FB-FHIR-012", "FB-FHIR-013", "FB-FHIR-014", "FB-FHIR-015",
                   "FB-FHIR-016", "FB-FHIR-017", "FB-FHIR-018", "FB-FHIR-019", "FB-FHIR-023", "FB-FHIR-030",
                   "FB-FHIR-031", "FB-FHIR-032", "FB-FHIR-033", "FB-FHIR-034")
BUNDLE_RULES = ("FB-FHIR-002", "FB-FHIR-020", "FB-FHIR-021", "FB-FHIR-022", "FB-FHIR-040")


def fhir_files(inputs: list[Path | Source]) -> list[Path | Source]:
    """The FHIR files of ``inputs`` (folders are searched, in name order; a folder without any stays a Path)."""
    found: list[Path | Source] = []
    for path in inputs:
        if isinstance(path, Path) and path.is_dir():
            found.extend([Source(p) for p in sorted(path.rglob("*"))
                          if p.suffix.lower() in JSON_SUFFIXES + XML_SUFFIXES + NDJSON_SUFFIXES] or [path])
        else:
            found.append(Source(path) if isinstance(path, Path) else path)
    return found


class FhirValidator:
    """Validates FHIR inputs into one Report."""

    def __init__(self, report: Report) -> None:
        self.report = report
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

    def emit(self, code: str, message: str, target: str | None, value: Any, expected: str | None,
             severity: str | None) -> Issue:
        issue = Issue.of(code, message, file=self.file, row=self.row, target=target, value=value,
                         expected=expected, severity=Severity.parse(severity) if severity else None)
        if self.report.selected(code):
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
        """FHIR XML, through the FHIR spoke's mapping to the JSON form (which reports what it cannot map)."""
        problems: list[Issue] = []
        document = load_document(path, problems, "R4")
        for issue in problems:
            self.report.add(issue)
        if document is not None:
            self.document(document)

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
                if not self._of_another_release(resource):
                    self._resource(resource, resource.get("resourceType", "Resource") if isinstance(resource, dict)
                                   else "Resource")
        self.row = None

    # --- documents -----------------------------------------------------------------------------------------
    def document(self, document: Any) -> None:
        """A Bundle (its entries are checked as resources, then the bundle's integrity) or a lone resource."""
        self.walker.references.clear()
        if self._of_another_release(document):
            return
        if isinstance(document, dict) and document.get("resourceType") == "Bundle":
            self._bundle(document)
        else:
            self._resource(document, document.get("resourceType", "Resource") if isinstance(document, dict)
                           else "Resource")

    def _of_another_release(self, document: Any) -> bool:
        """Whether a document is R5 by what it declares or by the shape of most of its resources (reported)."""
        if not isinstance(document, dict):
            return False
        entries = document.get("entry") if document.get("resourceType") == "Bundle" else None
        resources = [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)
                     ] if isinstance(entries, list) else [document]
        votes = {"R4": 0, "R5": 0}
        for resource in resources:
            stated = declared(resource)
            shaped = {family(r) for r in shape(resource)}
            for release in {family(stated)} if stated else shaped if len(shaped) == 1 else ():
                votes[release] += 1
        if votes["R5"] <= votes["R4"]:
            return False
        if self.file not in self.other_release:
            self.other_release.add(self.file or "")
            self.emit("FB-FHIR-024", f"FHIR R5 content ({votes['R5']} of {len(resources)} resources shaped or "
                      "declared so): the R4 rules did not run on it", None, None, "FHIR R4 content", None)
        return True

    def _resource(self, resource: Any, path: str) -> None:
        self.resources += 1
        self.walker.resource(resource, path)
        if isinstance(resource, dict):
            self.profiles.check(resource, path, self.emit)

    def _bundle(self, bundle: dict[str, Any]) -> None:
        self.walker.resource(bundle, "Bundle")
        entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
        identity = IdentityCheck()
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            self.resources += 1
            path = f"Bundle.entry[{i}].resource"
            self.profiles.check(resource, path, self.emit)
            full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
            identity.add(resource, path, full_url, self.emit)
        check_bundle(bundle, self.walker.references, self.emit)
        if isinstance(bundle.get("type"), str) and bundle["type"] in RESOLVING:
            self.bundles += 1
            identity.finish(self.emit)
        self.walker.references.clear()

