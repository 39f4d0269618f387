"""Input files → located resources: Bundles (any type), bare resources, as JSON or XML.

Every resource keeps where it is: the file, the FHIRPath of the resource (``Bundle.entry[3].resource``, or its
type for a bare resource or an NDJSON line) and the NDJSON line number, so that an issue on any element can
name ``file, line 12, Observation.component[4]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import orjson

from fhirbridge.formats.fhir import xml
from fhirbridge.formats.fhir.checker.definitions import is_resource_type
from fhirbridge.formats.fhir.models import RELEASES, Release
from fhirbridge.formats.fhir.ndjson import SUFFIXES as NDJSON_SUFFIXES
from fhirbridge.formats.fhir.versions import ReleaseEvidence
from fhirbridge.inputs import Source, expand
from fhirbridge.issues.issue import Issue

#: Bundle types whose entries are resources to read.
BUNDLE_TYPES = ("collection", "transaction", "batch", "searchset")
JSON_SUFFIXES = (".json",)
XML_SUFFIXES = (".xml",)


@dataclass(frozen=True)
class Entry:
    """One resource of the input and where it is."""

    resource: dict[str, Any]
    file: str
    path: str
    line: int | None = None
    full_url: str | None = None

    @cached_property
    def type(self) -> str:
        """The resource type (asked many times per resource read; the resource is never changed)."""
        return str(self.resource.get("resourceType"))

    def at(self, element: str = "") -> str:
        """The FHIRPath of an element of the resource (``component[3].valueCodeableConcept``)."""
        return f"{self.path}.{element}" if element else self.path

    def issue(self, code: str, message: str, element: str = "", **kwargs: Any) -> Issue:
        return Issue.at(code, message, self.file, self.line, f"{self.path}.{element}" if element else self.path,
                        **kwargs)


def ref_key(reference: str) -> str:
    """The id a reference points at: ``urn:uuid:X``, ``Patient/X``, ``https://server/fhir/Patient/X/_history/2``
    and a Bundle fullUrl all give ``X``."""
    if reference.startswith("urn:uuid:"):
        return reference[len("urn:uuid:"):]
    return reference.split("/_history/")[0].rstrip("/").rpartition("/")[2]


#: The manifests of a FHIR package folder (``fhirbridge profiles export`` writes one): not resources, and not read
#: as FHIR content when a folder is searched.
PACKAGE_MANIFESTS = frozenset({"package.json", ".index.json"})


def input_files(inputs: Iterable[Path | Source]) -> list[Source]:
    """Files named directly, plus the FHIR files (JSON, XML, NDJSON) of named folders, in a stable order."""
    suffixes = (*JSON_SUFFIXES, *XML_SUFFIXES, *NDJSON_SUFFIXES)
    return expand(inputs, lambda folder: sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes
                                                and p.is_file() and p.name not in PACKAGE_MANIFESTS))


def is_ndjson(path: Source) -> bool:
    return path.suffix.lower() in NDJSON_SUFFIXES


def load_document(path: Source, issues: list[Issue], asked: Release | None) -> Any:
    """The JSON form of a JSON or XML file (None when it cannot be read at all: a fatal issue says why)."""
    name = str(path)
    if path.parsed is not None:  # handed over parsed: nothing to read
        return path.parsed
    try:
        data = path.read_bytes()
    except OSError as exc:
        issues.append(Issue.of("FB-IO-001", f"cannot read file: {exc.strerror or exc}", file=name))
        return None
    if not data.strip():
        issues.append(Issue.of("FB-IO-002", "file is empty", file=name))
        return None
    if path.suffix.lower() in XML_SUFFIXES or data.lstrip()[:1] == b"<":
        return _load_xml(data, name, issues, asked)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        issues.append(Issue.of("FB-IO-006", f"not valid JSON: {exc}", file=name))
        return None


def _load_xml(data: bytes, name: str, issues: list[Issue], asked: Release | None) -> Any:
    try:
        root = xml.parse(data)
    except xml.XmlInputError as exc:
        issues.append(Issue.of(exc.code, str(exc), file=name))
        return None
    resource, problems = xml.from_xml(root, xml_release(root) or asked or "R4")
    for where, message in problems:
        issues.append(Issue.of("FB-FHIR-056", f"{message}; not read", file=name, target=where))
    return resource or None


def xml_release(root: Any) -> Release | None:
    """The release an XML document is written in (its element tables differ), from what it declares or the
    element names of its resources; None when it does not tell. It is read with the tables of that release,
    so that nothing is lost on the way, and its JSON form is then checked against the release the input is
    read as, like any JSON input (an R5 document read as R4 is reported resource by resource)."""
    evidence = ReleaseEvidence()
    for node in root.iter(f"{{{xml.FHIR_NS}}}*"):
        parent = node.getparent()
        if parent is None or parent.tag in (f"{{{xml.FHIR_NS}}}resource", f"{{{xml.FHIR_NS}}}contained"):
            names = {_local(child.tag): True for child in node if isinstance(child.tag, str)}
            version = node.find(f"{{{xml.FHIR_NS}}}fhirVersion")
            if version is not None:
                names = {**names, "fhirVersion": version.get("value")}
            evidence.add({"resourceType": _local(node.tag), **names}, "the XML document")
    if not (evidence.declarations or evidence.shapes):
        return None
    return evidence.decide(None)[0]


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def known_type(name: object) -> bool:
    """A resource type of some FHIR release (whether it fits the release read is checked per resource)."""
    return isinstance(name, str) and _known_type(name)


@lru_cache(maxsize=4096)
def _known_type(name: str) -> bool:
    return any(is_resource_type(release, name) for release in RELEASES)


def document_entries(document: Any, name: str, issues: list[Issue]) -> Iterator[Entry]:
    """The resources of one JSON document: a Bundle's entries, or the document itself when it is a resource."""
    if not isinstance(document, dict) or not known_type(document.get("resourceType")):
        found = document.get("resourceType") if isinstance(document, dict) else None
        issues.append(Issue.of("FB-FHIR-052", "the file is not a FHIR resource: a JSON object with the resourceType "
                                              "of a FHIR resource is expected", file=name, value=found))
        return
    if document["resourceType"] != "Bundle":
        yield Entry(document, name, document["resourceType"])
        return
    check_bundle_type(document.get("type"), name, issues)
    entries = document.get("entry", [])
    for i, item in enumerate(entries if isinstance(entries, list) else []):
        entry = bundle_entry(item, i, name, issues)
        if entry is not None:
            yield entry


