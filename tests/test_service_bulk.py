"""Bulk Data (the Bulk Data Access IG) on the service in-process: asynchronous export at system, Patient and Group
level with its parameters, cancelling, the SDTM export as a job, and $import of NDJSON a subject at a time.
The app runs with its lifespan (TestClient), so its job worker thread claims the jobs from the database."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from test_service_support import subject_bundles

from fhirbridge import public
from fhirbridge.inputs import Source
from fhirbridge.service.app import create_app
from fhirbridge.service.settings import ServiceSettings

FHIR = {"Content-Type": "application/fhir+json"}
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def make_client(tmp: Path, name: str) -> TestClient:
    settings = ServiceSettings(db=str(tmp / f"{name}.sqlite"), files_dir=str(tmp / f"{name}-files"), api_key=None)
    return TestClient(create_app(settings))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A service holding two subjects of the example study."""
    with make_client(tmp_path_factory.mktemp("bulk"), "registry") as client:
        for bundle in list(subject_bundles().values())[:2]:
            assert client.post("/", content=orjson.dumps(bundle), headers=FHIR).status_code == 200
        yield client


def finished(client: TestClient, kick_off: Any) -> dict[str, Any]:
    """Poll the status URL of an accepted kick-off until the manifest comes."""
    assert kick_off.status_code == 202, kick_off.text
    status_url = kick_off.headers["Content-Location"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(status_url)
        if status.status_code != 202:
            assert status.status_code == 200, status.text
            return status.json()
        assert status.headers["X-Progress"]
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def downloaded(client: TestClient, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    files = {}
    for output in manifest["output"]:
        response = client.get(output["url"])
        assert response.status_code == 200 and response.headers["content-type"] == "application/fhir+ndjson"
        files[output["type"]] = [orjson.loads(line) for line in response.content.splitlines()]
        assert len(files[output["type"]]) == output["count"]
    return files


def everything(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/$export")
    assert response.status_code == 200
    return [orjson.loads(line) for line in response.content.splitlines()]


def test_system_export_manifest_lists_every_stored_resource(client: TestClient) -> None:
    kick_off = client.get("/$export", headers=ASYNC)
    manifest = finished(client, kick_off)
    assert manifest["request"].endswith("/$export") and manifest["requiresAccessToken"] is False
    assert manifest["transactionTime"].endswith("Z") and manifest["error"] == []
    files = downloaded(client, manifest)
    assert [r for rtype in sorted(files) for r in files[rtype]] == everything(client)


def test_export_parameters_select_types_time_and_matches(client: TestClient) -> None:
    stored = everything(client)
    only = finished(client, client.get("/$export?_type=Patient,ResearchStudy", headers=ASYNC))
    assert {o["type"] for o in only["output"]} == {"Patient", "ResearchStudy"}
    later = finished(client, client.get("/$export?_since=2999-01-01T00:00:00Z", headers=ASYNC))
    assert later["output"] == []
    latest = max(r["meta"]["lastUpdated"] for r in stored)
    assert finished(client, client.get("/$export", params={"_since": "2000-01-01"}, headers=ASYNC))["output"]
    assert finished(client, client.get("/$export", params={"_since": latest}, headers=ASYNC))["output"] == []
    code = next(r for r in stored if r["resourceType"] == "Observation")["code"]["coding"][0]
    wanted = [r for r in stored if r["resourceType"] == "Observation" and r["code"]["coding"][0] == code]
    filtered = finished(client, client.get("/$export", headers=ASYNC, params={
        "_type": "Observation", "_typeFilter": f"Observation?code={code['system']}|{code['code']}",
        "_outputFormat": "application/fhir+ndjson"}))
    assert downloaded(client, filtered) == {"Observation": wanted}


@pytest.mark.parametrize("query", ["_type=Nope", "_type=Patient,", "_since=yesterday", "_outputFormat=text/csv",
                                   "_typeFilter=Observation%3Fnope%3D1", "_type=Patient&_typeFilter=Observation%3F"])
def test_bad_export_parameters_are_refused_at_kick_off(client: TestClient, query: str) -> None:
    for headers in (ASYNC, {}):
        response = client.get(f"/$export?{query}", headers=headers)
        assert response.status_code == 400, (query, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"


def test_patient_and_group_exports_hold_the_compartment_of_their_patients(client: TestClient) -> None:
    stored = everything(client)
    study = next(r for r in stored if r["resourceType"] == "ResearchStudy")
    patients = {r["id"] for r in stored if r["resourceType"] == "Patient"}
    by_patient = downloaded(client, finished(client, client.get("/Patient/$export", headers=ASYNC)))
    assert "ResearchStudy" not in by_patient and {p["id"] for p in by_patient["Patient"]} == patients
    assert len(by_patient["Observation"]) == sum(r["resourceType"] == "Observation" for r in stored)
    group = client.get(f"/Group/{study['id']}/$export", headers=ASYNC)
    assert downloaded(client, finished(client, group)) == by_patient  # the study's group: both subjects
    stored_group = client.get(f"/Group/{study['id']}").json()
    assert {m["entity"]["reference"] for m in stored_group["member"]} == {f"Patient/{p}" for p in patients}
    assert public.validate(Source(stored_group, name="group"), source="fhir").exit_code == 0
    missing = client.get("/Group/no-such-group/$export", headers=ASYNC)
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


def test_delete_cancels_a_job_and_removes_its_files(client: TestClient) -> None:
    kick_off = client.get("/$export", headers=ASYNC)
    manifest = finished(client, kick_off)
    status_url = kick_off.headers["Content-Location"]
    assert client.delete(status_url).status_code == 202
    assert client.get(status_url).status_code == 404
    assert client.get(manifest["output"][0]["url"]).status_code == 404
    assert client.delete(status_url).status_code == 404


def test_sdtm_export_runs_as_a_job_and_equals_the_direct_answer(client: TestClient) -> None:
    manifest = finished(client, client.get("/$export-sdtm?format=csv", headers=ASYNC))
    [output] = manifest["output"]
    archive = zipfile.ZipFile(io.BytesIO(client.get(output["url"]).content))
    direct = zipfile.ZipFile(io.BytesIO(client.get("/$export-sdtm?format=csv").content))
    tables = sorted(n for n in direct.namelist() if n.endswith(".csv"))
    assert tables and sorted(n for n in archive.namelist() if n.endswith(".csv")) == tables
    assert all(archive.read(n) == direct.read(n) for n in tables)


def test_import_stores_good_subjects_and_reports_the_refused_one(client: TestClient, tmp_path: Path) -> None:
    stored = everything(client)
    patients = sorted(r["id"] for r in stored if r["resourceType"] == "Patient")
    spoiled = [({**r, "birthDate": "not a date"} if r["resourceType"] == "Patient" and r["id"] == patients[1]
                else r) for r in stored if r["resourceType"] != "Group"]
    body = b"\n".join(orjson.dumps(r) for r in spoiled) + b"\nnot json\n"
    with make_client(tmp_path, "target") as target:
        assert target.post("/$import", content=body).status_code == 415  # NDJSON only
        manifest = finished(target, target.post("/$import", content=body,
                                                headers={"Content-Type": "application/fhir+ndjson"}))
        refused = {r["unit"]: r for r in manifest["refused"]}
        assert set(refused) == {f"Patient/{patients[1]}", f"line {len(spoiled) + 1}"}
        bad_subject = refused[f"Patient/{patients[1]}"]
        assert bad_subject["codes"] and all(code.startswith("FB-FHIR-") for code in bad_subject["codes"])
        assert refused[f"line {len(spoiled) + 1}"]["codes"] == ["FB-SRV-035"]
        issues = {i["details"]["coding"][0]["code"] for i in manifest["outcome"]["issue"]}
        assert {"FB-SRV-035", *bad_subject["codes"]} <= issues
        imported = {(r["resourceType"], r["id"]) for r in everything(target)}
        about_refused = {(r["resourceType"], r["id"]) for r in spoiled
                         if r["id"] == patients[1] or f"Patient/{patients[1]}" in orjson.dumps(r).decode()}
        expected = {(r["resourceType"], r["id"]) for r in spoiled} - about_refused
        assert imported - {k for k in imported if k[0] == "Group"} == expected
        assert manifest["imported"]["resources"] == len(expected)


def test_import_writes_like_the_rest_interactions(tmp_path: Path) -> None:
    """The batched writer of $import keeps what a REST write keeps: a deleted resource comes back with the version
    after its deletion, decimals keep their digits, the search index sees it, and unchanged content is no write."""
    patient = {"resourceType": "Patient", "id": "p-import", "gender": "female"}
    observation = (b'{"resourceType":"Observation","id":"o-import","status":"final","code":{"text":"weight"},'
                   b'"subject":{"reference":"Patient/p-import"},"valueQuantity":{"value":71.50,"unit":"kg"}}')
    ndjson = {"Content-Type": "application/fhir+ndjson"}
    with make_client(tmp_path, "rest-and-import") as target:
        assert target.put("/Patient/p-import", json=patient, headers=FHIR).status_code == 201
        assert target.put("/Observation/o-import", content=observation, headers=FHIR).status_code == 201
        assert target.delete("/Observation/o-import").status_code == 204
        for _ in range(2):  # the second import changes nothing
            manifest = finished(target, target.post("/$import", content=observation + b"\n", headers=ndjson))
            assert manifest["refused"] == [], manifest
        read = target.get("/Observation/o-import")
        assert read.status_code == 200 and read.headers["ETag"] == 'W/"3"'
        assert b'"value":71.50' in read.content
        history = target.get("/Observation/o-import/_history").json()["entry"]
        assert [e["request"]["method"] for e in history] == ["PUT", "DELETE", "POST"]
        found = target.get("/Observation?subject=Patient/p-import").json()
        assert [e["resource"]["id"] for e in found["entry"]] == ["o-import"]
