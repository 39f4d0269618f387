"""Authentication when configured: every endpoint but /metadata needs credentials, reads included; API keys and
OAuth2 bearer tokens (JWTs signed by keys made here, published as the issuer's JWKS) with SMART Backend Services
scopes; --public-read opens reads only; the audit log names who wrote and exported what, and when."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from test_service_support import subject_bundles

from fhirbridge.service.app import create_app
from fhirbridge.service.settings import ServiceSettings
from fhirbridge.store.jobs import audit_rows

ISSUER = "https://issuer.example.org"
KEY = "an-api-key"
FHIR = {"Content-Type": "application/fhir+json"}
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, signing_key: rsa.RSAPrivateKey) -> ServiceSettings:
    tmp = tmp_path_factory.mktemp("auth")
    public = orjson.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    (tmp / "jwks.json").write_bytes(orjson.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    return ServiceSettings(db=str(tmp / "db.sqlite"), files_dir=str(tmp / "files"), api_key=KEY,
                           jwt_issuer=ISSUER, jwt_jwks=str(tmp / "jwks.json"))


@pytest.fixture(scope="module")
def client(settings: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def token(key: Any, scope: str, **claims: Any) -> dict[str, str]:
    body = {"iss": ISSUER, "sub": "registry-client", "exp": int(time.time()) + 300, "scope": scope, **claims}
    return {"Authorization": f"Bearer {jwt.encode(body, key, algorithm='RS256', headers={'kid': 'k1'})}"}


def code_of(response: Any) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


READS = ["/Patient", "/Patient/x", "/$export", "/Patient/$export", "/$export-sdtm",
         "/$bulk-status/00000000-0000-0000-0000-000000000000"]


def test_every_endpoint_but_metadata_needs_credentials(client: TestClient) -> None:
    for url in READS:
        response = client.get(url)
        assert response.status_code == 401 and code_of(response) == "FB-SRV-012", url
        assert response.headers["WWW-Authenticate"] == "Bearer"
    for url in ("/", "/$validate", "/$convert", "/$import"):
        assert client.post(url, content=b"{}", headers=FHIR).status_code == 401, url
    assert client.get("/metadata").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/Patient", headers={"X-API-Key": KEY}).status_code == 200
    assert client.get("/Patient", headers={"X-API-Key": "wrong"}).status_code == 401


def test_bearer_tokens_grant_what_their_scopes_say(client: TestClient, signing_key: rsa.RSAPrivateKey) -> None:
    bundle = orjson.dumps(next(iter(subject_bundles().values())))
    reader = token(signing_key, "system/*.read")
    writer = token(signing_key, "system/*.write")
    both = token(signing_key, "system/*.read system/*.write")
    v2 = token(signing_key, "system/*.rs")
    assert client.get("/Patient", headers=reader).status_code == 200
    assert client.get("/Patient", headers=v2).status_code == 200
    denied = client.post("/", content=bundle, headers={**FHIR, **reader})
    assert denied.status_code == 403 and code_of(denied) == "FB-SRV-033"
    assert client.get("/Patient", headers=writer).status_code == 403
    assert client.post("/", content=bundle, headers={**FHIR, **writer}).status_code == 200
    assert client.post("/", content=bundle, headers={**FHIR, **both}).status_code == 200
    assert client.post("/$validate", content=bundle, headers={**FHIR, **reader}).status_code == 200


def test_bad_tokens_are_refused(client: TestClient, signing_key: rsa.RSAPrivateKey) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unsigned = jwt.encode({"iss": ISSUER, "sub": "x", "exp": int(time.time()) + 60, "scope": "system/*.read"},
                          None, algorithm="none")
    for headers in (token(signing_key, "system/*.read", exp=int(time.time()) - 10),
                    token(signing_key, "system/*.read", iss="https://elsewhere.example.org"),
                    token(stranger, "system/*.read"),
                    {"Authorization": f"Bearer {unsigned}"},
                    {"Authorization": "Bearer not.a.token"}):
        response = client.get("/Patient", headers=headers)
        assert response.status_code == 401 and code_of(response) == "FB-SRV-012"
    assert client.get("/Patient", headers=token(signing_key, "patient/*.read")).status_code == 403


def test_jobs_belong_to_the_client_that_started_them(client: TestClient, signing_key: rsa.RSAPrivateKey) -> None:
    mine = token(signing_key, "system/*.read")
    other = token(signing_key, "system/*.read", sub="another-client")
    kick_off = client.get("/$export", headers={**ASYNC, **mine})
    assert kick_off.status_code == 202
    status_url = kick_off.headers["Content-Location"]
    assert client.get(status_url, headers=other).status_code == 403
    assert client.delete(status_url, headers=other).status_code == 403
    assert client.get(status_url, headers=mine).status_code in (200, 202)


def test_the_audit_log_records_writes_and_exports(client: TestClient, settings: ServiceSettings,
                                                  signing_key: rsa.RSAPrivateKey) -> None:
    bundle = next(iter(subject_bundles().values()))
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    writer = token(signing_key, "system/*.read system/*.write", sub="loader")
    assert client.post("/", content=orjson.dumps(bundle), headers={**FHIR, **writer}).status_code == 200
    assert client.get("/$export?_type=Patient", headers=writer).status_code == 200
    assert client.post("/", content=b"{", headers={**FHIR, **writer}).status_code == 400
    store = client.app.state.store  # type: ignore[attr-defined]
    rows = [r for r in audit_rows(store.engine) if r["agent"] == "token:loader"]
    assert [(r["action"], r["what"], r["outcome"]) for r in reversed(rows)] == [
        ("C", "POST /", 200), ("E", "GET /$export", 200), ("C", "POST /", 400)]
    assert all(r["recorded"].endswith("Z") and r["request_id"] for r in rows)
    assert patient["id"] not in str(audit_rows(store.engine))


def test_public_read_opens_reads_only(settings: ServiceSettings, tmp_path: Path) -> None:
    public = ServiceSettings(**{**settings.__dict__, "public_read": True, "db": str(tmp_path / "p.sqlite"),
                                "files_dir": str(tmp_path / "files")})
    with TestClient(create_app(public)) as client:
        assert client.get("/Patient").status_code == 200
        assert client.get("/$export").status_code == 200
        assert client.post("/", content=b"{}", headers=FHIR).status_code == 401
        patient = {"resourceType": "Patient", "id": "public", "gender": "male"}
        assert client.put("/Patient/public", json=patient, headers={**FHIR, "X-API-Key": KEY}).status_code == 201
        assert client.get("/Patient/public/_history").status_code == 200
        assert client.get("/Patient/public/$everything").status_code == 200
        assert client.put("/Patient/public", json=patient, headers=FHIR).status_code == 401
        assert client.post("/Patient", json=patient, headers=FHIR).status_code == 401
        assert client.delete("/Patient/public").status_code == 401


def test_the_rest_interactions_need_the_right_scope(client: TestClient, signing_key: rsa.RSAPrivateKey) -> None:
    """Create, update, delete need system/*.write; read, vread, history and $everything need system/*.read; a
    write without a Content-Type is refused before anything else."""
    reader = token(signing_key, "system/*.read")
    writer = token(signing_key, "system/*.write")
    patient = {"resourceType": "Patient", "id": "auth-rest", "gender": "female"}
    for method, url in (("POST", "/Patient"), ("PUT", "/Patient/auth-rest"), ("PUT", "/Patient?_id=auth-rest")):
        assert client.request(method, url, json=patient, headers=FHIR).status_code == 401, url
        denied = client.request(method, url, json=patient, headers={**FHIR, **reader})
        assert denied.status_code == 403 and code_of(denied) == "FB-SRV-033", url
    untyped = client.put("/Patient/auth-rest", content=orjson.dumps(patient), headers=writer)
    assert untyped.status_code == 415 and code_of(untyped) == "FB-SRV-008"
    plain = client.post("/Patient", content=orjson.dumps(patient), headers={"Content-Type": "text/plain", **writer})
    assert plain.status_code == 415 and code_of(plain) == "FB-SRV-008"
    assert client.put("/Patient/auth-rest", json=patient, headers={**FHIR, **writer}).status_code == 201
    reads = ["/Patient/auth-rest", "/Patient/auth-rest/_history", "/Patient/auth-rest/_history/1",
             "/Patient/auth-rest/$everything"]
    for url in reads:
        assert client.get(url).status_code == 401, url
        assert client.get(url, headers=writer).status_code == 403, url
        assert client.get(url, headers=reader).status_code == 200, url
    assert client.delete("/Patient/auth-rest", headers=reader).status_code == 403
    assert client.delete("/Patient/auth-rest", headers=writer).status_code == 204
    assert client.get("/Patient/auth-rest", headers=reader).status_code == 410
