"""FHIR REST interactions and search, one suite run against SQLite and PostgreSQL (a fresh schema per run), the
service in-process. Expected results are computed from what the store holds, not written down; every resource
the service answers with is checked by the project's FHIR checker."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from inprocess_service import InProcess
from test_service_support import database, subject_bundles

from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.service.app import create_app
from fhirbridge.service.search_limits import SearchLimits
from fhirbridge.service.settings import ServiceSettings
from fhirbridge.store.search_params import index_values

FHIR = {"Content-Type": "application/fhir+json"}
LOINC_AIS = "http://loinc.org|97843-7"
SUBJECT_SYSTEM = "https://fhirbridge.org/fhir/sid/subject/HONMOU2021"
TEST_SYSTEM = "urn:fhirbridge:test"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def rest(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    """The service over a fresh database of each kind, holding two subjects of the example study."""
    tmp = tmp_path_factory.mktemp(request.param)
    with database(request.param, tmp) as db:
        service = InProcess(create_app(ServiceSettings(db=db, api_key=None, search=SearchLimits(max_offset=500))))
        try:
            for bundle in list(subject_bundles().values())[:2]:
                response = service.post("/", content=orjson.dumps(bundle), headers=FHIR)
                assert response.status_code == 200, response.text
            yield service
        finally:
            service.close()


def stored(rest: InProcess, rtype: str | None = None) -> list[dict[str, Any]]:
    resources = [orjson.loads(c) for c in rest.store.export()]
    return [r for r in resources if rtype is None or r["resourceType"] == rtype]


def snapshot(rest: InProcess) -> list[tuple[Any, ...]]:
    """Everything stored, every version and deletion included, to show that a refused request changed nothing."""
    from sqlalchemy import select

    from fhirbridge.store.schema import resource_version

    with rest.store.engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(select(resource_version)))


def valid(document: dict[str, Any]) -> dict[str, Any]:
    """The document, after the project's FHIR checker found nothing wrong with it."""
    assert structure_errors(document) == [], document
    return document


def search(rest: InProcess, url: str) -> dict[str, Any]:
    response = rest.get(url)
    assert response.status_code == 200, (url, response.text)
    return valid(response.json())


def ids(bundle: dict[str, Any], mode: str = "match") -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode}


def codes(concepts: Any) -> set[tuple[str | None, str]]:
    concepts = concepts if isinstance(concepts, list) else [concepts]
    return {(c.get("system"), c["code"]) for concept in concepts for c in (concept or {}).get("coding", [])}


def refused(rest: InProcess, response: Any, status: int, code: str, before: list[tuple[Any, ...]]) -> None:
    """A 4xx answered with an OperationOutcome carrying ``code``, after which the store holds what it held."""
    assert response.status_code == status, response.text
    outcome = valid(response.json())
    assert outcome["resourceType"] == "OperationOutcome"
    assert code in {i["details"]["coding"][0]["code"] for i in outcome["issue"]}, outcome
    assert snapshot(rest) == before


