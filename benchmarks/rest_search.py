"""Search latency at registry scale: the README's searches against `GET /metadata`, on SQLite and PostgreSQL.

Fills a store with the example study's 13 subjects re-keyed --copies times (100: 1,300 subjects, 97,001
resources): the first copy through ``Store.ingest``, the others as the rows ingest writes (see ``load``); then
``ANALYZE`` (``VACUUM ANALYZE`` on PostgreSQL). Then times each README search, the vread of an earlier version of a
deleted resource, and `GET /metadata` (the cost of a request that does no database work), interleaved round by round
so that all see the same load on the machine: in-process through httpx's ASGI transport, and again over HTTP (a
`fhirbridge serve` process on loopback). Prints p50 and p99 of each with the ratio of its p50 to that of
`/metadata`. The goal: every README search p50 ≤ 5× `GET /metadata`.

The stores are kept (``--sqlite`` path, ``--pg`` URL; a PostgreSQL schema of their own): a store already holding
the copies asked for is searched without loading it again. ``--pg ''`` leaves PostgreSQL out.

    python benchmarks/rest_search.py [--copies 100] [--rounds 200] [--sqlite PATH] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from service_load import EXAMPLE, per_subject, percentile, rekeyed, start_server, stop_server
from sqlalchemy import func, insert, select

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.service.app import create_app
from fhirbridge.service.settings import ServiceSettings
from fhirbridge.store import Store
from fhirbridge.store.batched import served
from fhirbridge.store.repository import _identifiers, _rewrite
from fhirbridge.store.schema import identifier, resource, resource_version, search_value
from fhirbridge.store.search_params import index_rows
from fhirbridge.store.transaction import PlannedWrite, content_hash, plan

SEARCHES = (
    "/Observation?code=http://loinc.org|97843-7&_count=5",
    "/Observation?subject:Patient.identifier=https://fhirbridge.org/fhir/sid/subject/HONMOU2021|001-copy0&_count=50",
    "/Observation?code=97843-7&date=ge2013-08&_sort=-date&_count=20",
    "/Patient?gender=male&_revinclude=ResearchSubject:patient&_count=10",
)
BASELINE = "/metadata"
PG = "postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dfb_bench_rest_search"


def study_copies(copies: int) -> list[bytes]:
    """One transaction per copy: the shared study and every subject's resources, re-keyed for the copy."""
    work = Path(tempfile.mkdtemp(prefix="fhirbridge-search-"))
    report = api.convert([EXAMPLE], work / "bundle", options=ConvertOptions(bundle_type="transaction"))
    assert report.exit_code == 0, "the example study does not convert"
    subjects = per_subject(orjson.loads((work / "bundle" / "bundle.json").read_bytes()))
    return [merged([orjson.loads(rekeyed(bundle, copy)) for bundle in subjects]) for copy in range(copies)]


def merged(bundles: list[dict[str, Any]]) -> bytes:
    """One transaction of the entries of ``bundles``, each once (they all hold the study)."""
    entries = {e["fullUrl"]: e for bundle in bundles for e in bundle["entry"]}
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": list(entries.values())})


