"""Search latency at registry scale: the README's searches against `GET /metadata`, and the old query shape.

Fills a fresh store (SQLite by default, or --db) with the example study's 13 subjects re-keyed --copies times
(20: 260 subjects, about 19,000 resources), written through the storage layer (no HTTP, no validation). Then,
in-process through httpx's ASGI transport, times each README search and `GET /metadata` (the cost of a request
that does no database work) and prints the median wall time of each with its ratio to `/metadata`. In the same
run, the count of the code search is timed once in the shape the store used before (a correlated EXISTS per
resource) and in the shape it uses now (`id IN (SELECT ...)`), with the ratio between them, when --old is given
(the old shape takes minutes on SQLite at 260 subjects).

    python benchmarks/rest_search.py [--copies 20] [--old] [--db postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from service_load import EXAMPLE, per_subject, rekeyed
from sqlalchemy import exists, func, select

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.service.app import create_app
from fhirbridge.service.settings import ServiceSettings
from fhirbridge.store.schema import resource, search_value
from fhirbridge.store.search_query import Criterion, clause
from fhirbridge.store.transaction import plan

SEARCHES = ("/Observation?code=http://loinc.org|97843-7&_count=5",
            "/Observation?subject:Patient.identifier=https://fhirbridge.org/fhir/sid/subject/HONMOU2021|"
            "001-copy0&_count=50",
            "/Observation?code=97843-7&date=ge2013-08&_sort=-date&_count=20",
            "/Patient?gender=male&_revinclude=ResearchSubject:patient&_count=10")
ROUNDS = 20


def old_shape(conn: object) -> int:
    """The count as the store ran it before: EXISTS correlated with every Observation."""
    sv = search_value.c
    where = exists().where(sv.resource_type == "Observation", sv.resource_id == resource.c.id, sv.param == "code",
                           sv.system == "http://loinc.org", sv.value == "97843-7")
    return conn.execute(select(func.count()).select_from(resource).where(  # type: ignore[attr-defined]
        resource.c.resource_type == "Observation", where)).scalar_one()


def new_shape(conn: object) -> int:
    criterion = Criterion("code", (("http://loinc.org", "97843-7"),))
    return conn.execute(select(func.count()).select_from(resource).where(  # type: ignore[attr-defined]
        resource.c.resource_type == "Observation", clause("Observation", criterion))).scalar_one()


async def timed(client: httpx.AsyncClient, url: str) -> float:
    start = time.perf_counter()
    response = await client.get(url)
    assert response.status_code == 200, (url, response.text)
    return time.perf_counter() - start


async def run(db: str, copies: int, old: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="fhirbridge-search-"))
    report = api.convert([EXAMPLE], work / "bundle", options=ConvertOptions(bundle_type="transaction"))
    assert report.exit_code == 0, "the example study does not convert"
    subjects = per_subject(orjson.loads((work / "bundle" / "bundle.json").read_bytes()))
    app = create_app(ServiceSettings(db=db, api_key=None))
    async with app.router.lifespan_context(app):
        store = app.state.store
        for copy in range(copies):
            for bundle in subjects:
                writes, issues = plan(orjson.loads(rekeyed(bundle, copy)))
                assert not issues, issues
                store.ingest(writes)
        print(f"stored: {sum(store.counts().values())} resources, {len(subjects) * copies} subjects "
              f"({store.engine.dialect.name})")
        with store.engine.connect() as conn:  # the statistics autovacuum would gather within a minute of loading
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            baseline = statistics.median([await timed(client, "/metadata") for _ in range(ROUNDS)])
            print(f"GET /metadata: {baseline * 1000:.2f} ms (baseline)")
            for url in SEARCHES:
                median = statistics.median([await timed(client, url) for _ in range(ROUNDS)])
                print(f"GET {url}: {median * 1000:.2f} ms, {median / baseline:.1f}x /metadata")
        with store.engine.connect() as conn:
            shapes = {}
            for name, shape in (("id IN (SELECT ...)", new_shape), ("correlated EXISTS", old_shape))[:2 if old else 1]:
                start = time.perf_counter()
                found = shape(conn)
                shapes[name] = time.perf_counter() - start
                print(f"count by code, {name}: {found} in {shapes[name] * 1000:.1f} ms")
            if old:
                print(f"old shape / new shape: {shapes['correlated EXISTS'] / shapes['id IN (SELECT ...)']:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20, help="re-keyed copies of each of the 13 subjects")
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--old", action="store_true", help="also time the count in the old query shape")
    args = parser.parse_args()
    db = args.db or str(Path(tempfile.mkdtemp(prefix="fhirbridge-search-db-")) / "store.sqlite")
    asyncio.run(run(db, args.copies, args.old))


if __name__ == "__main__":
    main()