def new_patient(identifier: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": TEST_SYSTEM, "value": identifier}], **extra}


# writes ---------------------------------------------------------------------------------------------------------
def test_create_update_vread_history_delete_keep_every_version(rest: InProcess) -> None:
    created = rest.post("/Patient", json=new_patient("crud", gender="female"), headers=FHIR)
    assert created.status_code == 201, created.text
    body = valid(created.json())
    assert created.headers["location"] == f"http://fhir.test/Patient/{body['id']}/_history/1"
    assert created.headers["etag"] == 'W/"1"' and body["meta"]["versionId"] == "1"
    url = f"/Patient/{body['id']}"
    changed = {**body, "gender": "male"}
    stale = rest.put(url, json=changed, headers={**FHIR, "If-Match": 'W/"2"'})
    assert stale.status_code == 412 and rest.get(url).json()["gender"] == "female"
    updated = rest.put(url, json=changed, headers={**FHIR, "If-Match": 'W/"1"'})
    assert updated.status_code == 200 and updated.headers["etag"] == 'W/"2"'
    assert rest.get(f"{url}/_history/1").json()["gender"] == "female"
    assert rest.get(f"{url}/_history/2").json()["gender"] == "male"
    deleted = rest.delete(url)
    assert deleted.status_code == 204 and deleted.headers["etag"] == 'W/"3"'
    assert rest.get(url).status_code == 410 and rest.get(f"{url}/_history/3").status_code == 410
    assert rest.delete(url).status_code == 204  # deleting again is not an error
    assert body["id"] not in ids(search(rest, f"/Patient?identifier={TEST_SYSTEM}|crud"))
    history = valid(rest.get(f"{url}/_history").json())
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT", "POST"]
    back = rest.put(url, json=changed, headers=FHIR)  # an update brings it back, numbering on
    assert back.status_code == 201 and back.headers["etag"] == 'W/"4"'
    assert body["id"] in ids(search(rest, f"/Patient?identifier={TEST_SYSTEM}|crud"))


def test_conditional_create_and_update(rest: InProcess) -> None:
    condition = {"If-None-Exist": f"identifier={TEST_SYSTEM}|cond"}
    first = rest.post("/Patient", json=new_patient("cond"), headers={**FHIR, **condition})
    again = rest.post("/Patient", json=new_patient("cond", gender="other"), headers={**FHIR, **condition})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.headers["location"] == again.headers["location"]
    assert rest.get(first.headers["location"]).json().get("gender") is None
    query = f"/Patient?identifier={quote(TEST_SYSTEM)}|cond"
    updated = rest.put(query, json=new_patient("cond", gender="other"), headers=FHIR)
    assert updated.status_code == 200 and updated.headers["etag"] == 'W/"2"'
    assert updated.json()["id"] == first.json()["id"] and updated.json()["gender"] == "other"
    created = rest.put(f"/Patient?identifier={quote(TEST_SYSTEM)}|cond-new", json=new_patient("cond-new"),
                       headers=FHIR)
    assert created.status_code == 201
    before = snapshot(rest)
    several = rest.put(f"/Patient?identifier={quote(TEST_SYSTEM)}|cond,{quote(TEST_SYSTEM)}|cond-new",
                       json=new_patient("x"), headers=FHIR)
    refused(rest, several, 412, "FB-REST-002", before)
    wrong_id = rest.put(query, json={**new_patient("cond"), "id": "another"}, headers=FHIR)
    refused(rest, wrong_id, 400, "FB-REST-007", before)


def test_concurrent_conditional_creates_store_one_resource(rest: InProcess) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from fhirbridge.store.search_query import Criterion
    from fhirbridge.store.transaction import PlannedWrite

    condition = [Criterion("identifier", ((TEST_SYSTEM, "race"),))]

    def create(n: int) -> Any:
        planned = PlannedWrite(0, "POST", "Patient", f"race-{n}", {**new_patient("race"), "id": f"race-{n}"})
        return rest.store.write(planned, condition=condition)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(create, range(4)))
    assert sorted(r.status for r in results) == ["200 OK"] * 3 + ["201 Created"]
    assert len({r.id for r in results}) == 1
    assert len(search(rest, f"/Patient?identifier={TEST_SYSTEM}|race")["entry"]) == 1


@pytest.mark.parametrize(("method", "url", "body", "headers", "status", "code"), [
    ("POST", "/Patient", {"resourceType": "Patient", "gender": "bogus"}, {}, 422, "FB-FHIR-017"),
    ("POST", "/Patient", {"resourceType": "Patient", "meta": {
        "profile": ["http://hl7.org/fhir/StructureDefinition/Patient|5.0.0"]}}, {}, 422, "FB-REST-004"),
    ("POST", "/Patient", {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}, {}, 400,
     "FB-REST-007"),
    ("POST", "/Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                              "subject": {"reference": "Patient/not-stored"}}, {}, 422, "FB-SRV-005"),
    ("POST", "/Patient", new_patient("x"), {"If-None-Exist": "colour=red"}, 400, "FB-REST-001"),
    ("POST", "/Foo", {"resourceType": "Foo"}, {}, 400, "FB-REST-001"),
    ("PUT", "/Patient/abc", new_patient("x"), {}, 400, "FB-REST-007"),
    ("PUT", "/Patient/abc", {**new_patient("x"), "id": "abc"}, {"If-Match": "3"}, 400, "FB-SRV-011"),
    ("PUT", "/Patient/abc", {**new_patient("x"), "id": "abc"}, {"If-Match": 'W/"1"'}, 412, "FB-REST-002"),
    ("PUT", "/Patient", new_patient("x"), {}, 400, "FB-SRV-011"),
    ("DELETE", "/Patient/never-stored", None, {}, 404, "FB-SRV-010"),
    ("POST", "/Patient?_format=bogus", new_patient("x"), {}, 400, "FB-SRV-011"),
    ("POST", "/?_format=bogus", {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": new_patient("x"), "request": {"method": "POST", "url": "Patient"}}]}, {}, 400, "FB-SRV-011"),
    ("POST", "/", {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {**new_patient("r5"), "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/Patient|5.0.0"]}},
         "request": {"method": "POST", "url": "Patient"}}]}, {}, 422, "FB-REST-004"),
])
def test_refused_writes_answer_an_outcome_and_store_nothing(rest: InProcess, method: str, url: str, body: Any,
                                                            headers: dict[str, str], status: int, code: str) -> None:
    before = snapshot(rest)
    response = rest.request(method, url, json=body, headers={**FHIR, **headers})
    refused(rest, response, status, code, before)


