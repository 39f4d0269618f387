"""Bad requests answer 4xx with an OperationOutcome, never 500, and change nothing stored: the cases a registry
sees from broken clients and attackers (in-process; the cases that need a real socket are in
test_service_slow_clients.py)."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from test_service_support import EXAMPLE, subject_bundles

from fhirbridge.formats.fhir import xml as fhir_xml
from fhirbridge.service.app import create_app
from fhirbridge.service.settings import ServiceSettings

FHIR = {"Content-Type": "application/fhir+json"}
ZIP = {"Content-Type": "application/zip"}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("limits")
    settings = ServiceSettings(db=str(tmp / "db.sqlite"), files_dir=str(tmp / "files"), api_key=None,
                               max_unzipped=MIB, max_entries=1000)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def code_of(response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"][0]["details"]["coding"][0]["code"]


def stored(client: TestClient) -> bytes:
    response = client.get("/$export")
    assert response.status_code == 200
    return response.content


def test_a_bogus_format_is_refused_before_anything_is_stored(client: TestClient) -> None:
    before = stored(client)
    bundle = next(iter(subject_bundles().values()))
    refused = client.post("/?_format=bogus", content=orjson.dumps(bundle), headers=FHIR)
    assert refused.status_code == 400 and code_of(refused) == "FB-SRV-011"
    assert stored(client) == before


def test_too_many_entries_are_refused_before_validation(client: TestClient) -> None:
    body = b'{"resourceType":"Bundle","type":"batch","entry":[' + b"{}," * 199_999 + b"{}]}"
    for url in ("/", "/$validate"):
        response = client.post(url, content=body, headers=FHIR)
        assert response.status_code == 413 and code_of(response) == "FB-SRV-031"


@pytest.mark.parametrize("depth", [255, 600, 1024, 5000])
def test_deeply_nested_json_is_refused(client: TestClient, depth: int) -> None:
    nested = b'{"resourceType":"Basic","extension":' + b"[" * depth + b"]" * depth + b"}"
    for url in ("/", "/$validate"):
        response = client.post(url, content=nested, headers=FHIR)
        assert response.status_code == 400 and code_of(response) in ("FB-REST-008", "FB-IO-006")


def test_a_nul_character_in_a_string_is_refused(client: TestClient) -> None:
    bundle = next(iter(subject_bundles().values()))
    text = orjson.dumps(bundle).replace(b'"value":"HONMOU2021-', b'"value":"HONMOU2021\\u0000-', 1)
    assert text != orjson.dumps(bundle)
    response = client.post("/", content=text, headers=FHIR)
    assert response.status_code == 400 and code_of(response) == "FB-FHIR-001"


def test_a_nul_character_in_a_query_is_refused_before_the_database_sees_it(client: TestClient) -> None:
    for url in ("/Patient?identifier=a%00b", "/Observation?code=%00", "/Patient?_id=x&%00=1"):
        response = client.get(url)
        assert response.status_code == 400 and code_of(response) == "FB-SRV-011", url


def test_logged_exceptions_keep_their_type_and_frames_but_not_their_message() -> None:
    import logging

    from fhirbridge.service.logs import NoExceptionText

    identifier, birth_date = "HONMOU2021-" + "001", "1968-" + "11-18"  # data, not code: not in the frames' lines
    try:
        raise ValueError(f"INSERT … parameters ({identifier!r}, {birth_date!r})")
    except ValueError:
        record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application",
                                   (), exc_info=__import__("sys").exc_info())
    assert NoExceptionText().filter(record)
    text = logging.Formatter().format(record)
    assert "ValueError" in text and "test_service_limits.py" in text
    assert identifier not in text and birth_date not in text


def test_writes_need_a_content_type(client: TestClient) -> None:
    bundle = orjson.dumps({"resourceType": "Bundle", "type": "batch"})
    missing = client.post("/", content=bundle)
    assert missing.status_code == 415 and code_of(missing) == "FB-SRV-008"
    plain = client.post("/", content=bundle, headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415


def test_answers_are_not_sniffed_nor_cached(client: TestClient) -> None:
    for response in (client.get("/metadata"), client.get("/Patient"), client.get("/Patient/nope"),
                     client.post("/", content=b"{", headers=FHIR)):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Request-Id"]


def test_upload_names_longer_than_the_limit_are_refused(client: TestClient) -> None:
    response = client.post("/$validate", files=[("file", ("a" * 300 + ".csv", b"x,y\n1,2\n", "text/csv"))])
    assert response.status_code == 400 and code_of(response) == "FB-SRV-031"


def _zip(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name.replace("__", "/"), data)
    return buffer.getvalue()


def _patched(data: bytes, field_offset: int, fmt: str, value: int, central: bool = False) -> bytes:
    """The zip with one field of its first local header (or central directory entry) replaced."""
    start = data.index(b"PK\x01\x02") if central else 0
    out = bytearray(data)
    struct.pack_into(fmt, out, start + field_offset, value)
    return bytes(out)


def _bad_zips() -> dict[str, bytes]:
    csv = b"STUDYID,USUBJID\n" + b"S,1\n" * 200
    good = _zip(**{"subjects.csv": csv})
    crc = _patched(_patched(good, 14, "<I", 0), 16, "<I", 0, central=True)
    deflate = bytearray(good)
    body = good.index(b"subjects.csv") + len("subjects.csv")
    deflate[body:body + 8] = b"\xff" * 8
    encrypted = _patched(_patched(good, 6, "<H", 1), 8, "<H", 1, central=True)
    compression = _patched(_patched(good, 8, "<H", 99), 10, "<H", 99, central=True)
    lying = _patched(_patched(good, 22, "<I", 10), 24, "<I", 10, central=True)
    both = _zip(**{"data": b"x", "data__subjects.csv": csv})
    return {"bad crc": crc, "corrupt deflate": bytes(deflate), "encrypted": encrypted,
            "unknown compression": compression, "lying size": lying, "file and folder": both,
            "truncated": good[: len(good) // 2], "not a zip": b"PK\x03\x04 nothing"}


@pytest.mark.parametrize("case", list(_bad_zips()))
def test_broken_zips_are_refused_as_unreadable(client: TestClient, case: str) -> None:
    data = _bad_zips()[case]
    for url in ("/$validate", "/$convert"):
        response = client.post(url, content=data, headers=ZIP)
        assert response.status_code == 400, (case, response.text)
        assert code_of(response) in ("FB-SRV-032", "FB-SRV-008"), case


def test_a_zip_bomb_is_stopped_while_it_expands(client: TestClient) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("subjects.csv", b"0" * (8 * MIB))  # the service's limit here is 1 MiB
    assert len(bomb.getvalue()) < 64 * 1024
    for upload in ({"content": bomb.getvalue(), "headers": ZIP},
                   {"files": [("file", ("bomb.zip", bomb.getvalue(), "application/zip"))]}):
        response = client.post("/$validate", **upload)
        assert response.status_code == 413 and code_of(response) == "FB-SRV-031"


def _first_subject(csv: bytes) -> bytes:
    """The header and the rows of subject 001 (the study file whole): a small input converts quickly."""
    header, *rows = csv.splitlines(keepends=True)
    return header + b"".join(r for r in rows if b"subject_id" not in header or r.split(b",")[header.split(
        b",").index(b"subject_id")] == b"001")


def test_convert_to_r5_answers_r5_xml(client: TestClient) -> None:
    files = [("file", (p.name, _first_subject(p.read_bytes()), "text/csv")) for p in sorted(EXAMPLE.glob("*.csv"))]
    as_xml = client.post("/$convert?from=csv&to=fhir&fhir_version=R5&_format=xml", files=files)
    assert as_xml.status_code == 200 and as_xml.headers["content-type"] == "application/fhir+xml"
    as_json = client.post("/$convert?from=csv&to=fhir&fhir_version=R5", files=files)
    read, problems = fhir_xml.from_xml(fhir_xml.parse(as_xml.content), "R5")
    assert problems == []
    entries = [read["parameter"][0]["resource"]["entry"], as_json.json()["parameter"][0]["resource"]["entry"]]
    for entry in (e for both in entries for e in both):
        entry["resource"].pop("recorded", None)  # the Provenance of each conversion has its own time
    assert entries[0] == entries[1]


def test_generated_limits_reach_the_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fhirbridge.cli import main

    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    for option in ("--max-entries", "--max-depth", "--max-unzipped", "--body-timeout", "--statement-timeout",
                   "--max-sync-export", "--workers", "--public-read", "--jwt-jwks"):
        assert option in help_text


def test_refusals_come_as_xml_when_xml_is_asked_for(client: TestClient) -> None:
    xml = {"Accept": "application/fhir+xml"}
    refusals = [client.get("/Patient/nope", headers=xml), client.get("/Patient/nope?_format=xml"),
                client.post("/?_format=xml", content=b"{", headers=FHIR),
                client.post("/", content=b'{"resourceType":"Bundle","entry":[' + b"{}," * 2000 + b"{}]}",
                            headers={**FHIR, **xml}),
                client.get("/Patient?identifier=%00", headers=xml)]
    for response in refusals:
        assert 400 <= response.status_code < 500 and response.headers["content-type"] == "application/fhir+xml"
        outcome, problems = fhir_xml.from_xml(fhir_xml.parse(response.content), "R4")
        assert problems == [] and outcome["resourceType"] == "OperationOutcome"
    bogus = client.get("/Patient/nope?_format=bogus", headers=xml)  # the format asked for is what is wrong
    assert bogus.status_code == 400 and bogus.headers["content-type"] == "application/fhir+json"
