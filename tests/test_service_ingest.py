"""Ingest against a real `fhirbridge serve` process, on SQLite and on PostgreSQL: all-or-nothing, idempotent,
versioned; then read, history, search and export of what was stored. Three subjects of the example study keep
it quick; the whole study is ingested by the operations tests."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from test_service_support import Service, database, exported, running, subject_bundles

FHIR = {"Content-Type": "application/fhir+json"}


@cache
def _bundle_bytes() -> bytes:
    """A transaction of the first three subjects of the example study (the study itself once)."""
    entries: dict[str, dict[str, Any]] = {}
    for bundle in list(subject_bundles().values())[:3]:
        for entry in bundle["entry"]:
            entries.setdefault(entry["fullUrl"], entry)
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": list(entries.values())})


def example_transaction() -> dict[str, Any]:
    return orjson.loads(_bundle_bytes())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One server per database kind, with the example study ingested once."""
    tmp = tmp_path_factory.mktemp(request.param)
    with database(request.param, tmp) as db, running(db, tmp) as svc:
        with svc.client() as client:
            first = client.post("/", content=_bundle_bytes(), headers=FHIR)
        assert first.status_code == 200, first.text
        svc.first_response = first.json()  # type: ignore[attr-defined]
        yield svc


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with service.client() as c:
        yield c


def _entry(bundle: dict[str, Any], rtype: str, predicate: Any = lambda r: True) -> tuple[int, dict[str, Any]]:
    return next((i, e) for i, e in enumerate(bundle["entry"])
                if e["resource"]["resourceType"] == rtype and predicate(e["resource"]))


def _server_references(resource: dict[str, Any], bundle: dict[str, Any]) -> dict[str, Any]:
    """The resource as a client holding the server's ids sends it: references as Type/id, not urn:uuid."""
    text = orjson.dumps(resource).decode()
    for entry in bundle["entry"]:
        text = text.replace(entry["fullUrl"], f"{entry['resource']['resourceType']}/{entry['resource']['id']}")
    return orjson.loads(text)


def test_first_ingest_creates_every_resource(service: Service) -> None:
    response = service.first_response  # type: ignore[attr-defined]
    bundle = example_transaction()
    assert response["type"] == "transaction-response"
    assert len(response["entry"]) == len(bundle["entry"])
    assert {e["response"]["status"] for e in response["entry"]} == {"201 Created"}
    for request_entry, response_entry in zip(bundle["entry"], response["entry"], strict=True):
        resource = request_entry["resource"]
        assert response_entry["response"]["location"] == f"{resource['resourceType']}/{resource['id']}/_history/1"


def test_the_same_bundle_twice_stores_nothing_twice(client: httpx.Client) -> None:
    before = exported(client)
    again = client.post("/", content=_bundle_bytes(), headers=FHIR)
    assert again.status_code == 200
    statuses = {e["response"]["status"] for e in again.json()["entry"]}
    assert statuses == {"200 OK"}
    after = exported(client)
    assert len(after) == len(before) == len(example_transaction()["entry"])
    assert {(r["resourceType"], r["id"], r["meta"]["versionId"]) for r in after} == \
        {(r["resourceType"], r["id"], r["meta"]["versionId"]) for r in before}


def test_stored_resources_are_the_bundle_with_server_references(client: httpx.Client) -> None:
    bundle = example_transaction()
    stored = {(r["resourceType"], r["id"]): r for r in exported(client)}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        kept = copy.deepcopy(stored[(resource["resourceType"], resource["id"])])
        assert kept["meta"].pop("versionId") and kept["meta"].pop("lastUpdated")
        text = str(kept)
        assert "urn:uuid:" not in text  # every bundle-internal reference now names Type/id
        expected = str(resource)
        for other in bundle["entry"]:
            expected = expected.replace(other["fullUrl"], f"{other['resource']['resourceType']}/"
                                                          f"{other['resource']['id']}")
        if resource["resourceType"] != "Provenance":
            assert text == expected


