"""The reader's first pass done as validation's checker streams a JSON Bundle (``formats/fhir/filing.py``) gives
the report and records of the same pass done by loading every entry back from the spill, and of the reader alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirbridge import api
from fhirbridge.formats.fhir import filing as filing_module
from fhirbridge.formats.fhir import reader as reader_module
from fhirbridge.issues.report import Report

_STUDY = {"resourceType": "ResearchStudy", "id": "s1", "status": "active",
          "identifier": [{"system": "https://example.org/study", "value": "S1"}]}


def _bundle() -> dict[str, Any]:
    """Resources the first pass files, reports or keeps whole: a study, a Patient enrolled and one not, a
    resource naming no Patient, Provenances (said once per file), a type fhirbridge reads no record of, an entry
    without a resource, an unknown resource type and a version-pinned profile (release evidence)."""
    def entry(resource: dict[str, Any]) -> dict[str, Any]:
        return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}

    patient = {"resourceType": "Patient", "id": "00000000-0000-4000-8000-000000000001", "gender": "male",
               "identifier": [{"system": "https://fhirbridge.org/fhir/sid/subject/S1", "value": "001"}]}
    lonely = {"resourceType": "Patient", "id": "00000000-0000-4000-8000-000000000002",
              "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/Patient|4.0.1"]}}
    enrolment = {"resourceType": "ResearchSubject", "id": "00000000-0000-4000-8000-000000000003", "status": "on-study",
                 "study": {"reference": "urn:uuid:s1"}, "individual": {"reference": f"urn:uuid:{patient['id']}"}}
    observation = {"resourceType": "Observation", "id": "00000000-0000-4000-8000-000000000004", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
                   "subject": {"reference": f"urn:uuid:{patient['id']}"}, "valueString": "tall"}
    orphan = {**observation, "id": "00000000-0000-4000-8000-000000000005"}
    del orphan["subject"]
    provenance = {"resourceType": "Provenance", "id": "00000000-0000-4000-8000-000000000006",
                  "target": [{"reference": f"urn:uuid:{patient['id']}"}], "recorded": "2020-01-01T00:00:00Z",
                  "agent": [{"who": {"display": "x"}}]}
    entries = [entry(_STUDY), entry(patient), entry(enrolment), entry(observation), entry(orphan), entry(provenance),
               entry({**provenance, "id": "00000000-0000-4000-8000-000000000007"}), entry(lonely),
               entry({"resourceType": "Basic", "id": "00000000-0000-4000-8000-000000000008",
                      "code": {"text": "x"}}),
               {"request": {"method": "DELETE", "url": "Patient/9"}},
               {"fullUrl": "urn:uuid:x", "resource": {"resourceType": "NoSuchType", "id": "x"}}]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _issues(report: Report) -> list[tuple[Any, ...]]:
    return [(i.code, str(i.severity), i.message, i.file, i.row, i.target, i.value) for i in report.issues]


@pytest.mark.parametrize("twice", [False, True])
def test_filing_as_the_checker_streams_gives_the_report_of_loading_from_the_spill(
        twice: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(_bundle()), encoding="utf-8")
    inputs = [path, path] if twice else [path]
    taken: list[object] = []
    real_take = reader_module.FhirReader._take

    def take(self: Any, filing: Any, *args: Any) -> None:
        taken.append(filing)
        real_take(self, filing, *args)

    monkeypatch.setattr(reader_module.FhirReader, "_take", take)
    chunks: list[Any] = []
    streamed = api.validate(inputs, source="fhir", on_records=lambda chunk, _: chunks.append(chunk))
    assert len(taken) == len(inputs) and all(f is taken[0] for f in taken)  # the checker's filing, taken as it is
    with monkeypatch.context() as patch:
        patch.setattr(filing_module, "Filing", lambda name: None)  # the spill keeps no filing: entries loaded back
        loaded = api.validate(inputs, source="fhir")
    assert _issues(streamed) == _issues(loaded)
    assert streamed.header == loaded.header and streamed.stats == loaded.stats
    codes = [code for code, *_ in _issues(streamed)]
    for code in ("FB-FHIR-052", "FB-FHIR-053", "FB-FHIR-055", "FB-FHIR-059", "FB-FHIR-060"):
        assert code in codes
    provenance = [i for i in streamed.issues if i.code == "FB-FHIR-054" and i.message.startswith("Provenance")]
    assert len(provenance) == 1  # once per file, even when the file is named twice
    alone = Report()
    records = api.read(inputs, alone, source="fhir")
    reader_issues = [i for i in _issues(alone) if i[0].startswith("FB-FHIR-05") or i[0] == "FB-FHIR-060"]
    assert reader_issues == [i for i in _issues(streamed) if i[0].startswith("FB-FHIR-05") or i[0] == "FB-FHIR-060"]
    assert [r for r in records.records()] == [r for r in chunks[0].records()] and len(chunks) == 1
