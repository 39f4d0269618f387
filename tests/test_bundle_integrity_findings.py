"""Bundle integrity findings (duplicate fullUrl, entry requests, references that do not resolve or resolve to a type
their element does not allow) and subject identity across records, pinned issue for issue on small bundles, for
a Bundle checked whole (the writer's check) and streamed entry by entry from a file (``validate``, JSON and XML)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirbridge.formats.fhir import xml
from fhirbridge.formats.fhir.checker import output
from fhirbridge.formats.fhir.checker.bundle import BundleEntries
from fhirbridge.formats.fhir.checker.validator import FhirValidator
from fhirbridge.issues.report import Report

CODES = ("FB-FHIR-002", "FB-FHIR-020", "FB-FHIR-021", "FB-FHIR-022", "FB-FHIR-040")
STUDY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/workflow-researchStudy"


def _patient(pid: str, **more: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, **more}


def _observation(oid: str, subject: str, **more: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "code": {"text": "x"},
            "subject": {"reference": subject}, **more}


def _bundle(entries: list[Any], kind: str = "collection") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def _entry(resource: dict[str, Any], url: str | None = None, **more: Any) -> dict[str, Any]:
    return {**({"fullUrl": url} if url is not None else {}), "resource": resource, **more}


def _findings(issues: list[Any]) -> list[tuple[str, str | None, str]]:
    return [(i.code, i.target, i.message) for i in issues if i.code in CODES]


def _whole(bundle: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return _findings(output.check_bundle(bundle))


def _streamed(bundle: dict[str, Any], path: Path) -> list[tuple[str, str | None, str]]:
    if path.suffix == ".xml":
        path.write_bytes(xml.to_bytes(xml.to_xml(bundle, "R4")))
    else:
        path.write_text(json.dumps(bundle), encoding="utf-8")
    report = Report()
    FhirValidator(report).validate_files([path])
    return _findings(report.issues)


CASES: dict[str, tuple[dict[str, Any], list[tuple[str, str | None, str]]]] = {
    "duplicate fullUrls": (_bundle([
        _entry(_patient("a"), "urn:uuid:1"), _entry(_patient("b"), "urn:uuid:2"),
        _entry(_patient("c"), "urn:uuid:1"), _entry(_patient("d"), "urn:uuid:1"),
        _entry(_patient("e", meta={"versionId": "2"}), "urn:uuid:2"),
    ]), [
        ("FB-FHIR-020", "Bundle.entry[2].fullUrl", "bdl-7: fullUrl urn:uuid:1 is also the fullUrl of entry 0"),
        ("FB-FHIR-020", "Bundle.entry[3].fullUrl", "bdl-7: fullUrl urn:uuid:1 is also the fullUrl of entry 0"),
    ]),
    "versions of one fullUrl": (_bundle([
        _entry(_patient("a", meta={"versionId": "1"}), "urn:uuid:1"),
        _entry(_patient("a", meta={"versionId": "2"}), "urn:uuid:1"),
        _entry(_patient("a", meta={"versionId": "2"}), "urn:uuid:1"),
    ]), [
        ("FB-FHIR-020", "Bundle.entry[2].fullUrl", "bdl-7: fullUrl urn:uuid:1 is also the fullUrl of entry 1"),
    ]),
    "references": (_bundle([
        _entry(_observation("o1", "urn:uuid:p"), "urn:uuid:o1"),  # forward, resolves
        _entry(_patient("p"), "urn:uuid:p"),
        _entry(_observation("o2", "urn:uuid:nobody"), "urn:uuid:o2"),
        _entry(_observation("o3", "urn:uuid:o1"), "urn:uuid:o3"),  # an Observation as subject
        _entry(_observation("o4", "Patient/p"), "urn:uuid:o4"),  # relative, by Type/id
        _entry(_observation("o5", "Patient/q"), "urn:uuid:o5"),
        _entry(_observation("o6", "urn:uuid:o7"), "urn:uuid:o6"),  # forward, to an Observation
        _entry(_observation("o7", "#c"), "urn:uuid:o7"),
    ]), [
        ("FB-FHIR-002", "Bundle.entry[2].resource.subject.reference",
         "reference urn:uuid:nobody does not resolve to an entry of the collection bundle"),
        ("FB-FHIR-022", "Bundle.entry[3].resource.subject.reference",
         "reference urn:uuid:o1 points at a Observation; this element allows Device, Group, Location, Patient"),
        ("FB-FHIR-002", "Bundle.entry[5].resource.subject.reference",
         "reference Patient/q does not resolve to an entry of the collection bundle"),
        ("FB-FHIR-022", "Bundle.entry[6].resource.subject.reference",
         "reference urn:uuid:o7 points at a Observation; this element allows Device, Group, Location, Patient"),
    ]),
    "server base": (_bundle([
        _entry(_patient("p"), "https://x.org/fhir/Patient/p"),
        _entry(_observation("o1", "Patient/p"), "https://x.org/fhir/Observation/o1"),
        _entry(_observation("o2", "Patient/p"), "urn:uuid:o2"),
        _entry(_observation("o3", "Patient/z"), "https://x.org/fhir/Observation/o3"),
    ]), [
        ("FB-FHIR-002", "Bundle.entry[3].resource.subject.reference",
         "reference Patient/z does not resolve to an entry of the collection bundle"),
    ]),
    "transaction": (_bundle([
        _entry(_patient("a"), "urn:uuid:1", request={"method": "POST", "url": "Patient"}),
        _entry(_patient("b"), "urn:uuid:2"),
        _entry(_observation("o", "Patient?identifier=x|1"), "urn:uuid:3",
               request={"method": "POST", "url": "Observation"}),
    ], "transaction"), [
        ("FB-FHIR-021", "Bundle.entry[1]", "bdl-3: entry of a transaction bundle has no request"),
    ]),
    "collection with a request": (_bundle([
        _entry(_patient("a"), "urn:uuid:1"),
        _entry(_patient("b"), "urn:uuid:1", request={"method": "POST", "url": "Patient"}),
    ]), [
        ("FB-FHIR-020", "Bundle.entry[1].fullUrl", "bdl-7: fullUrl urn:uuid:1 is also the fullUrl of entry 0"),
        ("FB-FHIR-021", "Bundle.entry[1].request", "bdl-3: entry of a collection bundle must not have a request"),
    ]),
    "study enrolment": (_bundle([
        _entry({"resourceType": "ResearchStudy", "id": "s1", "status": "active"}, "urn:uuid:s1"),
        _entry({"resourceType": "ResearchStudy", "id": "s2", "status": "active"}, "urn:uuid:s2"),
        _entry(_patient("p"), "urn:uuid:p"),
        _entry({"resourceType": "ResearchSubject", "id": "rs", "status": "on-study",
                "study": {"reference": "ResearchStudy/s1"}, "individual": {"reference": "urn:uuid:p"}},
               "urn:uuid:rs"),
        _entry(_observation("o1", "Patient/p", extension=[
            {"url": STUDY_EXTENSION, "valueReference": {"reference": "urn:uuid:s1"}}]), "urn:uuid:o1"),
        _entry(_observation("o2", "urn:uuid:p", extension=[
            {"url": "http://example.org/x", "valueString": "y"},
            {"url": STUDY_EXTENSION, "valueReference": {"reference": "urn:uuid:s2"}}]), "urn:uuid:o2"),
    ]), [
        ("FB-FHIR-040", "Bundle.entry[5].resource.extension[1].valueReference",
         "the record names study urn:uuid:s2, but its patient urn:uuid:p is enrolled in urn:uuid:s1"),
    ]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_integrity_findings_of_a_bundle_checked_whole(case: str) -> None:
    bundle, expected = CASES[case]
    assert _whole(bundle) == [e for e in expected if e[0] != "FB-FHIR-040"]  # identity is validate's


@pytest.mark.parametrize("suffix", [".json", ".xml"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_integrity_findings_of_a_bundle_streamed_from_a_file(case: str, suffix: str, tmp_path: Path) -> None:
    bundle, expected = CASES[case]
    assert _streamed(bundle, tmp_path / f"bundle{suffix}") == expected


def test_the_first_entry_of_a_fullurl_is_found_among_many() -> None:
    """bdl-7 names the first entry holding a fullUrl, however far back, whatever came between."""
    index = BundleEntries()
    for i in range(5000):
        index.add({"fullUrl": f"urn:uuid:{i % 1000}", "resource": {"resourceType": "Patient", "id": str(i)}})
    found: list[tuple[str, str]] = []
    index.check("collection", [], lambda code, message, target, *_: found.append((code, target)))
    assert len(found) == 4000
    assert found[0] == ("FB-FHIR-020", "Bundle.entry[1000].fullUrl")
    assert found[-1] == ("FB-FHIR-020", "Bundle.entry[4999].fullUrl")