def test_a_resource_nested_too_deeply_is_refused_before_it_is_read_further(rest: InProcess) -> None:
    inner = '{"url":"urn:x","valueString":"v"}'
    for _ in range(200):
        inner = f'{{"url":"urn:x","extension":[{inner}]}}'
    before = snapshot(rest)
    body = f'{{"resourceType":"Patient","extension":[{inner}]}}'.encode()
    refused(rest, rest.post("/Patient", content=body, headers=FHIR), 400, "FB-REST-008", before)


def test_a_referenced_resource_cannot_be_deleted(rest: InProcess) -> None:
    patient = stored(rest, "Patient")[0]
    before = snapshot(rest)
    refused(rest, rest.delete(f"/Patient/{patient['id']}"), 409, "FB-REST-005", before)


def test_decimals_and_extreme_dates_are_kept_as_written(rest: InProcess) -> None:
    text = (b'{"resourceType":"Observation","status":"final","code":{"text":"precision"},'
            b'"valueQuantity":{"value":1.50,"unit":"mg"},"effectiveDateTime":"0001-01-01T00:00:00+01:00"}')
    created = rest.post("/Observation", content=text, headers=FHIR)
    assert created.status_code == 201, created.text
    assert b'"value":1.50' in created.content
    assert b'"value":1.50' in rest.get(created.headers["location"]).content
    subsetted = f"/Observation?_id={created.json()['id']}&_elements=valueQuantity"
    assert b'"value":1.50' in rest.get(subsetted).content
    assert rest.get(f"{subsetted}&_format=xml").status_code == 200
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6f1f7c3c-8d2a-4c55-9a51-0d0f3a6f9e01",
         "request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "late"},
                      "valueQuantity": {"value": 2.500, "unit": "mg"},
                      "effectiveDateTime": "9999-12-31T23:59:59-05:00"}}]}
    raw = orjson.dumps(bundle).replace(b'"value":2.5', b'"value":2.500')
    ingested = rest.post("/", content=raw, headers=FHIR)
    assert ingested.status_code == 200, ingested.text
    location = ingested.json()["entry"][0]["response"]["location"]
    assert b'"value":2.500' in rest.get(f"/{location}").content
    assert "6f1f7c3c-8d2a-4c55-9a51-0d0f3a6f9e01" in ids(search(rest, "/Observation?date=ge9999-12-31"))
    assert created.json()["id"] in ids(search(rest, "/Observation?date=le0001-01-01"))


def test_decimals_keep_their_digits_through_xml(rest: InProcess) -> None:
    """FHIR XML in and out keeps a decimal's digits as JSON does (``1.50`` is not ``1.5``)."""
    xml = (b'<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="xml precision"/>'
           b'</code><valueQuantity><value value="1.50"/><unit value="mg"/></valueQuantity></Observation>')
    created = rest.post("/Observation", content=xml, headers={"Content-Type": "application/fhir+xml"})
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert b'"value":1.50' in rest.get(location).content
    assert b'<value value="1.50"/>' in rest.get(f"{location}?_format=xml").content
    text = (b'{"resourceType":"Observation","status":"final","code":{"text":"json precision"},'
            b'"valueQuantity":{"value":2.250,"unit":"mg"}}')
    from_json = rest.post("/Observation", content=text, headers=FHIR)
    assert from_json.status_code == 201, from_json.text
    assert b'<value value="2.250"/>' in rest.get(f"{from_json.headers['location']}?_format=xml").content
    found = rest.get(f"/Observation?_id={from_json.json()['id']}&_format=xml")
    assert b'<value value="2.250"/>' in found.content


# search ---------------------------------------------------------------------------------------------------------
def _ref(resource: dict[str, Any], element: str) -> str | None:
    value = resource.get(element)
    return value.get("reference") if isinstance(value, dict) else None


