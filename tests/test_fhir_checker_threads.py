"""Threads that check FHIR at once (the service's requests run in worker threads). The checker's definitions and
screens are built lazily, per resource type, on first use, and shared: built by many threads at once, they give
the verdicts they give when built by one. The checkers the reader and the writer use hold the issues of the
resource they check: each thread has its own, so no thread gets another's issues."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from fhirbridge import api
from fhirbridge.formats.fhir.writer import bundle
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "honmou2021" / "csv"

#: checks ``resources`` (JSON on stdin) in a fresh process, in 8 threads started together or in one, and prints
#: each resource's issues (code and where)
_CHECK = """
import sys, threading, orjson
from fhirbridge.formats.fhir.checker.resources import thread_checker
resources = orjson.loads(sys.stdin.buffer.read())
def verdict(resource):
    issues = thread_checker("R4").check(resource, resource["resourceType"])
    return sorted((i.code, i.target or "") for i in issues)
found = [None] * len(resources)
if sys.argv[1] == "threads":
    start = threading.Barrier(8)
    def work(first):
        start.wait()
        for i in range(first, len(resources), 8):
            found[i] = verdict(resources[i])
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
else:
    found = [verdict(resource) for resource in resources]
sys.stdout.buffer.write(orjson.dumps(found))
"""


def _checked(resources: list[dict[str, Any]], how: str) -> list[Any]:
    done = subprocess.run([sys.executable, "-c", _CHECK, how], input=orjson.dumps(resources), capture_output=True,
                          check=True, timeout=120)
    return orjson.loads(done.stdout)


def _example_resources() -> list[dict[str, Any]]:
    data = api.read([EXAMPLE], Report(), source="csv")
    return [e["resource"] for e in bundle(load_fhir_mapping(), data)["entry"]]


def test_screens_built_by_many_threads_at_once_give_the_verdicts_of_one() -> None:
    written = _example_resources()
    one_of_each = list({r["resourceType"]: r for r in written}.values())
    spoiled = [*one_of_each,
               *({**r, "unknownElement": 1} for r in one_of_each),
               *({**r, "id": 5} for r in one_of_each)]
    in_threads, in_one = _checked(spoiled, "threads"), _checked(spoiled, "one")
    assert in_threads == in_one
    assert all(in_one[len(one_of_each):]) and len(one_of_each) >= 8  # every spoiled one found, of many types


def test_bundles_checked_by_many_threads_at_once_each_get_their_own_issues() -> None:
    """The writer's output check (``check_bundle``) from 8 threads at once, on a bundle and on the same with a fault
    in every resource: each call returns what it returns alone."""
    import threading

    from fhirbridge.formats.fhir.checker.output import check_bundle

    resources = _example_resources()[:60]
    clean = {"resourceType": "Bundle", "type": "collection",
             "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]}
    spoiled = {**clean, "entry": [{**e, "resource": {**e["resource"], "unknownElement": i}}
                                  for i, e in enumerate(clean["entry"])]}
    alone = {name: [(i.code, i.target) for i in check_bundle(b)] for name, b in (("clean", clean),
                                                                               ("spoiled", spoiled))}
    assert len(alone["spoiled"]) == len(alone["clean"]) + len(resources)  # one unknown element each
    wrong: list[str] = []
    start = threading.Barrier(8)

    def work(name: str) -> None:
        start.wait()
        for _ in range(15):
            if [(i.code, i.target) for i in check_bundle(clean if name == "clean" else spoiled)] != alone[name]:
                wrong.append(name)

    threads = [threading.Thread(target=work, args=("clean" if k % 2 else "spoiled",)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
