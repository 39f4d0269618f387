"""Load on the HTTP service over loopback: ingested resources per second and p50/p99 request latency.

Starts `fhirbridge serve` on a fresh SQLite file (or --db), converts the example study to a transaction Bundle,
cuts it into one bundle per subject and makes --copies re-keyed copies of each (new ids and identifiers, so that
every bundle really writes), then sends them from --clients threads. Two baselines are measured in the same run:
`GET /metadata` latency (the cost of an HTTP round trip) and ingest through the storage layer directly (no HTTP,
no validation) into another fresh database; the ratios put the service's figures against them.

    python benchmarks/service_load.py [--copies 3] [--clients 4] [--db postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
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
from fhirbridge.store import Store
from fhirbridge.store.transaction import plan

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3, help="re-keyed copies of each subject's bundle")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--db", default=None, help="database URL for the service (default: a fresh SQLite file)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="fhirbridge-load-"))
    report = api.convert([EXAMPLE], work / "bundle", options=ConvertOptions(bundle_type="transaction"))
    assert report.exit_code == 0, "the example study does not convert"
    subjects = per_subject(orjson.loads((work / "bundle" / "bundle.json").read_bytes()))
    payloads = [rekeyed(b, c) for c in range(args.copies) for b in subjects]
    resources = sum(len(orjson.loads(p)["entry"]) for p in payloads)

    port = free_port()
    db = args.db or str(work / "service.sqlite")
    server = subprocess.Popen([sys.executable, "-c", "from fhirbridge.cli import main; main()", "serve", "--db", db,
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/metadata").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=300) as client:
            metadata = []
            for _ in range(200):
                start = time.perf_counter()
                assert client.get("/metadata").status_code == 200
                metadata.append(time.perf_counter() - start)

        def send(payload: bytes) -> float:
            with httpx.Client(base_url=base, timeout=300) as client:
                start = time.perf_counter()
                response = client.post("/", content=payload, headers={"Content-Type": "application/fhir+json"})
                assert response.status_code == 200, response.text[:500]
                return time.perf_counter() - start

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            latencies = list(pool.map(send, payloads))
        http_seconds = time.perf_counter() - start
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

    store = Store.open(str(work / "direct.sqlite"))
    start = time.perf_counter()
    for payload in payloads:
        store.ingest(plan(orjson.loads(payload))[0])
    direct_seconds = time.perf_counter() - start
    store.close()

    http_rate, direct_rate = resources / http_seconds, resources / direct_seconds
    print(f"bundles: {len(payloads)} ({resources} resources), clients: {args.clients}, cpus: {os.cpu_count()}")
    print(f"baseline GET /metadata latency: p50 {percentile(metadata, .5) * 1000:.1f} ms, "
          f"p99 {percentile(metadata, .99) * 1000:.1f} ms")
    print(f"baseline direct store ingest (no HTTP, no validation): {direct_rate:.0f} resources/s")
    print(f"service ingest over HTTP (validated): {http_rate:.0f} resources/s, "
          f"latency p50 {percentile(latencies, .5) * 1000:.0f} ms, p99 {percentile(latencies, .99) * 1000:.0f} ms, "
          f"mean {statistics.mean(latencies) * 1000:.0f} ms per bundle")
    print(f"ratio service/direct throughput: {http_rate / direct_rate:.2f}; "
          f"ratio ingest p50 / metadata p50 latency: {percentile(latencies, .5) / percentile(metadata, .5):.0f}")


if __name__ == "__main__":
    main()