CASES: list[tuple[str, str, Callable[[dict[str, Any], dict[str, Any]], bool]]] = [
    ("Observation", f"code={LOINC_AIS}", lambda r, _: ("http://loinc.org", "97843-7") in codes(r["code"])),
    ("Observation", "code=97843-7,isncsci-exam",
     lambda r, _: bool({c for _, c in codes(r["code"])} & {"97843-7", "isncsci-exam"})),
    ("Observation", "category=survey", lambda r, _: "survey" in {c for _, c in codes(r.get("category"))}),
    ("Observation", "category:not=survey", lambda r, _: "survey" not in {c for _, c in codes(r.get("category"))}),
    ("Observation", "status=final", lambda r, _: r.get("status") == "final"),
    ("Observation", "subject=Patient/{patient}", lambda r, p: _ref(r, "subject") == f"Patient/{p['id']}"),
    ("Observation", "patient={patient}", lambda r, p: _ref(r, "subject") == f"Patient/{p['id']}"),
    ("Observation", "subject:Patient.identifier={identifier}", lambda r, p: _ref(r, "subject") == f"Patient/{p['id']}"),
    ("Observation", "date=ge2013-08&date=lt2014",
     lambda r, _: r.get("effectiveDateTime", "")[:7] >= "2013-08" and r.get("effectiveDateTime", "") < "2014"),
    ("Observation", "code=97843-7&subject=Patient/{patient}",
     lambda r, p: ("http://loinc.org", "97843-7") in codes(r["code"]) and _ref(r, "subject") == f"Patient/{p['id']}"),
    ("Patient", "gender=male", lambda r, _: r.get("gender") == "male"),
    ("Patient", "birthdate=lt1970", lambda r, _: r.get("birthDate", "9999") < "1970"),
    ("Patient", "birthdate:missing=true", lambda r, _: "birthDate" not in r),
    ("Patient", "identifier={identifier}", lambda r, p: r["id"] == p["id"]),
    ("Patient", "_id={patient}", lambda r, p: r["id"] == p["id"]),
    ("Patient", "_lastUpdated=gt2000-01-01&gender=male", lambda r, _: r.get("gender") == "male"),
    ("Patient", "_lastUpdated=lt2000-01-01", lambda r, _: False),
    ("ResearchSubject", "study=ResearchStudy/{study}", lambda r, s: True),
    ("ResearchSubject", "status=on-study", lambda r, _: r.get("status") == "on-study"),
    ("ResearchStudy", "title=INTRAVENOUS", lambda r, _: r["title"].lower().startswith("intravenous")),
    ("ResearchStudy", "title:exact=intravenous", lambda r, _: False),
    ("ResearchStudy", "title:contains=bone marrow", lambda r, _: "bone marrow" in r["title"]),
    ("Procedure", "code=http://snomed.info/sct|{procedure_code}",
     lambda r, p: ("http://snomed.info/sct", p["procedure_code"]) in codes(r["code"])),
    ("Procedure", "date=2013", lambda r, _: r.get("performedDateTime", r.get("performedPeriod", {}).get("start", ""))
     .startswith("2013")),
    ("Condition", "code=http://snomed.info/sct|90584004",
     lambda r, _: ("http://snomed.info/sct", "90584004") in codes(r["code"])),
    ("AdverseEvent", "event=10037660", lambda r, _: "10037660" in {c for _, c in codes(r.get("event"))}),
    ("AdverseEvent", "subject:missing=false", lambda r, _: "subject" in r),
]


def _fill(query: str, patient: dict[str, Any], study: dict[str, Any], procedure: dict[str, Any]) -> str:
    ident = patient["identifier"][0]
    return query.format(patient=patient["id"], identifier=quote(f"{ident['system']}|{ident['value']}"),
                        study=study["id"], procedure_code=next(iter(codes(procedure["code"])))[1])


@pytest.mark.parametrize(("rtype", "query", "expected"), CASES, ids=[f"{t}?{q}" for t, q, _ in CASES])
def test_search_finds_what_the_parameter_means(rest: InProcess, rtype: str, query: str,
                                               expected: Callable[[dict[str, Any], dict[str, Any]], bool]) -> None:
    patient = next(p for p in stored(rest, "Patient") if p["identifier"][0]["system"] == SUBJECT_SYSTEM)
    study, procedure = stored(rest, "ResearchStudy")[0], stored(rest, "Procedure")[0]
    context = {**patient, "procedure_code": next(iter(codes(procedure["code"])))[1]}
    want = {r["id"] for r in stored(rest, rtype) if expected(r, context)}
    found = search(rest, f"/{rtype}?{_fill(query, patient, study, procedure)}&_count=1000&_total=accurate")
    assert ids(found) == want and found["total"] == len(want)
    if "{" not in query and rtype == "Observation" and query.startswith("code="):
        assert want, "the case must find something to show that it works"


def paged_ids(rest: InProcess, url: str) -> list[str]:
    """The ids of every page of a search, following its ``next`` links (keyset cursors)."""
    found: list[str] = []
    at: str | None = url
    while at:
        page = search(rest, at.removeprefix("http://fhir.test"))
        found.extend(e["resource"]["id"] for e in page.get("entry", []))
        at = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    return found


