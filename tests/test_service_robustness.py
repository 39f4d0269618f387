"""Many clients at once, and a server killed mid-ingest: nothing lost, nothing duplicated, every bundle stored
wholly or not at all. On SQLite and PostgreSQL, against real server processes. Three and six subjects of the
example study are enough for what is looked for: overlapping bundles, and bundles in flight when the server dies;
what the killed server left is read by the application started again in this process (a new store, migrations
and export all the same; starting a second server process is what would cost)."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from inprocess_service import InProcess
from test_service_support import database, exported, ids_of, running, subject_bundles

from fhirbridge.service.app import create_app
from fhirbridge.service.settings import ServiceSettings

pytestmark = pytest.mark.slow
FHIR = {"Content-Type": "application/fhir+json"}


def _overlapping(bundles: list[dict[str, Any]]) -> list[bytes]:
    """Bundle k holds subjects k and k+1: every subject is sent by two bundles, the study by all."""
    merged = []
    for k in range(len(bundles) - 1):
        seen, entries = set(), []
        for entry in bundles[k]["entry"] + bundles[k + 1]["entry"]:
            if entry["fullUrl"] not in seen:
                seen.add(entry["fullUrl"])
                entries.append(entry)
        merged.append(orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
    return merged


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_overlapping_ingests_lose_and_duplicate_nothing(kind: str, tmp_path: Path) -> None:
    bundles = list(subject_bundles().values())[:3]
    payloads = _overlapping(bundles) * 2  # each bundle sent twice, all at once: four requests, each subject in two
    random.Random(7).shuffle(payloads)
    expected = set().union(*(ids_of(b) for b in bundles))
    with database(kind, tmp_path) as db, running(db, tmp_path) as service:

        def send(payload: bytes) -> int:
            with service.client() as client:
                return client.post("/", content=payload, headers=FHIR).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(send, payloads))
        assert statuses == [200] * len(payloads)
        with service.client() as client:
            stored = exported(client)
    keys = [(r["resourceType"], r["id"]) for r in stored]
    assert len(keys) == len(set(keys))  # nothing duplicated
    assert set(keys) == expected  # nothing lost
    assert {r["meta"]["versionId"] for r in stored} == {"1"}  # identical content never makes a new version


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_server_killed_mid_ingest_leaves_each_bundle_whole_or_absent(kind: str, tmp_path: Path) -> None:
    bundles = dict(list(subject_bundles().items())[:6])
    payloads = {subject: orjson.dumps(b) for subject, b in bundles.items()}
    with database(kind, tmp_path) as db:
        with running(db, tmp_path) as service:
            answered = threading.Event()
            done: list[str] = []

            def send(subject: str) -> None:
                try:
                    with service.client() as client:
                        if client.post("/", content=payloads[subject], headers=FHIR).status_code == 200:
                            done.append(subject)
                            if len(done) >= 2:
                                answered.set()
                except httpx.TransportError:
                    pass  # the server was killed while this bundle was in flight

            with ThreadPoolExecutor(max_workers=4) as pool:
                for subject in payloads:
                    pool.submit(send, subject)
                assert answered.wait(120), "no ingest finished"
                service.kill()  # SIGKILL: no chance to finish anything
        restarted = InProcess(create_app(ServiceSettings(db=db, files_dir=str(tmp_path / "files"), api_key=None,
                                                         job_threads=0)))
        try:
            response = restarted.get("/$export")
            assert response.status_code == 200
            stored = {(r["resourceType"], r["id"]) for r in map(orjson.loads, response.content.splitlines())}
        finally:
            restarted.close()
    study = {key for key in ids_of(next(iter(bundles.values()))) if key[0] == "ResearchStudy"}
    whole = [s for s, b in bundles.items() if ids_of(b) <= stored]
    for subject, bundle in bundles.items():
        own = ids_of(bundle) - study
        assert own <= stored or not (own & stored), f"bundle of {subject} is partly stored"
    assert set(done) <= set(whole)  # every acknowledged bundle survived the crash
    assert len(whole) < len(bundles) or len(done) == len(bundles)
