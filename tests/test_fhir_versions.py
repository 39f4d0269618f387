"""FHIR releases: R4, R4B and R5 output, each valid for the models of its release and meeting fhirbridge's
published profiles; R5's changed resources mapped element by element; the release of an input detected."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from conftest import EXAMPLE

from fhirbridge import api
from fhirbridge.cli import main
from fhirbridge.formats.fhir.checker.definitions import load, resource_elements
from fhirbridge.formats.fhir.models import model_class, structure_errors
from fhirbridge.formats.fhir.profiles import EXTENSIONS, PROFILES, conformance_resources
from fhirbridge.formats.fhir.terminology import concepts
from fhirbridge.formats.fhir.versions import R4B_ADDED, shape, shaped
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping


def _bundle(source: Path, out: Path, release: str | None, **options) -> tuple[dict, Report]:
    report = api.convert([source], out, options=ConvertOptions(fhir_version=release, **options))  # type: ignore[arg-type]
    return orjson.loads((out / "bundle.json").read_bytes()), report


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> dict[str, dict]:
    """The example study written as R4, R4B and R5."""
    return {release: _bundle(EXAMPLE, tmp_path_factory.mktemp(release), release)[0] for release in ("R4", "R4B", "R5")}


def _resources(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


@pytest.mark.parametrize(("release", "version"), [("R4", "4.0.1"), ("R4B", "4.3.0"), ("R5", "5.0.0")])
def test_each_release_validates_with_its_own_models(tmp_path, study_dir, release, version):
    bundle, report = _bundle(study_dir(), tmp_path, release)
    assert report.header["fhir_release"] == version
    assert [i for i in report.issues if i.code.startswith("FB-FHIR")] == []
    model_release = "R5" if release == "R5" else "R4"
    for entry in bundle["entry"]:
        assert structure_errors(entry["resource"], model_release) == [], entry["resource"]["resourceType"]


def test_r4b_output_is_r4_output(example):
    def kept(bundle: dict) -> list:  # all but the Provenances (the time of the conversion)
        return [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Provenance"]

    assert kept(example["R4B"]) == kept(example["R4"])


def test_r5_adverse_event(example):
    infusions = {r["id"] for r in _resources(example["R5"], "Procedure")}
    event = next(r for r in _resources(example["R5"], "AdverseEvent") if r.get("mitigatingAction"))
    assert event["status"] == "completed" and event["actuality"] == "actual"
    assert event["code"]["coding"][0]["system"] == "http://terminology.hl7.org/CodeSystem/mdr"
    assert set(event["occurrencePeriod"]) == {"start", "end"} and "date" not in event
    assert "severity" not in event
    [severity] = [e for e in event["extension"] if e["url"].endswith("/ae-research-ig/StructureDefinition/ae-severity")]
    assert severity["valueCodeableConcept"]["coding"][0]["code"] in ("mild", "moderate", "severe")
    [suspect] = event["suspectEntity"]
    assert suspect["instanceReference"]["reference"].removeprefix("urn:uuid:") in infusions
    assert suspect["causality"]["entityRelatedness"]["coding"]
    assert isinstance(event["outcome"], list) and event["mitigatingAction"][0]["itemCodeableConcept"]["coding"]
    r4 = next(r for r in _resources(example["R4"], "AdverseEvent") if r["id"] == event["id"])
    assert "severity" in r4 and r4["date"] == event["occurrencePeriod"]["start"]


def test_r5_procedure_uses_its_product_natively(example):
    products = {f"urn:uuid:{r['id']}": r for r in _resources(example["R5"], "BiologicallyDerivedProduct")}
    infusions = [r for r in _resources(example["R5"], "Procedure") if "used" in r]
    assert len(infusions) == 13
    for infusion in infusions:
        assert infusion["used"][0]["reference"]["reference"] in products
        assert "occurrencePeriod" in infusion and "performedPeriod" not in infusion
        assert infusion["reason"][0]["reference"]["reference"].startswith("urn:uuid:")
        assert not any(e["url"].endswith("extension-Procedure.used") for e in infusion["extension"])
    assert all(p["productCategory"]["code"] == "cells" for p in products.values())


def test_r5_research_study_and_subject(example):
    [study] = _resources(example["R5"], "ResearchStudy")
    assert study["status"] == "active"
    assert study["progressStatus"][0]["state"]["coding"][0]["code"] == "completed"
    assert study["region"][0]["coding"][0]["code"] == "JPN"
    assert study["comparisonGroup"][0]["name"] == "MSC"
    subjects = _resources(example["R5"], "ResearchSubject")
    assert {s["status"] for s in subjects} == {"active"}
    assert {s["progress"][0]["subjectState"]["coding"][0]["code"] for s in subjects} == {"on-study"}
    assert all(s["subject"]["reference"].startswith("urn:uuid:") and "individual" not in s for s in subjects)


def test_a_study_without_arm_code_says_so_rather_than_inventing_one(tmp_path, study_dir):
    source = study_dir(lambda t: t["study.csv"][0].update(arm_code=""))
    for release, element in (("R4", "arm"), ("R5", "comparisonGroup")):
        bundle, _ = _bundle(source, tmp_path / release, release)
        [arm] = _resources(bundle, "ResearchStudy")[0][element]
        assert "name" not in arm and arm["_name"]["extension"][0]["valueCode"] == "unknown"
        data = api.read([tmp_path / release], Report(), source="fhir")
        assert (data.studies[0].arm_code, data.studies[0].arm) == (None, "MSC infusion")


# detecting the release of an input -----------------------------------------------------------------------

def test_the_release_is_told_by_the_shape_of_the_resources(tmp_path, study_dir):
    _bundle(study_dir(), tmp_path, "R5")
    report = Report()
    data = api.read([tmp_path], report, source="fhir")
    assert (report.header["fhir_release"], report.header["fhir_release_from"]) == ("5.0.0",
                                                                                    "the shape of its resources")
    assert len(data.subjects) == 2 and len(data.infusions) == 2


def test_a_capability_statement_declares_the_release_of_an_export(tmp_path, study_dir):
    api.convert([study_dir()], tmp_path, options=ConvertOptions(fhir_format="ndjson", fhir_version="R5"))
    statement = {"resourceType": "CapabilityStatement", "status": "active", "date": "2024", "kind": "instance",
                 "fhirVersion": "5.0.0", "format": ["json"]}
    (tmp_path / "metadata.json").write_bytes(orjson.dumps(statement))
    report = Report()
    api.read([tmp_path], report, source="fhir")
    assert report.header["fhir_release"] == "5.0.0"
    assert report.header["fhir_release_from"].startswith("declared in metadata.json")


def test_mixed_releases_are_reported(tmp_path, study_dir):
    source = study_dir()
    for release in ("R4", "R5"):
        _bundle(source, tmp_path / release, release)
    report = Report()
    api.read([tmp_path / "R4" / "bundle.json", tmp_path / "R5" / "bundle.json"], report, source="fhir")
    assert report.header["fhir_release"] == "4.0.1"
    [unclear] = [i for i in report.issues if i.code == "FB-FHIR-058"]
    assert "R4" in unclear.message and "R5" in unclear.message
    assert {Path(i.file).parent.name for i in report.issues if i.code == "FB-FHIR-057"} == {"R5"}


def test_fhir_version_option_on_the_command_line(tmp_path, study_dir):
    runner = CliRunner()
    result = runner.invoke(main, ["convert", "--to", "fhir", "--fhir-version", "R5", "--fhir-format", "xml",
                                  str(study_dir()), "-o", str(tmp_path / "r5"), "--format", "json"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["convert", "--from", "fhir", "--to", "csv", "--fhir-version", "R4",
                                  str(tmp_path / "r5"), "-o", str(tmp_path / "csv"), "--format", "json"])
    assert result.exit_code == 1
    assert {i["code"] for i in json.loads(result.output)["issues"]} >= {"FB-FHIR-057"}


# published profiles ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("release", ["R4", "R5"])
def test_conformance_resources_validate_and_cover_every_profile(release):
    mapping = load_fhir_mapping()
    resources = conformance_resources(mapping, release)  # type: ignore[arg-type]
    for resource in resources:
        assert structure_errors(resource, release) == [], resource["id"]  # type: ignore[arg-type]
    urls = {r["url"] for r in resources if r["resourceType"] == "StructureDefinition"}
    assert urls == set(mapping.profiles.values()) | {mapping.extensions[e.key] for e in EXTENSIONS}
    assert len({(r["resourceType"], r["id"]) for r in resources}) == len(resources)
    ours = {url for url in mapping.extensions.values() if url.startswith(mapping.canonical)}
    assert ours == {mapping.extensions[e.key] for e in EXTENSIONS}  # every extension of ours is defined
    value_sets = {r["compose"]["include"][0]["system"] for r in resources if r["resourceType"] == "ValueSet"}
    assert value_sets == {mapping.systems[key] for key in concepts()}


def test_profiles_export_writes_r4_and_r5(tmp_path):
    result = CliRunner().invoke(main, ["profiles", "export", str(tmp_path)])
    assert result.exit_code == 0
    for folder, release in ((tmp_path, "R4"), (tmp_path / "R5", "R5")):
        definitions = [json.loads(p.read_text()) for p in folder.glob("StructureDefinition-*.json")]
        assert len(definitions) == len(PROFILES) + len(EXTENSIONS)
        assert {d["fhirVersion"] for d in definitions} == {"4.0.1" if release == "R4" else "5.0.0"}
        assert len(list(folder.glob("ValueSet-*.json"))) == len(concepts())


def _check(resource: dict, definition: dict, codes: dict[str, set[str]]) -> list[str]:
    """What of a profile's differential the resource does not meet (the kinds of constraint our profiles use)."""
    problems = []
    rtype = resource["resourceType"]
    urls = [e["url"] for e in resource.get("extension", [])]
    declared = set()
    for element in definition["differential"]["element"]:
        path = element["path"].removeprefix(f"{rtype}.")
        if "sliceName" in element:
            url = element["type"][0]["profile"][0]
            declared.add(url)
            count = urls.count(url)
            if count < element["min"] or (element["max"] != "*" and count > int(element["max"])):
                problems.append(f"{url}: {count}")
            continue
        name = path.removesuffix("[x]")
        present = [k for k in resource if k == name or (path.endswith("[x]") and k.startswith(name))]
        if element.get("min", 0) >= 1 and "." not in path and not present:
            problems.append(f"{path} missing")
        if "patternCodeableConcept" in element:
            [want] = element["patternCodeableConcept"]["coding"]
            if not any(c["system"] == want["system"] and c["code"] == want["code"]
                       for c in resource["code"].get("coding", [])):
                problems.append(f"{path} is not {want['code']}")
        if path == "component" and not element["min"] <= len(resource["component"]) <= int(element["max"]):
            problems.append(f"{len(resource['component'])} components")
        binding = element.get("binding", {})
        if path == "component.code" and binding.get("strength") == "required":
            system = binding["valueSet"].replace("/ValueSet/", "/CodeSystem/")
            for component in resource["component"]:
                if not any(c["system"] == system and c["code"] in codes[system] for c in component["code"]["coding"]):
                    problems.append(f"component code {component['code']}")
        if path.endswith("value[x]") and "type" in element:
            allowed = {"value" + t["code"][:1].upper() + t["code"][1:] for t in element["type"]}
            for node in resource.get("component", []) if path.startswith("component.") else [resource]:
                found = {k for k in node if k.startswith("value")}
                if found - allowed:
                    problems.append(f"{path}: {found - allowed}")
    if set(urls) - declared:
        problems.append(f"undeclared extensions {set(urls) - declared}")
    return problems


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_every_resource_written_meets_the_profile_it_declares(example, release):
    mapping = load_fhir_mapping()
    resources = conformance_resources(mapping, release)  # type: ignore[arg-type]
    definitions = {r["url"]: r for r in resources if r["resourceType"] == "StructureDefinition"}
    codes = {mapping.systems[key]: set(values) for key, values in concepts().items()}
    checked = 0
    for entry in example[release]["entry"]:
        resource = entry["resource"]
        [profile] = resource["meta"]["profile"]
        assert _check(resource, definitions[profile], codes) == [], (profile, resource["id"])
        checked += 1
    # the resources (with two mobility sub-scores per SCIM-III assessment), and a Provenance per subject and study
    assert checked == 971 + 14