def test_results_page_by_key_and_no_write_between_pages_repeats_or_skips_one(rest: InProcess) -> None:
    expected = {r["id"] for r in stored(rest, "Observation") if r.get("status") == "final"}
    seen: list[str] = []
    url: str | None = "/Observation?status=final&_count=40&_sort=-date"
    dates: list[str] = []
    while url:
        page = search(rest, url.removeprefix("http://fhir.test"))
        seen.extend(e["resource"]["id"] for e in page.get("entry", []))
        dates.extend(e["resource"].get("effectiveDateTime", "")[:10] for e in page.get("entry", []))
        if len(seen) == 40:  # between the pages, resources are created ahead of and behind the cursor
            for day in ("2000-01-01", "2099-01-01"):
                obs = {"resourceType": "Observation", "status": "final", "code": {"text": "paging"},
                       "effectiveDateTime": day}
                assert rest.post("/Observation", json=obs, headers=FHIR).status_code == 201
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    old = [i for i in seen if i in expected]
    assert len(seen) == len(set(seen)) and set(old) == expected
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("order", ["date", "-date"])
def test_sorting_by_a_date_walks_the_index_in_the_order_every_key_would_give(rest: InProcess, order: str) -> None:
    """Matches with a date come in key order (latest end descending, earliest start ascending), those without one
    last (descending) or first, ties by id; paging by cursor and by offset agree."""
    undated = {"resourceType": "Observation", "status": "final", "code": {"text": "undated"}}
    for _ in range(2):
        assert rest.post("/Observation", json=undated, headers=FHIR).status_code == 201
    descending = order.startswith("-")
    keyed = []
    for r in stored(rest, "Observation"):
        if r.get("status") != "final":
            continue
        dates = [v for v in index_values(r) if v.param == "date"]
        key = (max(v.high for v in dates) if descending else min(v.low for v in dates)) if dates else ""
        keyed.append((key, r["id"]))
    want = [i for _, i in sorted(keyed, reverse=descending)]
    by_cursor = paged_ids(rest, f"/Observation?status=final&_sort={order}&_count=7")
    by_offset = [e["resource"]["id"] for offset in range(0, len(want), 7)
                 for e in search(rest, f"/Observation?status=final&_sort={order}&_count=7&_offset={offset}")["entry"]]
    assert by_cursor == by_offset == want
    bounded = "ge2013-08" if descending else "le2013-08"
    first = search(rest, f"/Observation?status=final&date={bounded}&_sort={order}&_count=5&_total=accurate")
    inside = [i for k, i in sorted(keyed, reverse=descending) if k and (k >= "2013-08" if descending else
                                                                        k <= "2013-08-31T23:59:59")]
    assert [e["resource"]["id"] for e in first["entry"]] == inside[:5] and first["total"] == len(inside)


def test_a_resource_holding_the_searched_code_twice_comes_once_on_every_page(rest: InProcess) -> None:
    """A page read along the index entries of a code meets such a resource twice; it is shown once, and the page
    is still full."""
    coding = {"system": TEST_SYSTEM, "code": "twice"}
    made = []
    for day in ("2020-01-01", "2020-01-02", "2020-01-03"):
        obs = {"resourceType": "Observation", "status": "final", "code": {"coding": [coding, coding]},
               "effectiveDateTime": day}
        made.append(rest.post("/Observation", json=obs, headers=FHIR).json()["id"])
    for query, want in (("", sorted(made)), ("&_sort=-date", made[::-1])):
        seen: list[str] = []
        url: str | None = f"/Observation?code={TEST_SYSTEM}|twice&_count=2{query}"
        while url:
            page = search(rest, url.removeprefix("http://fhir.test"))
            seen.extend(e["resource"]["id"] for e in page.get("entry", []))
            assert len(page.get("entry", [])) == (2 if len(seen) <= 2 else 1)
            url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        assert seen == want


def test_a_page_of_several_codes_by_id_holds_each_match_once_by_cursor_and_by_offset(rest: InProcess) -> None:
    """Several values OR-ed, by id: a resource holding both codes, or one code twice, is one match; paging by
    cursor and by offset give every match once, in id order (PostgreSQL reads the ids from the search index)."""
    codings = ([("a",)], [("b",)], [("a",), ("b",)], [("a",), ("a",)], [("b",), ("a",), ("b",)])
    made = []
    for codes in codings:
        obs = {"resourceType": "Observation", "status": "final",
               "code": {"coding": [{"system": TEST_SYSTEM, "code": f"either-{code}"} for (code,) in codes]}}
        made.append(rest.post("/Observation", json=obs, headers=FHIR).json()["id"])
    query = f"/Observation?code={TEST_SYSTEM}|either-a,{TEST_SYSTEM}|either-b&_count=2"
    by_cursor = paged_ids(rest, query)
    by_offset = [e["resource"]["id"] for offset in range(0, len(made), 2)
                 for e in search(rest, f"{query}&_offset={offset}")["entry"]]
    assert by_cursor == by_offset == sorted(made)


