"""An infant's age at enrolment, 0 completed years: FHIR's Age must be positive (age-1, FB-FHIR-018), so it is
written as what it means, under one year (``< 1 a``), and read back as 0. A Patient that says age 0 is still
reported."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import fhirbridge
from fhirbridge import api
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.inputs import Source

UCUM = "http://unitsofmeasure.org"


def _infant(tables: dict[str, list[dict[str, str]]]) -> None:
    """Subject 001 born on its enrolment day: aged 0."""
    tables["subjects.csv"][0].update(birth_date="2019-02-01", injury_date="2019-02-01", age="0")


def test_age_zero_is_written_as_under_one_year_and_read_back(study_dir: Callable[..., Path], tmp_path: Path) -> None:
    report = api.convert([study_dir(_infant)], tmp_path / "fhir")
    assert report.exit_code == 0 and not [i for i in report.issues if i.code.startswith("FB-FHIR")], report.issues
    bundle = json.loads((tmp_path / "fhir" / "bundle.json").read_text(encoding="utf-8"))
    patients = {e["resource"]["identifier"][0]["value"]: e["resource"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "Patient"}
    (age,) = [x["valueAge"] for x in patients["001"]["extension"]]
    assert age == {"value": 1, "comparator": "<", "unit": "a", "system": UCUM, "code": "a"}
    assert structure_errors(patients["001"]) == []
    data, back = fhirbridge.read(tmp_path / "fhir", source="fhir")
    assert back.exit_code == 0, back.issues
    assert {s.subject_id: s.age for s in data.subjects} == {"001": 0, "002": None}


def test_an_age_of_zero_in_fhir_is_still_the_age_1_invariant() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "extension": [
        {"url": "http://example.org/age", "valueAge": {"value": 0, "unit": "a", "system": UCUM, "code": "a"}}]}
    report = api.validate([Source(json.dumps(patient).encode(), name="patient.json")], source="fhir")
    (found,) = [i for i in report.issues if i.code == "FB-FHIR-018"]
    assert found.target == "Patient.extension[0].valueAge"
    assert found.message.startswith("age-1: ") and "If value is present, it SHALL be positive" in found.message