def test_shape_keys_are_the_compiled_definitions_keys():
    """The JSON names release detection reads from the raw definitions are those the checker compiles."""
    for release in ("R4", "R5"):
        compiled = load(release)
        names = resource_elements(release)
        assert set(names) == set(compiled.resource_types)
        for rtype, keys in names.items():
            assert keys == set(compiled.models[rtype].slots), (release, rtype)


def test_what_r4b_added_and_r5_kept_does_not_tell_r5():
    """The R4 definitions are R4 4.0.1's; R4B content (R4 family) may hold what R4B added. Pinned against the
    R4B models (the oracle): every such element of a type R4 and R5 define is in ``R4B_ADDED``, and no other."""
    r4, r5 = resource_elements("R4"), resource_elements("R5")
    added = {}
    for rtype in sorted(r4.keys() & r5.keys()):
        if both := (r5[rtype] - r4[rtype]) & _r4b_elements(rtype):
            added[rtype] = both
    assert added == R4B_ADDED


def _r4b_elements(rtype: str) -> set[str]:
    try:  # elements_sequence: the JSON names (model fields rename Python keywords: Encounter.class)
        return set(model_class("R4B", rtype).elements_sequence())  # type: ignore[attr-defined]
    except KeyError:  # an R4 type R4B dropped (SubstanceNucleicAcid, ...)
        return set()


