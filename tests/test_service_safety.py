"""Safety of the running service: API key on every endpoint but /metadata, body size limit, hardened XML, no
patient data in the log, and a graceful shutdown that finishes the requests in flight."""

from __future__ import annotations

import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from test_service_support import Service, running, subject_bundles

FHIR = {"Content-Type": "application/fhir+json"}
XML = {"Content-Type": "application/fhir+xml"}
KEY = "s3cret"
AUTHORISED = {**FHIR, "Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A server with an API key and a body limit of 1 MiB."""
    tmp = tmp_path_factory.mktemp("safety")
    with running(str(tmp / "db.sqlite"), tmp, {"FHIRBRIDGE_API_KEY": KEY}, "--max-body", "1") as svc:
        yield svc


def _one_subject() -> dict:
    return next(iter(subject_bundles().values()))


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def test_every_endpoint_but_metadata_needs_the_api_key_when_one_is_set(service: Service) -> None:
    bundle = {"resourceType": "Bundle", "type": "batch"}
    with service.client() as client:
        refused = client.post("/", json=bundle, headers=FHIR)
        assert refused.status_code == 401 and _code(refused) == "FB-SRV-012"
        wrong = client.post("/", json=bundle, headers={**FHIR, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert client.post("/", json=bundle, headers=AUTHORISED).status_code == 200
        assert client.post("/", json=bundle, headers={**FHIR, "X-API-Key": KEY}).status_code == 200
        assert client.get("/metadata").status_code == 200  # the CapabilityStatement needs no key
        for read in ("/Patient", "/$export", "/$export-sdtm"):  # reads need it, exports included
            assert client.get(read).status_code == 401, read
        assert client.get("/Patient", headers={"X-API-Key": KEY}).status_code == 200


def test_bodies_over_the_limit_are_refused_unread(service: Service) -> None:
    big = b'{"resourceType": "Bundle", "type": "batch", "entry": [' + b" " * (2 * 1024 * 1024) + b"]}"
    with service.client() as client:
        declared = client.post("/", content=big, headers=AUTHORISED)
        assert declared.status_code == 413 and _code(declared) == "FB-SRV-007"

        def chunks():  # no Content-Length: the limit applies while the body streams in
            for start in range(0, len(big), 65536):
                yield big[start:start + 65536]

        streamed = client.post("/$validate", content=chunks(), headers=AUTHORISED)
        assert streamed.status_code == 413 and _code(streamed) == "FB-SRV-007"
        assert client.get("/metadata").status_code == 200


def test_xml_with_entities_is_refused(service: Service) -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
              b'<Patient xmlns="http://hl7.org/fhir"><id value="&lol2;"/></Patient>')
    external = (b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'<Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>')
    with service.client() as client:
        for body in (laughs, external):
            for url in ("/", "/$validate"):
                response = client.post(url, content=body, headers={**XML, "Authorization": f"Bearer {KEY}"})
                assert response.status_code == 400 and _code(response) == "FB-FHIR-051"
                assert "root:" not in response.text
        broken = client.post("/$validate", content=b"<Patient", headers={**XML, "Authorization": f"Bearer {KEY}"})
        assert broken.status_code == 400 and _code(broken) == "FB-FHIR-050"


def test_the_log_holds_no_patient_data(service: Service) -> None:
    bundle = _one_subject()
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    secrets = {patient["id"], patient["identifier"][0]["value"], patient["birthDate"]}
    with service.client() as client:
        assert client.post("/", json=bundle, headers=AUTHORISED).status_code == 200
        assert client.get(f"/Patient/{patient['id']}", headers=AUTHORISED).status_code == 200
        assert client.get(f"/Observation?subject=Patient/{patient['id']}&date=ge{patient['birthDate']}",
                          headers=AUTHORISED).status_code == 200
        bad = client.post("/", json={"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": {**patient, "birthDate": "not a date"}, "request": {"method": "PUT",
                                                                          "url": f"Patient/{patient['id']}"}}]},
                          headers=AUTHORISED)
        assert bad.status_code == 422
    deadline = time.monotonic() + 10  # a request's line is written once its answer has been sent
    while "POST / 422" not in (log := service.log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "GET /{rtype}/{rid} 200" in log  # requests are logged, by route
    # time stamps, durations, random request ids, the process id and the port could hold a short identifier such
    # as "001" by chance
    said = re.sub(r"(?m)^\S+ \S+ |[\d.]+ms [0-9a-f-]{36}$|\[\d+\]|:\d+ ", "", log)
    assert [s for s in secrets if s in said] == [], log


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    bundle = _one_subject()
    body = orjson.dumps(bundle)
    with running(str(tmp_path / "db.sqlite"), tmp_path) as service:
        with socket.create_connection(("127.0.0.1", service.port)) as sock:
            head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            sock.sendall(head + body[:1000])
            time.sleep(0.5)  # the server has the request line and headers: the request is in flight
            service.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            sock.sendall(body[1000:])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        # uvicorn exits by re-raising the signal it caught, after the requests in flight are answered
        assert service.process.wait(timeout=60) in (0, -signal.SIGTERM)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK"
    response = orjson.loads(rest.partition(b"\r\n\r\n")[2])
    assert len(response["entry"]) == len(bundle["entry"])
    assert "Shutting down" in service.log.read_text()