def test_an_updated_record_gets_a_new_version_and_history_is_kept(client: httpx.Client) -> None:
    bundle = example_transaction()
    _, entry = _entry(bundle, "AdverseEvent")
    changed = {"resource": _server_references(entry["resource"], bundle), "request": entry["request"]}
    rid = changed["resource"]["id"]
    changed["resource"]["event"]["text"] = "Fever, corrected term"
    update = {"resourceType": "Bundle", "type": "batch", "entry": [changed]}
    response = client.post("/", json=update, headers=FHIR)
    assert response.status_code == 200, response.text
    assert response.json()["entry"][0]["response"]["status"] == "200 OK"
    assert response.json()["entry"][0]["response"]["location"] == f"AdverseEvent/{rid}/_history/2"
    current = client.get(f"/AdverseEvent/{rid}")
    assert current.json()["meta"]["versionId"] == "2"
    assert current.headers["etag"] == 'W/"2"'
    assert current.json()["event"]["text"] == "Fever, corrected term"
    history = client.get(f"/AdverseEvent/{rid}/_history").json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    first = client.get(f"/AdverseEvent/{rid}/_history/1").json()
    assert first["event"] == entry["resource"]["event"]
    again = client.post("/", json=update, headers=FHIR)
    assert again.json()["entry"][0]["response"]["location"] == f"AdverseEvent/{rid}/_history/2"


def test_any_error_rejects_the_whole_bundle(client: httpx.Client) -> None:
    before = exported(client)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6f1c2a52-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "id": "6f1c2a52-0000-4000-8000-000000000001", "gender": "female"},
         "request": {"method": "PUT", "url": "Patient/6f1c2a52-0000-4000-8000-000000000001"}},
        {"fullUrl": "urn:uuid:6f1c2a52-0000-4000-8000-000000000002",
         "resource": {"resourceType": "Observation", "id": "6f1c2a52-0000-4000-8000-000000000002", "status": "final",
                      "code": {"text": "x"}, "subject": {"reference": "Patient/not-stored-anywhere"}},
         "request": {"method": "PUT", "url": "Observation/6f1c2a52-0000-4000-8000-000000000002"}},
    ]}
    response = client.post("/", json=bundle, headers=FHIR)
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = [i for i in outcome["issue"] if i["severity"] == "error"]  # (the FHIR reader adds warnings)
    assert issue["details"]["coding"][0]["code"] == "FB-SRV-005"
    assert issue["expression"] == ["Bundle.entry[1].resource.subject"]
    assert client.get("/Patient/6f1c2a52-0000-4000-8000-000000000001").status_code == 404
    assert len(exported(client)) == len(before)


def test_bundle_structure_errors_are_located(client: httpx.Client) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient"}, "request": {"method": "DELETE", "url": "Patient/1"}},
        {"resource": {"resourceType": "Patient", "id": "a"}, "request": {"method": "PUT", "url": "Patient/b"}},
    ]}
    response = client.post("/", json=bundle, headers=FHIR)
    assert response.status_code == 422
    located = {(i["details"]["coding"][0]["code"], i["expression"][0]) for i in response.json()["issue"]}
    assert ("FB-SRV-002", "Bundle.entry[0].request.method") in located
    assert ("FB-SRV-002", "Bundle.entry[1].resource.id") in located
    wrong_type = client.post("/", json={"resourceType": "Bundle", "type": "collection"}, headers=FHIR)
    assert wrong_type.status_code == 422
    assert wrong_type.json()["issue"][0]["details"]["coding"][0]["code"] == "FB-SRV-001"
    not_json = client.post("/", content=b"{not json", headers=FHIR)
    assert not_json.status_code == 400
    assert not_json.json()["issue"][0]["details"]["coding"][0]["code"] == "FB-IO-006"


def test_conditional_create_keeps_the_stored_resource_and_warns(client: httpx.Client) -> None:
    bundle = example_transaction()
    _, entry = _entry(bundle, "Patient")
    changed = copy.deepcopy(entry)
    changed["resource"]["gender"] = "other" if entry["resource"].get("gender") != "other" else "unknown"
    response = client.post("/", json={"resourceType": "Bundle", "type": "transaction", "entry": [changed]},
                           headers=FHIR)
    assert response.status_code == 200, response.text
    answer = response.json()["entry"][0]["response"]
    assert answer["status"] == "200 OK"
    assert answer["outcome"]["issue"][0]["details"]["coding"][0]["code"] == "FB-SRV-006"
    stored = client.get(f"/Patient/{entry['resource']['id']}").json()
    assert stored["gender"] == entry["resource"]["gender"]
    assert stored["meta"]["versionId"] == "1"