def check_bundle_type(kind: Any, name: str, issues: list[Issue]) -> None:
    if kind not in BUNDLE_TYPES:
        issues.append(Issue.of("FB-FHIR-054", f"a Bundle of type {kind!r} is read like a collection",
                               file=name, target="Bundle.type", value=kind, expected=", ".join(BUNDLE_TYPES)))


def bundle_entry(entry: Any, i: int, name: str, issues: list[Issue]) -> Entry | None:
    """The resource of a Bundle's i-th entry, or None when it has none fhirbridge could read (reported)."""
    path = f"Bundle.entry[{i}]"
    resource = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(resource, dict):
        request = entry.get("request") if isinstance(entry, dict) else None
        what = f" (a {request.get('method')} request)" if isinstance(request, dict) else ""
        issues.append(Issue.of("FB-FHIR-053", f"the entry has no resource{what}; nothing of it is converted",
                               file=name, target=path))
        return None
    if not known_type(resource.get("resourceType")):
        issues.append(Issue.of("FB-FHIR-052", f"{resource.get('resourceType')!r} is not a FHIR resource type",
                               file=name, target=f"{path}.resource.resourceType", value=resource.get("resourceType")))
        return None
    full_url = entry.get("fullUrl")
    return Entry(resource, name, f"{path}.resource", full_url=full_url if isinstance(full_url, str) else None)
