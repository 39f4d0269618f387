"""FHIR XML: output valid against the official schemas, a generic JSON ↔ XML mapping that loses nothing
(primitive extensions, repeating primitives, narrative, contained resources), and hardened parsing."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from conftest import EXAMPLE, SHARED, SYNTHETIC_MEDDRA
from lxml import etree

from fhirbridge import api
from fhirbridge.formats.fhir import xml
from fhirbridge.formats.options import ConvertOptions

XSD = SHARED / "reference" / "fhir-xsd"
XS = "http://www.w3.org/2001/XMLSchema"
needs_xsd = pytest.mark.skipif(not XSD.is_dir(), reason=f"the FHIR schemas are not in {XSD}")


def _xml(source: Path, out: Path, release: str, bundle_type: str = "collection") -> etree._Element:
    options = ConvertOptions(fhir_format="xml", fhir_version=release, bundle_type=bundle_type)  # type: ignore[arg-type]
    assert api.convert([source], out, options=options).exit_code == 0
    return etree.parse(str(out / "bundle.xml")).getroot()


@needs_xsd
def test_r4_output_validates_against_the_official_schema(tmp_path, study_dir):
    schema = etree.XMLSchema(etree.parse(str(XSD / "R4" / "fhir-single.xsd")))
    example = _xml(EXAMPLE, tmp_path / "example", "R4")
    assert schema.validate(example), [str(e) for e in list(schema.error_log)[:5]]
    # the resources, and a Provenance for each subject and for the study
    assert len(example.findall(f"{{{xml.FHIR_NS}}}entry")) == 971 + 14
    # with the SYNTHETIC MedDRA hierarchy: an extension on a Coding, Codings as extension values
    transaction = _xml(study_dir(lambda t: t["adverse_events.csv"][0].update(SYNTHETIC_MEDDRA)),
                       tmp_path / "transaction", "R4", "transaction")
    assert schema.validate(transaction), [str(e) for e in list(schema.error_log)[:5]]
    ns = f"{{{xml.FHIR_NS}}}"
    assert len(transaction.findall(f".//{ns}AdverseEvent/{ns}extension/{ns}valueCoding")) == 3  # HLT, HLGT, SOC
    assert transaction.find(f".//{ns}event/{ns}coding/{ns}extension") is not None  # the LLT's level
    assert transaction.find(f"{{{xml.FHIR_NS}}}entry/{{{xml.FHIR_NS}}}request") is not None


def _r5_ballot_schema() -> etree.XMLSchema:
    """The R5 folder holds the 4.6.0 ballot schema, which names a type it never defines (ResourceType, for
    CapabilityStatement.rest.resource.type); it is declared here as the code type it is, in memory only."""
    document = etree.parse(str(XSD / "R5" / "fhir-single.xsd"))
    declared = etree.SubElement(document.getroot(), f"{{{XS}}}complexType", name="ResourceType")
    extension = etree.SubElement(etree.SubElement(declared, f"{{{XS}}}complexContent"), f"{{{XS}}}extension",
                                 base="Element")
    etree.SubElement(extension, f"{{{XS}}}attribute", name="value", type="code-primitive", use="optional")
    return etree.XMLSchema(document)


#: Resources whose 5.0.0 structure differs from the 4.6.0 ballot the schema describes: productCategory became a
#: Coding and identifier moved; AdverseEvent.suspectEntity moved after study; ResearchStudy gained region.
BALLOT_DIFFERS = {"BiologicallyDerivedProduct", "AdverseEvent", "ResearchStudy"}


@needs_xsd
def test_r5_output_validates_against_the_ballot_schema_where_r5_did_not_change(tmp_path):
    schema = _r5_ballot_schema()
    root = _xml(EXAMPLE, tmp_path, "R5")
    valid: dict[str, set[bool]] = defaultdict(set)
    for resource in root.iterfind(f"{{{xml.FHIR_NS}}}entry/{{{xml.FHIR_NS}}}resource/*"):
        valid[etree.QName(resource).localname].add(schema.validate(etree.ElementTree(resource)))
    assert {name for name, results in valid.items() if results == {True}} == {
        "Patient", "ResearchSubject", "Condition", "Procedure", "Observation", "Provenance"}
    assert {name for name, results in valid.items() if False in results} == BALLOT_DIFFERS


def _round_trip(resource: dict, release: str = "R4") -> tuple[dict, bytes]:
    data = xml.to_bytes(xml.to_xml(resource, release))  # type: ignore[arg-type]
    back, problems = xml.from_xml(xml.parse(data), release)  # type: ignore[arg-type]
    assert problems == []
    return back, data


def test_primitive_extensions_repeating_primitives_narrative_and_contained_resources_round_trip():
    patient = {
        "resourceType": "Patient", "id": "p1",
        "text": {"status": "generated",
                 "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Jane <b>Doe</b></p> </div>'},
        "contained": [{"resourceType": "Organization", "id": "org", "name": "Site 01", "active": True}],
        "extension": [{"url": "https://example.org/score", "valueDecimal": 1.25}],
        "name": [{"family": "Doe", "given": ["Jane", None, "Q"],
                  "_given": [None, {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                                   "valueCode": "masked"}]}, {"id": "g3"}]}],
        "gender": "female",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                      "valueCode": "unknown"}]},
        "multipleBirthInteger": 2,
        "managingOrganization": {"reference": "#org"},
    }
    back, data = _round_trip(patient)
    assert back == patient
    text = data.decode()
    assert '<given value="Jane"/>' in text and '<given id="g3" value="Q"/>' in text
    assert '<birthDate>\n    <extension url="http://hl7.org/fhir/StructureDefinition/data-absent-reason">' in text
    assert '<div xmlns="http://www.w3.org/1999/xhtml"><p>Jane <b>Doe</b></p> </div>' in text
    assert "<contained>\n    <Organization>" in text


def test_elements_are_written_in_the_order_of_the_specification():
    observation = {"resourceType": "Observation", "valueInteger": 3, "subject": {"reference": "Patient/1"},
                   "code": {"text": "x"}, "status": "final", "id": "o1"}
    _, data = _round_trip(observation)
    order = [etree.QName(e).localname for e in xml.parse(data)]
    assert order == ["id", "status", "code", "subject", "valueInteger"]


def test_unknown_elements_are_reported_with_their_path():
    data = (b'<Patient xmlns="http://hl7.org/fhir"><id value="p"/><gender value="male"/>'
            b'<favouriteColour value="blue"/><name><family value="Doe"/><nickname value="J"/></name></Patient>')
    resource, problems = xml.from_xml(xml.parse(data), "R4")
    assert resource == {"resourceType": "Patient", "id": "p", "gender": "male", "name": [{"family": "Doe"}]}
    assert [where for where, _ in problems] == ["Patient.favouriteColour", "Patient.name[0].nickname"]


def test_writing_refuses_content_the_release_does_not_define():
    with pytest.raises(ValueError, match="occurrenceDateTime"):
        xml.to_xml({"resourceType": "AdverseEvent", "occurrenceDateTime": "2020"}, "R4")


@pytest.mark.parametrize("document", [
    b'<!DOCTYPE Patient SYSTEM "http://attacker.invalid/x.dtd"><Patient xmlns="http://hl7.org/fhir"/>',
    b'<?xml version="1.0"?>\n<!doctype Patient [<!ENTITY x "y">]><Patient xmlns="http://hl7.org/fhir"/>',
])
def test_a_doctype_is_refused(document):
    with pytest.raises(xml.XmlInputError) as caught:
        xml.parse(document)
    assert caught.value.code == "FB-FHIR-051"


def test_xml_input_converts_like_json(tmp_path, study_dir):
    for fmt in ("json", "xml"):
        options = ConvertOptions(fhir_format=fmt)  # type: ignore[arg-type]
        assert api.convert([study_dir()], tmp_path / fmt, options=options).exit_code == 0
    reports = {fmt: api.convert([tmp_path / fmt], tmp_path / f"{fmt}-csv", source="fhir", target="csv")
               for fmt in ("json", "xml")}
    assert all(r.exit_code == 0 for r in reports.values())
    for path in sorted((tmp_path / "json-csv").glob("*.csv")):
        assert path.read_bytes() == (tmp_path / "xml-csv" / path.name).read_bytes()
    assert orjson.loads((tmp_path / "json" / "bundle.json").read_bytes())["type"] == "collection"


def test_xml_input_files_are_found_in_folders(tmp_path):
    (tmp_path / "p.xml").write_bytes(b'<Patient xmlns="http://hl7.org/fhir"><id value="p"/></Patient>')
    report = api.validate([tmp_path], source="fhir")
    assert any(i.code == "FB-FHIR-060" and i.file == str(tmp_path / "p.xml") for i in report.issues)


@pytest.mark.parametrize(("resource", "release"), [
    ({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}, "period": {"start": "2020"}},
     "R4"),
    ({"resourceType": "Encounter", "status": "completed", "class": [{"text": "ambulatory"}]}, "R5"),
    ({"resourceType": "Task", "status": "draft", "intent": "order", "for": {"reference": "Patient/1"}}, "R4"),
])
def test_elements_named_as_python_keywords_round_trip(resource, release):
    """``class`` and ``for`` are renamed fields in the models the writer orders by; the reader, which reads the
    definitions, never saw the renaming."""
    back, data = _round_trip(resource, release)
    assert back == resource
    assert b"<class>" in data or b"<for>" in data


def test_reading_takes_the_elements_of_the_release_read():
    """Reading follows the checker's definitions of the release: R4 4.0.1's (R4B content too), R5's."""
    data = (b'<AdverseEvent xmlns="http://hl7.org/fhir"><actuality value="actual"/><code><text value="x"/></code>'
            b'<event><text value="y"/></event><subject><reference value="Patient/1"/></subject></AdverseEvent>')
    for release, unknown in (("R4", "code"), ("R4B", "code"), ("R5", "event")):
        resource, problems = xml.from_xml(xml.parse(data), release)  # type: ignore[arg-type]
        assert [where for where, _ in problems] == [f"AdverseEvent.{unknown}"], release
        assert unknown not in resource and resource["subject"] == {"reference": "Patient/1"}
