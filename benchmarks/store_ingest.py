"""The store's part of a validated ingest, in process, on PostgreSQL: `Store.ingest` of the example study's
per-subject transaction bundles (re-keyed copies, as `service_load.py` sends them), with the bundles planned and
validated before the clock, so that what is measured is the store and the database alone.

Prints, per 1,000 resources, the CPU seconds of this process during the ingests (the store: SQLAlchemy, psycopg,
the search rows, the JSON written) and of the PostgreSQL backends serving the database (the server runs on this
machine: read from /proc), with the machine's load average. Each run uses a fresh schema, migrated to the head of
the code it runs (``PYTHONPATH=DIR`` runs another source tree, e.g. `git archive main fhirbridge mappings`).

    python benchmarks/store_ingest.py [--copies 8] [--db postgresql://postgres@127.0.0.1:5432/test] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import orjson
from service_load import database_backends, drop_schema, example_subjects, fresh_schema, process_cpu, rekeyed

from fhirbridge.service.ingest import checked_writes
from fhirbridge.store.repository import Store
from fhirbridge.store.transaction import PlannedWrite


def planned(payloads: list[bytes]) -> list[list[PlannedWrite]]:
    """Each bundle's writes, validated as the service validates them (refused when anything is wrong)."""
    found = []
    for payload in payloads:
        writes, issues = checked_writes(orjson.loads(payload), raw=payload)
        assert not any(i.severity.name in ("ERROR", "FATAL") for i in issues), issues[:3]
        found.append(writes)
    return found


def run(db: str, bundles: list[list[PlannedWrite]], warm: list[list[PlannedWrite]]) -> tuple[float, float, float]:
    """CPU seconds of this process and of the database's backends, and wall seconds, of ingesting ``bundles``
    into a fresh schema (after ``warm``, not timed)."""
    schema = "fb_bench_store_ingest"
    store = Store.open(fresh_schema(db, schema))
    try:
        for writes in warm:
            store.ingest(writes)
        backends_before = process_cpu(database_backends(db))
        cpu, wall = time.process_time(), time.perf_counter()
        for writes in bundles:
            store.ingest(writes)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        backends = process_cpu(database_backends(db))
        database = sum(used - backends_before.get(pid, 0.0) for pid, used in backends.items())
    finally:
        store.close()
        drop_schema(db, schema)
    return cpu, database, wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="re-keyed copies of each subject's bundle")
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test", help="PostgreSQL database")
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a fresh schema")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="fhirbridge-store-ingest-"))
    subjects = example_subjects(work)
    bundles = planned([rekeyed(b, c) for c in range(args.copies) for b in subjects])
    warm = planned([rekeyed(b, 10_000 + i) for i, b in enumerate(subjects[:4])])
    resources = sum(len(writes) for writes in bundles)
    print(f"{len(bundles)} bundles, {resources} resources; per 1,000 resources:")
    for _ in range(args.repeat):
        cpu, database, wall = run(args.db, bundles, warm)
        print(f"Store.ingest CPU {cpu / resources * 1000:.3f} s, PostgreSQL backends "
              f"{database / resources * 1000:.3f} s, wall {wall / resources * 1000:.3f} s; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