def test_search_pages_through_every_match_once(client: httpx.Client) -> None:
    bundle = example_transaction()
    _, patient = _entry(bundle, "Patient")
    pid = patient["resource"]["id"]
    expected = {e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
                and e["resource"]["subject"]["reference"] == patient["fullUrl"]}
    seen: list[str] = []
    url: str | None = f"/Observation?subject=Patient/{pid}&_count=7&_total=accurate"
    while url:
        page = client.get(url).json()
        assert page["type"] == "searchset" and page["total"] == len(expected)
        seen.extend(e["resource"]["id"] for e in page["entry"])
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert len(seen) == len(set(seen)) and set(seen) == expected
    bare = client.get(f"/Observation?subject={pid}&_count=0").json()
    assert bare["total"] == len(expected) and "entry" not in bare  # FHIR JSON has no empty arrays


def test_search_by_code_and_date(client: httpx.Client) -> None:
    bundle = example_transaction()
    ais = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
           and any(c.get("code") == "97843-7" for c in e["resource"]["code"].get("coding", []))]
    assert ais
    found = client.get("/Observation?code=http://loinc.org|97843-7&_count=1000&_total=accurate").json()
    assert found["total"] == len(ais)
    day = ais[0]["effectiveDateTime"][:10]
    on_day = [r for r in ais if r["effectiveDateTime"][:10] == day]
    assert client.get(f"/Observation?code=97843-7&date={day}&_total=accurate").json()["total"] == len(on_day)
    later = [r for r in ais if r["effectiveDateTime"][:10] > day]
    assert client.get(f"/Observation?code=97843-7&date=gt{day}&_total=accurate").json()["total"] == len(later)
    month = day[:7]
    in_month = [r for r in ais if r["effectiveDateTime"][:7] == month]
    within = client.get(f"/Observation?code=97843-7&date=ge{month}&date=le{month}&_total=accurate").json()
    assert within["total"] == len(in_month)


def test_bad_search_and_missing_resources_answer_operation_outcomes(client: httpx.Client) -> None:
    for url, status, code in (("/Observation?colour=blue", 400, "FB-REST-001"),
                              ("/Observation?date=yesterday", 400, "FB-SRV-011"),
                              ("/Observation?date=ap2019", 400, "FB-SRV-011"),
                              ("/Patient/does-not-exist", 404, "FB-SRV-010"),
                              ("/Patient/x/_history/3", 404, "FB-SRV-010"),
                              ("/no/such/endpoint/here", 404, "FB-SRV-010")):
        response = client.get(url)
        assert response.status_code == status, url
        assert response.json()["issue"][0]["details"]["coding"][0]["code"] == code


def test_export_filters_by_type(client: httpx.Client) -> None:
    patients = [r for r in exported(client) if r["resourceType"] == "Patient"]
    only = client.get("/$export?_type=Patient,ResearchStudy")
    assert only.headers["content-type"].startswith("application/fhir+ndjson")
    types = [line.split(b'"resourceType":"')[1].split(b'"')[0] for line in only.content.splitlines()]
    assert sorted(set(types)) == [b"Patient", b"ResearchStudy"]
    assert types.count(b"Patient") == len(patients) == 3


def test_metadata_lists_what_is_supported(client: httpx.Client, tmp_path: Path) -> None:
    from fhirbridge.formats.fhir.models import structure_errors

    statement = client.get("/metadata").json()
    assert structure_errors(statement) == []
    rest = statement["rest"][0]
    observation = next(r for r in rest["resource"] if r["type"] == "Observation")
    assert {p["name"] for p in observation["searchParam"]} >= {"subject", "code", "date"}
    assert {o["name"] for o in rest["operation"]} >= {"validate", "convert", "export"}
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}
