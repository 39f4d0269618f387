"""Helpers for the service tests: a real `fhirbridge serve` process on a free port, databases, test bundles.

Imported by the ``test_service_*`` modules; it holds no tests itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "honmou2021" / "csv"
PG_ADMIN = os.environ.get("FHIRBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """A `fhirbridge serve` subprocess; its standard error (the service log) goes to ``log``, and it runs in the
    log's folder (where its default bulk files folder goes)."""

    def __init__(self, db: str, log: Path, env: dict[str, str] | None = None, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-c", "from fhirbridge.cli import main; main()", "serve", "--db", db,
                   "--port", str(self.port), *args]
        with log.open("ab") as stderr:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr,
                                            env={**os.environ, **(env or {})}, cwd=log.parent)
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/metadata", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"the service did not start:\n{self.log.read_text()}")

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, **kwargs)

    def stop(self) -> int:
        """SIGTERM, as a process manager stops it; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


@contextmanager
def running(db: str, tmp_path: Path, env: dict[str, str] | None = None, *args: str) -> Iterator[Service]:
    service = Service(db, tmp_path / f"service-{uuid.uuid4().hex[:8]}.log", env, *args)
    try:
        yield service
    finally:
        service.kill()


def postgres_reachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return None
    except Exception as exc:  # any failure to connect means: skip, and say why
        return f"PostgreSQL not reachable at {PG_ADMIN}: {type(exc).__name__}: {exc}"


#: A lock held by a connection some other test left open, or a transaction left idle, fails a test in a minute
#: rather than holding the run until it is killed.
_NO_ENDLESS_WAITS = "-c lock_timeout=60000 -c idle_in_transaction_session_timeout=120000"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL whose tables live in a fresh schema of their own, dropped afterwards."""
    import psycopg

    schema = f"fb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, options=_NO_ENDLESS_WAITS) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        waits = _NO_ENDLESS_WAITS.replace(" ", "%20").replace("=", "%3D")
        yield f"{PG_ADMIN}?options=-csearch_path%3D{schema}%20{waits}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, options=_NO_ENDLESS_WAITS) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of ``kind`` (sqlite or postgresql), skipping with the reason when unavailable."""
    if kind == "sqlite":
        yield str(tmp_path / "registry.sqlite")
        return
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    with postgres_schema() as url:
        yield url


@cache
def example_transaction_bytes() -> bytes:
    """The example study as the CLI converts it into a transaction Bundle."""
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        report = api.convert([EXAMPLE], Path(out), options=ConvertOptions(bundle_type="transaction"))
        assert report.exit_code == 0, report.issues
        return (Path(out) / "bundle.json").read_bytes()


def example_transaction() -> dict[str, Any]:
    return orjson.loads(example_transaction_bytes())


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def subject_bundles() -> dict[str, dict[str, Any]]:
    """The example's transaction split per subject: each bundle holds the study, the subject's Patient and every
    resource about the subject or referenced by one (the Provenance of the whole conversion is left out). A fresh
    copy on each call (the split is made once)."""
    return orjson.loads(_subject_bundles_bytes())


@cache
def _subject_bundles_bytes() -> bytes:
    bundle = example_transaction()
    entries = {e["fullUrl"]: e for e in bundle["entry"] if e["resource"]["resourceType"] != "Provenance"}
    study = [url for url, e in entries.items() if e["resource"]["resourceType"] == "ResearchStudy"]
    owner: dict[str, str] = {}
    for url, entry in entries.items():
        if entry["resource"]["resourceType"] == "Patient":
            owner[url] = url
    for url, entry in entries.items():
        for ref in _references(entry["resource"]):
            if owner.get(ref) == ref and url not in owner:
                owner[url] = ref
    changed = True
    while changed:  # resources referenced only by a subject's resources (the cell product) follow them
        changed = False
        for url, entry in entries.items():
            if url in owner:
                for ref in _references(entry["resource"]):
                    if ref in entries and ref not in owner and ref not in study:
                        owner[ref] = owner[url]
                        changed = True
    bundles: dict[str, dict[str, Any]] = {}
    for patient in sorted({*owner.values()}):
        members = [entries[u] for u in study] + [e for u, e in entries.items() if owner.get(u) == patient]
        bundles[patient.removeprefix("urn:uuid:")] = {"resourceType": "Bundle", "type": "transaction",
                                                      "entry": members}
    return orjson.dumps(bundles)


def ids_of(bundle: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}


def exported(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/$export")
    assert response.status_code == 200
    return [orjson.loads(line) for line in response.content.splitlines() if line]
