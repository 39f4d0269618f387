"""The conformance resources ``fhirbridge profiles export`` publishes are themselves valid FHIR: every
StructureDefinition, ValueSet and CodeSystem meets the FHIR invariants of its resource type (sdf-17: unique
element ids in a differential, among others), checked by fhirbridge's own FHIR checker (FHIRPath invariants
of the specification), not only by the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirbridge import api
from fhirbridge.formats.fhir.profiles import PROFILES, Profile, _merged, structure_definition
from fhirbridge.issues.issue import Severity
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("profiles")
    api.export_profiles(folder)
    return folder


def _problems(folder: Path) -> list[tuple[str, str | None, str]]:
    report = api.validate([folder], source="fhir")
    # FB-FHIR-054: a conformance resource is not a record to convert; that is all it may say
    return [(i.code, i.file, i.message) for i in report.issues
            if i.severity >= Severity.WARNING and i.code != "FB-FHIR-054"]


def test_exported_r4_conformance_resources_meet_the_fhir_invariants(exported):
    r4 = exported / "r4-only"
    r4.mkdir()
    for path in exported.glob("*.json"):
        (r4 / path.name).write_bytes(path.read_bytes())
    assert len(list(r4.glob("StructureDefinition-*.json"))) >= len(PROFILES)
    assert _problems(r4) == []


def test_exported_r5_structure_definitions_meet_the_structure_definition_invariants(exported, tmp_path):
    """The checker knows R4; a StructureDefinition's own elements are the same in R5 for what fhirbridge writes,
    so the R5 set is checked as R4 content with its fhirVersion set aside."""
    for path in (exported / "R5").glob("StructureDefinition-*.json"):
        definition = json.loads(path.read_text())
        assert definition["fhirVersion"] == "5.0.0"
        definition["fhirVersion"] = "4.0.1"
        (tmp_path / path.name).write_text(json.dumps(definition))
    assert len(list(tmp_path.glob("*.json"))) >= len(PROFILES)
    assert _problems(tmp_path) == []


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_every_differential_names_each_element_once(release):
    mapping = load_fhir_mapping()
    for profile in PROFILES:
        ids = [e["id"] for e in structure_definition(mapping, profile, release)["differential"]["element"]]
        assert len(ids) == len(set(ids)), profile.key


def test_a_profile_stating_one_element_twice_is_merged_and_contradictions_refused():
    merged = _merged([{"id": "Observation.method", "path": "Observation.method", "min": 1},
                      {"id": "Observation.method", "path": "Observation.method", "binding": {"strength": "required"}}])
    assert merged == [{"id": "Observation.method", "path": "Observation.method", "min": 1,
                       "binding": {"strength": "required"}}]
    with pytest.raises(ValueError, match="min stated twice"):
        _merged([{"id": "X.a", "path": "X.a", "min": 1}, {"id": "X.a", "path": "X.a", "min": 0}])
    # the check runs on the published profiles too: a profile repeating the method element is one element
    scim_score = next(p for p in PROFILES if p.key == "scim_score")
    assert isinstance(scim_score, Profile) and "method" in scim_score.required["R4"]
    sd = structure_definition(load_fhir_mapping(), scim_score, "R4")
    [method] = [e for e in sd["differential"]["element"] if e["id"] == "Observation.method"]
    assert method["min"] == 1 and method["binding"]["strength"] == "required"


def test_the_export_is_a_fhir_package_per_release(exported):
    releases = ((exported, "4.0.1", "hl7.fhir.r4.core"), (exported / "R5", "5.0.0", "hl7.fhir.r5.core"))
    for folder, version, core in releases:
        manifest = json.loads((folder / "package.json").read_text())
        assert manifest["fhirVersions"] == [version] and manifest["dependencies"] == {core: version}
        guide = json.loads((folder / f"ImplementationGuide-{manifest['name']}.json").read_text())
        assert (guide["packageId"], guide["fhirVersion"], guide["version"]) == (manifest["name"], [version],
                                                                                 manifest["version"])
        listed = {r["reference"]["reference"] for r in guide["definition"]["resource"]}
        documents = [json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != "package.json"]
        files = {f"{d['resourceType']}/{d['id']}" for d in documents if d["resourceType"] != "ImplementationGuide"}
        assert listed == files and len(files) > len(PROFILES)