def test_include_revinclude_elements_summary_and_total(rest: InProcess) -> None:
    patient = next(p for p in stored(rest, "Patient") if p["identifier"][0]["system"] == SUBJECT_SYSTEM)
    observations = [r for r in stored(rest, "Observation") if _ref(r, "subject") == f"Patient/{patient['id']}"]
    revinclude = search(rest, f"/Patient?_id={patient['id']}&_revinclude=Observation:subject")
    assert ids(revinclude) == {patient["id"]} and ids(revinclude, "include") == {o["id"] for o in observations}
    include = search(rest, f"/Observation?subject={patient['id']}&_include=Observation:subject&_count=3")
    assert ids(include, "include") == {patient["id"]}
    counted = search(rest, f"/Observation?subject={patient['id']}&_summary=count")
    assert counted["total"] == len(observations) and "entry" not in counted
    assert "total" not in search(rest, "/Observation?_total=none&_count=1")
    # counting costs more than a page: without _total the total is left out, and the next link alone says more
    # matches follow (the page asks for one more row than it shows instead of counting)
    for asked in ("", "&_total=accurate", "&_total=estimate"):
        paged = search(rest, f"/Observation?subject={patient['id']}&_count={len(observations) - 1}{asked}")
        assert paged.get("total") == (len(observations) if asked else None)
        assert [link["relation"] for link in paged["link"]] == ["self", "next"]
    assert search(rest, f"/Observation?subject={patient['id']}&_count=0")["total"] == len(observations)
    whole = search(rest, f"/Observation?subject={patient['id']}&_count={len(observations)}")
    assert [link["relation"] for link in whole["link"]] == ["self"] and len(whole["entry"]) == len(observations)
    # a SUBSETTED resource lacks required elements by design: the Bundle is not structure-checked
    subsetted = rest.get("/Observation?_elements=status&_count=2").json()["entry"]
    for entry in subsetted:
        assert set(entry["resource"]) == {"resourceType", "id", "meta", "status"}
        assert entry["resource"]["meta"]["tag"][-1]["code"] == "SUBSETTED"
    ordered = search(rest, "/Patient?_sort=-birthdate&birthdate:missing=false")
    births = [e["resource"]["birthDate"] for e in ordered["entry"]]
    assert births == sorted(births, reverse=True) and len(births) >= 2


@pytest.mark.parametrize(("url", "code"), [
    ("/Patient?_id=%ff", "FB-SRV-011"),
    ("/Foo?_id=x", "FB-REST-001"),
    ("/Observation?_offset=9223372036854775808", "FB-SRV-011"),
    ("/Observation?_offset=501", "FB-SRV-011"),
    ("/Observation?_count=-1", "FB-SRV-011"),
    ("/Observation?identifier=a%00b", "FB-SRV-011"),
    ("/Observation?code=%00", "FB-SRV-011"),
    ("/Observation?subject=" + ",".join(f"p{i}" for i in range(5000)), "FB-SRV-011"),
    ("/Observation?" + "&".join(["code=x"] * 500), "FB-SRV-011"),
    # more parameters than any request may carry: the service's guard refuses it before search reads it
    ("/Observation?" + "&".join(["subject=x"] * 5000), "FB-SRV-031"),
    ("/Observation?" + "&".join(["code=x"] * 11), "FB-SRV-011"),
    ("/Observation?code=" + ",".join(["x"] * 101), "FB-SRV-011"),
    ("/Observation?colour=blue", "FB-REST-001"),
    ("/Observation?code:fuzzy=x", "FB-REST-001"),
    ("/Observation?_summary=text", "FB-REST-001"),
    ("/Observation?_sort=colour", "FB-REST-001"),
    ("/Observation?_include=*", "FB-REST-001"),
    ("/Observation?_revinclude=Observation:code", "FB-REST-001"),
    ("/Observation?date=2019-02-30", "FB-SRV-011"),
    ("/Observation?subject=Patient/a b", "FB-SRV-011"),
    ("/Observation?_id=", "FB-SRV-011"),
    ("/Observation?code=|", "FB-SRV-011"),
    ("/Observation?_cursor=not-a-cursor", "FB-SRV-011"),
    ("/Observation?_total=maybe", "FB-SRV-011"),
    ("/Observation?subject:Device.identifier=x", "FB-REST-001"),
])
def test_bad_searches_are_refused_before_any_query(rest: InProcess, url: str, code: str) -> None:
    response = rest.get(url)
    assert response.status_code == 400, response.text
    issue = valid(response.json())["issue"][0]
    assert issue["details"]["coding"][0]["code"] == code
    if code == "FB-REST-001":
        assert issue["code"] == "not-supported"


def test_lenient_handling_ignores_and_reports_unsupported_parameters(rest: InProcess) -> None:
    strict = search(rest, "/Patient?gender=male")
    lenient = rest.get("/Patient?gender=male&colour=blue", headers={"Prefer": "handling=lenient"})
    assert lenient.status_code == 200
    bundle = valid(lenient.json())
    assert ids(bundle) == ids(strict)
    [outcome] = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "FB-REST-006"


# operations and capability --------------------------------------------------------------------------------------
def test_everything_returns_the_patient_and_what_refers_to_it(rest: InProcess) -> None:
    patient = next(p for p in stored(rest, "Patient") if p["identifier"][0]["system"] == SUBJECT_SYSTEM)
    about = {r["id"] for r in stored(rest) if f"Patient/{patient['id']}" in orjson.dumps(r).decode()
             and r["resourceType"] in ("Observation", "Condition", "Procedure", "AdverseEvent", "ResearchSubject")}
    found = search(rest, f"/Patient/{patient['id']}/$everything")
    types = {e["resource"]["resourceType"] for e in found["entry"]}
    assert about | {patient["id"]} <= ids(found) and "ResearchStudy" in types
    assert rest.get("/Patient/not-stored/$everything").status_code == 404


