"""Load on the HTTP service over loopback, on PostgreSQL: validated ingest with 1, 2 and 4 worker processes.

Converts the example study to a transaction Bundle, cuts it into one bundle per subject and makes --copies re-keyed
copies of each (new ids and identifiers, so that every bundle really writes). For each worker count, starts
`fhirbridge serve --workers N` on a fresh PostgreSQL schema and sends the bundles from --clients threads:
resources/s (wall clock), p50/p99 latency per bundle, and the CPU seconds used during the ingest only by the
service (the process tree of the server, read from /proc), by the PostgreSQL backends serving the database (when
the server runs on this machine) and by the client threads (this process).

Baselines of the same run: COPY of the same resources' JSON into a bare table (the floor of what the database can
take: no HTTP, no validation, no index), and `GET /metadata` (an HTTP round trip). The README's search queries
are timed against GET /metadata by ``search_latency`` (a store with data in it is the search benchmark's task).

Each service ingests a few bundles of its own before the clock starts (connections, prepared statements, first
loads); with ``--against DIR`` another source tree's service is measured in turn with this one (A/B in one run).

    python benchmarks/service_load.py [--copies 3] [--clients 8] [--workers 1,2,4]
        [--db postgresql://postgres@127.0.0.1:5432/test] [--against DIR] [--rounds N]
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "honmou2021" / "csv"


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "reference" and isinstance(v, str)] + \
            [r for k, v in node.items() if k != "reference" for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


def per_subject(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """One transaction per subject: the study, the Patient, what refers to it and what those refer to."""
    entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Provenance"]
    by_url = {e["fullUrl"]: e for e in entries}
    study = [e for e in entries if e["resource"]["resourceType"] == "ResearchStudy"]
    owner = {e["fullUrl"]: e["fullUrl"] for e in entries if e["resource"]["resourceType"] == "Patient"}
    for e in entries:
        patient = next((r for r in _references(e["resource"]) if owner.get(r) == r), None)
        if patient and e["fullUrl"] not in owner:
            owner[e["fullUrl"]] = patient
    for e in entries:  # products referenced by a subject's procedure
        for ref in _references(e["resource"]):
            if e["fullUrl"] in owner and ref in by_url and ref not in owner and by_url[ref] not in study:
                owner[ref] = owner[e["fullUrl"]]
    patients = sorted(set(owner.values()))
    return [{"resourceType": "Bundle", "type": "transaction",
             "entry": study + [e for e in entries if owner.get(e["fullUrl"]) == p]} for p in patients]


def example_subjects(work: Path) -> list[dict[str, Any]]:
    """The example study converted (in ``work``) to a transaction, split into one transaction per subject."""
    report = api.convert([EXAMPLE], work / "bundle", options=ConvertOptions(bundle_type="transaction"))
    assert report.exit_code == 0, "the example study does not convert"
    return per_subject(orjson.loads((work / "bundle" / "bundle.json").read_bytes()))


def rekeyed(bundle: dict[str, Any], copy: int) -> bytes:
    """The bundle with every id, fullUrl and identifier value made unique to ``copy`` (the study is shared)."""
    text = orjson.dumps(bundle).decode()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "ResearchStudy":
            continue
        new = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{copy}/{resource['id']}"))
        text = text.replace(resource["id"], new)
        idents = resource.get("identifier", [])
        for ident in idents if isinstance(idents, list) else [idents]:
            text = text.replace(f'|{ident["value"]}"', f'|{ident["value"]}-copy{copy}"')
            text = text.replace(f'"value":"{ident["value"]}"', f'"value":"{ident["value"]}-copy{copy}"')
    return text.encode()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


README_QUERIES = ("/Observation?code=http://loinc.org|97843-7&_count=5", "/$export?_type=Patient")


def start_server(db: str, workers: int, files: Path, source: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``fhirbridge serve`` on a free port; ``source``: a folder holding another ``fhirbridge`` package to run
    instead of this one (``--against``)."""
    port = free_port()
    env = {**os.environ, **({"PYTHONPATH": str(source)} if source is not None else {})}
    server = subprocess.Popen([sys.executable, "-c", "from fhirbridge.cli import main; main()", "serve", "--db", db,
                               "--port", str(port), "--workers", str(workers), "--files-dir", str(files),
                               "--max-body", "256"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(f"{base}/metadata", timeout=60).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the service did not start")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=120)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the process ``pid`` and its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(p, 0.0) for p in tree)


def settled(pid: int, idle: float = 0.05, most: float = 120.0) -> None:
    """Wait until the server's process tree is idle (its workers warm up after they answer): half a second in which
    it uses less than ``idle`` CPU seconds, or ``most`` seconds."""
    deadline = time.monotonic() + most
    before = tree_cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = tree_cpu(pid)
        if now - before < idle:
            return
        before = now


def process_cpu(pids: set[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of ``pids`` that still runs (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def database_backends(admin: str) -> set[int]:
    """Process ids of the PostgreSQL backends serving the benchmark's database, but this connection (the server
    runs on this machine: its backends' CPU is read from /proc)."""
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        return {pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                               "AND pid <> pg_backend_pid()")}


def timed_gets(base: str, path: str, n: int) -> list[float]:
    """Latencies of ``n`` sequential GETs of ``path``."""
    latencies = []
    with httpx.Client(base_url=base, timeout=300) as client:
        for _ in range(n):
            start = time.perf_counter()
            assert client.get(path).status_code == 200
            latencies.append(time.perf_counter() - start)
    return latencies


def search_latency(base: str, n: int = 50) -> dict[str, float]:
    """p50 of each README query over p50 of GET /metadata, on whatever the store holds."""
    metadata = percentile(timed_gets(base, "/metadata", n), .5)
    return {query: percentile(timed_gets(base, query, n), .5) / metadata for query in README_QUERIES}


def ingest(base: str, payloads: list[bytes], clients: int) -> tuple[float, list[float]]:
    """Send every payload from ``clients`` threads, each with one kept-alive connection for all its bundles, made
    before the clock starts. The clients use the standard library's ``http.client``: the load they put on the
    machine's two cores is taken from the service (a registry's clients run elsewhere), and httpx used 5 ms of
    CPU per bundle where ``http.client`` uses well under one. The wall time and each request's latency."""
    host, _, port = base.removeprefix("http://").partition(":")
    idle: queue.SimpleQueue[http.client.HTTPConnection] = queue.SimpleQueue()
    for _ in range(clients):
        idle.put(http.client.HTTPConnection(host, int(port), timeout=600))
    headers = {"Content-Type": "application/fhir+json"}

    def send(payload: bytes) -> float:
        conn = idle.get()
        try:
            start = time.perf_counter()
            conn.request("POST", "/", body=payload, headers=headers)
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, body[:500]
            return time.perf_counter() - start
        finally:
            idle.put(conn)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        latencies = list(pool.map(send, payloads))
    seconds = time.perf_counter() - start
    while not idle.empty():
        idle.get().close()
    return seconds, latencies


def warm_up(base: str, subjects: list[dict[str, Any]], clients: int) -> None:
    """Ingest a few bundles of their own (re-keyed apart from the measured ones) from every client at once before
    the clock starts, so that each worker process has made its database connections, prepared its statements and
    loaded what its first ingest loads: the run measures a service that is up, not one starting."""
    ingest(base, [rekeyed(subjects[i % len(subjects)], 10_000 + i) for i in range(clients)], clients)


def copy_baseline(admin: str, payloads: list[bytes]) -> float:
    """Seconds to COPY every resource's JSON (one row each) into a bare table, best of three."""
    import psycopg

    rows = [orjson.dumps(e["resource"]).decode() for p in payloads for e in orjson.loads(p)["entry"]]
    best = float("inf")
    with psycopg.connect(admin, autocommit=True) as conn:
        for _ in range(3):
            conn.execute("DROP TABLE IF EXISTS fb_bench_copy")
            conn.execute("CREATE TABLE fb_bench_copy (content text NOT NULL)")
            start = time.perf_counter()
            with conn.cursor() as cursor, cursor.copy("COPY fb_bench_copy (content) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((row,))
            best = min(best, time.perf_counter() - start)
        conn.execute("DROP TABLE fb_bench_copy")
    return best


def fresh_schema(admin: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{admin}?options=-csearch_path%3D{name}"


def drop_schema(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def measure(db: str, workers: int, work: Path, subjects: list[dict[str, Any]], payloads: list[bytes], clients: int,
            source: Path | None = None) -> dict[str, Any]:
    """One configuration on a fresh schema: rate, latencies and CPU seconds of the service, of the PostgreSQL
    backends and of the clients during the ingest, after the service has warmed up."""
    schema = f"fb_bench_w{workers}"
    url = fresh_schema(db, schema)
    server, base = start_server(url, workers, work / f"files-{workers}", source)
    try:
        metadata = timed_gets(base, "/metadata", 100)
        settled(server.pid)
        warm_up(base, subjects, clients)
        settled(server.pid)
        cpu_before = tree_cpu(server.pid)
        backends_before = process_cpu(database_backends(db))
        clients_before = time.process_time()
        seconds, latencies = ingest(base, payloads, clients)
        clients_cpu = time.process_time() - clients_before
        cpu = tree_cpu(server.pid) - cpu_before
        backends = process_cpu(database_backends(db))  # the pool keeps its connections open
        database_cpu = sum(used - backends_before.get(pid, 0.0) for pid, used in backends.items())
        ratios = search_latency(base, 20)
    finally:
        stop_server(server)
        drop_schema(db, schema)
    return {"seconds": seconds, "latencies": latencies, "metadata": metadata, "cpu": cpu, "database": database_cpu,
            "clients": clients_cpu, "ratios": ratios, "load": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3, help="re-keyed copies of each subject's bundle")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to measure")
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test", help="PostgreSQL database")
    parser.add_argument("--against", type=Path, help="a folder holding another fhirbridge package (e.g. `git archive "
                        "main fhirbridge mappings | tar -x -C DIR`), measured in turn with this one")
    parser.add_argument("--rounds", type=int, default=1, help="times each configuration is measured (in turn)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="fhirbridge-load-"))
    subjects = example_subjects(work)
    payloads = [rekeyed(b, c) for c in range(args.copies) for b in subjects]
    resources = sum(len(orjson.loads(p)["entry"]) for p in payloads)
    print(f"bundles: {len(payloads)} ({resources} resources), clients: {args.clients}, cpus: {os.cpu_count()}")
    sources: list[tuple[str, Path | None]] = [("this", None)] + ([("against", args.against)] if args.against else [])
    for round_ in range(args.rounds):
        cpu_start = time.process_time()
        copy_seconds = copy_baseline(args.db, payloads)
        copy_cpu = (time.process_time() - cpu_start) / 3
        copy_rate = resources / copy_seconds
        print(f"round {round_ + 1}: COPY of the resources' JSON into a bare table: {copy_rate:.0f} resources/s "
              f"({copy_cpu / resources * 1000:.3f} s of this process per 1000 resources); "
              f"load average {os.getloadavg()[0]:.1f}")
        for workers in (int(w) for w in args.workers.split(",")):
            for label, source in sources if round_ % 2 == 0 else sources[::-1]:
                m = measure(args.db, workers, work, subjects, payloads, args.clients, source)
                rate = resources / m["seconds"]
                print(f"{label} workers {workers}: ingest {rate:.0f} resources/s = {rate / copy_rate:.3f}x COPY; "
                      f"latency per bundle p50 {percentile(m['latencies'], .5) * 1000:.0f} ms, "
                      f"p99 {percentile(m['latencies'], .99) * 1000:.0f} ms "
                      f"(GET /metadata p50 {percentile(m['metadata'], .5) * 1000:.1f} ms); CPU per 1000 resources: "
                      f"service {m['cpu'] / resources * 1000:.2f} s, PostgreSQL backends "
                      f"{m['database'] / resources * 1000:.2f} s, clients {m['clients'] / resources * 1000:.2f} s; "
                      f"load average {m['load']:.1f}", flush=True)
                print("   README queries, p50 over GET /metadata p50: "
                      + ", ".join(f"{q} {r:.1f}x" for q, r in m["ratios"].items()), flush=True)


if __name__ == "__main__":
    main()