@pytest.mark.parametrize(("resource", "expected"), [
    ({"resourceType": "Procedure", "status": "completed", "performedDateTime": "2020"}, ("R4",)),
    ({"resourceType": "Procedure", "status": "completed", "occurrenceDateTime": "2020"}, ("R5",)),
    ({"resourceType": "AdverseEvent", "_code": {"id": "c"}}, ("R5",)),
    ({"resourceType": "Patient", "gender": "male"}, ()),
    # Encounter's `class` hid the whole type from the models' names: it tells its release now
    ({"resourceType": "Encounter", "status": "finished", "period": {"start": "2020"}}, ("R4",)),
    ({"resourceType": "Encounter", "status": "completed", "actualPeriod": {"start": "2020"}}, ("R5",)),
    # R4B content is R4 family: what R4B added and R5 kept is no evidence of R5
    ({"resourceType": "Evidence", "status": "active", "statistic": [{"description": "x"}]}, ()),
    ({"resourceType": "ActivityDefinition", "status": "active", "subjectCanonical": "http://x/y"}, ()),
    ({"resourceType": "Basic", "code": {"text": "x"}}, ()),
    ({"resourceType": "NoSuchType", "occurrenceDateTime": "2020"}, ()),
])
def test_shape_of_a_resource(resource, expected):
    assert shaped(resource) == expected
    assert tuple(shape(resource)) == expected