def test_validate_takes_parameters_with_resource_and_profile(rest: InProcess) -> None:
    bad = {"resourceType": "Patient", "gender": "bogus"}
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bad}]}
    direct, wrapped = (rest.post("/$validate", json=body, headers=FHIR) for body in (bad, parameters))
    issues = [{i["details"]["coding"][0]["code"] for i in r.json()["issue"]} for r in (direct, wrapped)]
    assert "FB-FHIR-017" in issues[0] and issues[0] == issues[1]
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/x"}, "code": {"text": "a fall"}}
    profile = "https://fhirbridge.org/fhir/StructureDefinition/sci-injury"
    plain = rest.post("/$validate", json=condition, headers=FHIR).json()
    profiled = rest.post("/$validate", json={"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": condition}, {"name": "profile", "valueUri": profile}]}, headers=FHIR).json()
    found = [{i["details"]["coding"][0]["code"] for i in r["issue"] if "details" in i} for r in (plain, profiled)]
    assert "FB-FHIR-031" in found[1] - found[0]  # the profile's rules ran


def test_capability_statement_is_valid_and_says_what_the_routes_do(rest: InProcess) -> None:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    statement = valid(rest.get("/metadata").json())
    CapabilityStatement.model_validate(statement)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {i["code"] for i in resources["Patient"]["interaction"]} == {
        "read", "vread", "history-instance", "search-type", "create", "update", "delete"}
    assert resources["Patient"]["operation"][0]["name"] == "everything"
    bulk = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
    assert {o["definition"] for o in resources["Patient"]["operation"]} >= {f"{bulk}patient-export"}
    assert resources["Group"]["operation"] == [{"name": "export", "definition": f"{bulk}group-export"}]
    assert {i["code"] for i in resources["Group"]["interaction"]} == {"read", "vread", "history-instance"}
    assert {o["name"] for o in statement["rest"][0]["operation"]} == {
        "validate", "convert", "export", "export-sdtm", "import"}
    for rtype, entry in resources.items():
        for param in entry.get("searchParam", []):  # every parameter listed is accepted
            value = {"token": "x", "reference": "x", "date": "2020", "string": "x"}[param["type"]]
            response = rest.get(f"/{rtype}?{param['name']}={value}&_summary=count")
            assert response.status_code == 200, (rtype, param, response.text)
        for include in entry.get("searchInclude", []):
            assert rest.get(f"/{rtype}?_include={include}&_count=1").status_code == 200
        for include in entry.get("searchRevInclude", []):
            assert rest.get(f"/{rtype}?_revinclude={include}&_count=1").status_code == 200


def plans(rest: InProcess, url: str, generic: bool = False) -> list[str]:
    """The plans of the statements on the search index that a search runs, caught on their way to the database
    and explained there, after checking that neither table is read whole (on PostgreSQL, with so few rows, a plain
    scan is cheapest: sequential scans are turned off to ask whether the index may serve). ``generic``: the plans
    PostgreSQL makes without the values, as it does for a statement the service has run a few times."""
    from sqlalchemy import event

    engine = rest.store.engine
    statements: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "fb_search_value" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", catch)
    try:
        search(rest, url)
    finally:
        event.remove(engine, "before_cursor_execute", catch)
    found = []
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            if generic:
                conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        for statement, parameters in statements:
            if engine.dialect.name == "sqlite":
                plan = "\n".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
                assert "SCAN fb_resource" not in plan and "SCAN fb_search_value" not in plan, plan
            else:
                plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))
                assert "Seq Scan" not in plan, plan
            found.append(plan)
    return found


def test_the_index_is_used_for_token_reference_and_date_searches(rest: InProcess) -> None:
    patient = stored(rest, "Patient")[0]["id"]
    # a count may read a code's entries from either index that starts with it
    for query, index in ((f"code={LOINC_AIS}", "ix_fb_search_value_token_"),
                         (f"subject=Patient/{patient}", "ix_fb_search_value_token_"),
                         ("date=2013-07-30", "ix_fb_search_value_date_")):
        found = plans(rest, f"/Observation?{query}&_count=5&_total=accurate")
        assert len(found) == 2  # the count and the page
        for plan in found:
            assert index in plan, plan


