"""The FHIR written for the example study: valid R4 (fhir.resources R4B), references resolved, stable ids,
our own codes defined, and a reviewed golden file for one subject."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import EXAMPLE

from fhirbridge import api
from fhirbridge.checks.isncsci import check_exam
from fhirbridge.formats.csv.reader import read_csv
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.formats.fhir.terminology import code_systems
from fhirbridge.formats.fhir.writer import bundle
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.records import StudyData

GOLDEN = Path(__file__).parent / "golden" / "honmou2021-subject-009.json"


@pytest.fixture(scope="module")
def example_bundle(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("fhir")
    report = api.convert([EXAMPLE], out)
    assert report.exit_code == 0, report.to_dict()["issues"]
    return json.loads((out / "bundle.json").read_text())


def _walk(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)


def test_every_resource_validates_with_the_r4b_models(example_bundle):
    assert structure_errors(example_bundle) == []  # the Bundle as a whole
    for entry in example_bundle["entry"]:
        assert structure_errors(entry["resource"]) == [], entry["fullUrl"]


def test_expected_resources(example_bundle):
    types = [e["resource"]["resourceType"] for e in example_bundle["entry"]]
    assert types.count("Patient") == 13
    assert types.count("ResearchSubject") == 13
    assert types.count("Procedure") == 26  # 13 harvests + 13 infusions
    assert types.count("BiologicallyDerivedProduct") == 13
    assert types.count("AdverseEvent") == 8
    observations = [e["resource"] for e in example_bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    ais = [o for o in observations if o["code"]["coding"][0]["code"] == "97843-7"]
    assert len(ais) == 39 and all(o["code"]["coding"][0]["system"] == "http://loinc.org" for o in ais)
    panels = [o for o in observations if o["code"]["coding"][0]["code"] == "isncsci-exam"]
    assert len(panels) == 39 and all(len(p["component"]) == 134 for p in panels)  # 132 cells + VAC + DAP


def test_every_reference_resolves_and_full_urls_are_unique(example_bundle):
    urls = [e["fullUrl"] for e in example_bundle["entry"]]
    assert len(urls) == len(set(urls))
    references = list(_walk(example_bundle, "reference"))
    assert len(references) > 1000
    assert set(references) <= set(urls)
    for entry in example_bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"


def test_ids_are_stable_across_runs(example_bundle, tmp_path):
    api.convert([EXAMPLE], tmp_path)
    again = json.loads((tmp_path / "bundle.json").read_text())
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in example_bundle["entry"]]
    assert again["id"] == example_bundle["id"]


def test_our_codes_are_defined_in_our_code_systems(example_bundle):
    ours = {cs["url"]: {c["code"]: c["display"] for c in cs["concept"]} for cs in code_systems(load_fhir_mapping())}
    used = 0
    for coding in _walk(example_bundle, "coding"):
        for c in coding:
            if c["system"] in ours:
                used += 1
                assert c["code"] in ours[c["system"]], c
                assert c["display"] == ours[c["system"]][c["code"]]
    assert used > 5000
    for cs in code_systems(load_fhir_mapping()):
        assert structure_errors(cs) == []


def test_transaction_bundle_uses_conditional_create_and_put(tmp_path):
    report = api.convert([EXAMPLE], tmp_path, options=ConvertOptions(bundle_type="transaction"))
    assert report.exit_code == 0
    result = json.loads((tmp_path / "bundle.json").read_text())
    assert result["type"] == "transaction" and structure_errors(result) == []
    for entry in result["entry"]:
        resource, request = entry["resource"], entry["request"]
        if resource["resourceType"] == "Patient":
            ident = resource["identifier"][0]
            assert request == {"method": "POST", "url": "Patient",
                               "ifNoneExist": f"identifier={ident['system']}|{ident['value']}"}
        elif resource["resourceType"] not in ("ResearchStudy", "ResearchSubject"):
            assert request == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}


def test_classification_is_derived_when_only_the_raw_exam_is_given(study_dir, tmp_path):
    report = api.convert([study_dir()], tmp_path)
    result = json.loads((tmp_path / "bundle.json").read_text())
    ais = [e["resource"] for e in result["entry"] if e["resource"].get("code", {}).get("coding", [{}])[0].get("code")
           == "97843-7"]
    assert [o["valueCodeableConcept"]["text"] for o in ais] == ["E", "E"]  # all-normal exams
    assert all(o["method"]["coding"][0]["code"] == "computed-isncsci-2019" for o in ais)
    # and queried: AIS E at a subject's first exam (FB-ISN-006)
    assert sorted(i.code for i in report.issues) == ["FB-ISN-002", "FB-ISN-002", "FB-ISN-006", "FB-ISN-006"]


def _subject_bundle(subject_id: str) -> dict:
    report = Report()
    data = read_csv([EXAMPLE], load_csv_layout(), report)
    one = StudyData(studies=data.studies,
                    **{kind: [r for r in getattr(data, kind) if r.subject_id == subject_id]
                       for kind in ("subjects", "isncsci_exams", "scim_assessments", "harvests", "infusions",
                                    "adverse_events")})
    for exam in one.isncsci_exams:
        assert check_exam(exam)[1] == []
    result = bundle(load_fhir_mapping(), one)
    result = copy.deepcopy(result)
    for entry in result["entry"]:
        entry["resource"].pop("recorded", None)  # the Provenance's time of conversion
    return result


def test_golden_bundle_of_one_subject():
    """Reviewed by reading; regenerate with FHIRBRIDGE_BLESS=1 only after reading the diff."""
    import os

    produced = _subject_bundle("009")
    if os.environ.get("FHIRBRIDGE_BLESS"):
        GOLDEN.write_text(json.dumps(produced, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert produced == json.loads(GOLDEN.read_text(encoding="utf-8"))