def load(db: str, copies: int) -> None:
    """Store the copies not stored yet (a copy's Patients are the marker), then gather planner statistics. The
    first copy goes through ``Store.ingest``; the others, which differ from it only in their ids, are written as
    the rows that ingest writes, in one multi-row insert per table and copy (ingest's one statement per row would
    take most of an hour for 1,300 subjects on a busy machine)."""
    store = Store.open(db)
    try:
        with store.engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT count(*) FROM fb_resource WHERE resource_type = 'Patient'").scalar()
        wanted = study_copies(copies)
        patients = sum(e["resource"]["resourceType"] == "Patient" for e in orjson.loads(wanted[0])["entry"])
        start = time.perf_counter()
        for copy, payload in enumerate(wanted[(stored or 0) // patients :], start=(stored or 0) // patients):
            writes, issues = plan(orjson.loads(payload))
            assert not issues, issues
            if copy == 0:
                store.ingest(writes)
            else:
                insert_rows(store, writes)
        # what autovacuum does within minutes of a load: planner statistics, and on PostgreSQL the visibility map
        # that lets index-only scans skip the table
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE" if store.engine.dialect.name == "postgresql" else "ANALYZE")
        print(
            f"{store.engine.dialect.name}: {sum(store.counts().values())} resources, {patients * copies} subjects "
            f"(loaded in {time.perf_counter() - start:.0f} s)"
        )
    finally:
        store.close()


def insert_rows(store: Store, writes: list[PlannedWrite]) -> None:
    """The rows ``Store.ingest`` writes for new resources (version 1, identifiers, search values), the shared
    study, already stored, referred to rather than written again."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with store.engine.begin() as conn:
        study = conn.execute(select(resource.c.id).where(resource.c.resource_type == "ResearchStudy")).scalar_one()
        after = conn.execute(select(func.max(resource.c.position))).scalar_one()
        targets = {
            w.full_url: f"{w.resource_type}/{study if w.resource_type == 'ResearchStudy' else w.id}"
            for w in writes
            if w.full_url
        }
        rows, versions, values = [], [], []
        idents: list[tuple[str, str, str, str]] = []
        for w in writes:
            if w.resource_type == "ResearchStudy":
                continue
            content = _rewrite(w.resource, targets, None) | {"id": w.id}
            stored = served(content, 1, now)
            rows.append(
                {
                    "resource_type": w.resource_type,
                    "id": w.id,
                    "version_id": 1,
                    "last_updated": now,
                    "position": after + 1 + w.index,
                    "content_hash": content_hash(content),
                    "content": stored,
                }
            )
            versions.append(
                {"resource_type": w.resource_type, "id": w.id, "version_id": 1, "last_updated": now, "content": stored}
            )
            idents.extend((w.resource_type, i.get("system") or "", i["value"], w.id) for i in _identifiers(content))
            values.extend(index_rows(w.resource_type, w.id, content))
        claims: dict[tuple[str, str, str], str] = {}
        for rtype, system, value, rid in sorted(set(idents)):  # as ingest claims them: the first one keeps it
            claims.setdefault((rtype, system, value), rid)
        claimed = [{"resource_type": t, "system": s, "value": v, "resource_id": r} for (t, s, v), r in claims.items()]
        for table, batch in (
            (resource, rows),
            (resource_version, versions),
            (identifier, claimed),
            (search_value, values),
        ):
            conn.execute(insert(table), batch)


def deleted_version(db: str) -> str:
    """``vread`` of a deleted resource's earlier version: version 1 of a resource deleted after it was stored (one
    that nothing refers to, deleted here the first time, then kept deleted in the store)."""
    store = Store.open(db)
    try:
        with store.engine.connect() as conn:
            found = conn.execute(
                select(resource_version.c.resource_type, resource_version.c.id)
                .where(resource_version.c.deleted.is_(True))
                .limit(1)
            ).first()
            candidates = [
                (t, i)
                for t in ("Observation", "AdverseEvent", "Condition", "Procedure")
                for i in conn.execute(
                    select(resource.c.id).where(resource.c.resource_type == t).order_by(resource.c.id).limit(20)
                ).scalars()
            ]
        for rtype, rid in [] if found is not None else candidates:
            if store.delete(rtype, rid)[0] is not None:
                found = (rtype, rid)
                break
        assert found is not None, "no resource could be deleted"
        return f"/{found[0]}/{found[1]}/_history/1"
    finally:
        store.close()


async def timed(client: httpx.AsyncClient, url: str) -> tuple[float, float]:
    """Wall time and CPU time of this process (every thread; not the PostgreSQL server's) of one request."""
    start, cpu = time.perf_counter(), time.process_time()
    response = await client.get(url)
    assert response.status_code == 200, (url, response.text)
    return time.perf_counter() - start, time.process_time() - cpu


async def measure(db: str, rounds: int, others: tuple[str, ...] = ()) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds per request of each URL (the searches, then ``others``); every round asks each once,
    /metadata included, so that a burst of load from elsewhere on the machine falls on all of them alike."""
    app = create_app(ServiceSettings(db=db, api_key=None))
    times: dict[str, list[tuple[float, float]]] = {url: [] for url in (BASELINE, *SEARCHES, *others)}
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://b") as client:
        for url in times:  # warm-up: caches, prepared statements
            await timed(client, url)
        for _ in range(rounds):
            for url in times:
                times[url].append(await timed(client, url))
    return times


def measure_http(db: str, rounds: int, others: tuple[str, ...] = ()) -> dict[str, list[tuple[float, float]]]:
    """``measure`` over HTTP: ``fhirbridge serve`` (one worker) on loopback and one kept-alive connection, as a
    registry's client sees it (HTTP parsing and the network stack included). The CPU is this client's: the
    server's is not read per request."""
    times: dict[str, list[tuple[float, float]]] = {url: [] for url in (BASELINE, *SEARCHES, *others)}
    with tempfile.TemporaryDirectory(prefix="fhirbridge-search-files-") as files:
        server, base = start_server(db, 1, Path(files))
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                for round_ in range(rounds + 1):  # the first round warms up
                    for url in times:
                        start, cpu = time.perf_counter(), time.process_time()
                        response = client.get(url)
                        assert response.status_code == 200, (url, response.text)
                        if round_:
                            times[url].append((time.perf_counter() - start, time.process_time() - cpu))
        finally:
            stop_server(server)
    return times


def table(name: str, times: dict[str, list[tuple[float, float]]]) -> None:
    wall = {url: [w for w, _ in pairs] for url, pairs in times.items()}
    cpu = {url: [c for _, c in pairs] for url, pairs in times.items()}
    base, cpu_base = percentile(wall[BASELINE], 0.5), percentile(cpu[BASELINE], 0.5)
    print(f"\n{name}: wall p50 / p99 in ms and p50 ratio to GET {BASELINE}; CPU p50 in ms and ratio")
    for url in times:
        p50, p99, c50 = percentile(wall[url], 0.5), percentile(wall[url], 0.99), percentile(cpu[url], 0.5)
        verdict = "baseline" if url == BASELINE else f"{p50 / base:5.1f}x {'ok' if p50 <= 5 * base else 'OVER 5x'}"
        print(
            f"  {p50 * 1000:7.2f} {p99 * 1000:7.2f}  {verdict:>12}  {c50 * 1000:6.2f} {c50 / cpu_base:5.1f}x  GET {url}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100, help="re-keyed copies of each of the 13 subjects")
    parser.add_argument("--rounds", type=int, default=200, help="requests of each URL timed")
    parser.add_argument(
        "--sqlite",
        default=str(Path(tempfile.gettempdir()) / "fhirbridge-rest-search.sqlite"),
        help="SQLite store to search (loaded when it holds fewer copies)",
    )
    parser.add_argument("--pg", default=PG, help="PostgreSQL URL ('' to leave PostgreSQL out)")
    args = parser.parse_args()
    if "search_path%3D" in args.pg:  # a schema of its own (a URL without one uses the database's default)
        import psycopg

        schema = args.pg.rpartition("search_path%3D")[2]
        with psycopg.connect(args.pg.partition("?")[0], autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for name, db in (("SQLite", args.sqlite), ("PostgreSQL", args.pg)):
        if db:
            load(db, args.copies)
            vread = (deleted_version(db),)
            table(name, asyncio.run(measure(db, args.rounds, vread)))
            table(f"{name} over HTTP (a server process; CPU: the client's)", measure_http(db, args.rounds, vread))


if __name__ == "__main__":
    main()