@pytest.mark.parametrize(("query", "index"), [
    # a system alone: no code compared
    ("category=http://terminology.hl7.org/CodeSystem/observation-category|", "ix_fb_search_value_token_id"),
    ("code:missing=false", "ix_fb_search_value_token_id"),
    ("date:missing=true", "ix_fb_search_value_date_"),
    ("_sort=-date", "ix_fb_search_value_date_high"),
    ("_sort=date", "ix_fb_search_value_date_low"),
])
def test_searches_that_compare_no_value_still_read_the_partial_indexes(rest: InProcess, query: str,
                                                                       index: str) -> None:
    """The token and date indexes hold only their kind of row (migration 0008); a search that compares no value
    of that kind (a system alone, ``:missing``, a sort) names the kind, or the database would read every row of
    the type in the per-resource index. PostgreSQL chooses by cost among the indexes (``plans`` checks it reads
    no table whole); SQLite's choice is fixed by the conditions."""
    found = plans(rest, f"/Observation?{query}&_count=5")
    if rest.store.engine.dialect.name == "sqlite":
        assert any(index in plan for plan in found), found


def test_a_revinclude_reads_the_partial_token_index(rest: InProcess) -> None:
    """``_revinclude`` looks up the references to the page's resources by their id."""
    found = plans(rest, "/Patient?_revinclude=Observation:subject&_count=3", generic=True)
    assert any("ix_fb_search_value_token_id" in plan for plan in found), found
    if rest.store.engine.dialect.name == "postgresql":  # a lookup per id, not the parameter's range filtered
        [revinclude] = [plan for plan in found if "Values Scan" in plan]
        assert "Filter" not in revinclude, revinclude
        assert any("Index Cond" in line and "(value = " in line for line in revinclude.splitlines()), revinclude


@pytest.mark.parametrize(("order", "index"), [("-date", "ix_fb_search_value_token_date_high"),
                                              ("date", "ix_fb_search_value_token_date_low")])
def test_a_code_sorted_by_date_is_read_along_the_code_entries_in_date_order(rest: InProcess, order: str,
                                                                           index: str) -> None:
    """The page of a code sorted by date is one range of the index pairing the code with its resource's date
    keys, read in order: no entry of another code is read, and nothing is sorted."""
    bound = "ge2013-08" if order.startswith("-") else "le2013-08"
    found = plans(rest, f"/Observation?code={LOINC_AIS}&date={bound}&_sort={order}&_count=2")
    # ascending, the matches without a date come first: their statement is run before the walk
    [page] = [plan for plan in found if index in plan]
    if rest.store.engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in page, page


def test_a_chained_identifier_is_resolved_by_index_lookups(rest: InProcess) -> None:
    patient = next(p for p in stored(rest, "Patient") if p["identifier"][0]["system"] == SUBJECT_SYSTEM)
    value = patient["identifier"][0]["value"]
    [plan] = plans(rest, f"/Observation?subject:Patient.identifier={SUBJECT_SYSTEM}|{value}&_count=5")
    assert plan.count("ix_fb_search_value_token_") >= 2, plan  # the identifier, then the references to it


def test_every_write_keeps_the_search_rows_those_of_the_current_contents(rest: InProcess) -> None:
    """Create, update (a new date), delete and ingest rewrite a resource's search rows, the date keys carried by
    its codes and references included: the index holds exactly what the current contents give."""
    from collections import Counter

    from sqlalchemy import select

    from fhirbridge.store.schema import search_value
    from fhirbridge.store.search_params import index_rows

    obs = {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": TEST_SYSTEM,
                                                                                 "code": "rekeyed"}]},
           "effectiveDateTime": "2001-01-01"}
    made = [rest.post("/Observation", json=obs, headers=FHIR).json() for _ in range(3)]
    moved = rest.put(f"/Observation/{made[0]['id']}", json={**made[0], "effectiveDateTime": "2003-05-06"},
                     headers=FHIR)
    assert moved.status_code == 200, moved.text
    assert rest.delete(f"/Observation/{made[1]['id']}").status_code == 204
    undated = {k: v for k, v in made[2].items() if k != "effectiveDateTime"}
    assert rest.put(f"/Observation/{made[2]['id']}", json=undated, headers=FHIR).status_code == 200
    newest = search(rest, f"/Observation?code={TEST_SYSTEM}|rekeyed&_sort=-date&_count=1")
    assert [e["resource"]["id"] for e in newest["entry"]] == [made[0]["id"]]
    with rest.store.engine.connect() as conn:
        held = Counter(tuple(row._mapping.values()) for row in conn.execute(select(
            *(search_value.c[c] for c in ("resource_type", "resource_id", "param", "system", "value", "low", "high",
                                          "date_low", "date_high")))))
    want = Counter(tuple(row.values()) for r in stored(rest) for row in index_rows(r["resourceType"], r["id"], r))
    assert held == want


def test_unchanged_update_and_copy_of_a_stored_resource(rest: InProcess) -> None:
    patient = copy.deepcopy(stored(rest, "Patient")[0])
    again = rest.put(f"/Patient/{patient['id']}", json=patient, headers=FHIR)
    assert again.status_code == 200 and again.headers["etag"] == f'W/"{patient["meta"]["versionId"]}"'
