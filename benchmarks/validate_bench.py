"""Throughput and memory of FHIR validation (``fhirbridge validate``, the library call).

1. Speed, in CPU seconds (``time.process_time``), in-process after imports, on two bundles: (a) the example
   study's export, its 13 subjects copied under new subject ids until there are enough, converted to one FHIR
   R4 collection bundle of at least N resources; (b) a collection bundle of N small resources (Patients and
   Observations of a few elements each). Timed on the same bytes: ``api.validate`` (every layer: structure,
   values, bindings, invariants, profiles, bundle integrity, identity, reading into records and the clinical
   checks), the FHIR checker alone (``FhirValidator`` on the parsed bundle), fhir.resources (R4B) model
   validation of the parsed bundle, and fhirkit-rs (``fhirkit.validate`` on the bytes). Prints resources per
   CPU second of each and the ratios against fhirkit-rs.
2. Memory: an NDJSON file of about ``--ndjson-mb`` MB and a bundle of about ``--bundle-mb`` MB are generated
   from bundle (a)'s resources, copied under new ids and subject ids (in a temporary folder, removed
   afterwards), and validated in a child process; the peak RSS is printed.

    python benchmarks/validate_bench.py [-n 20000] [--ndjson-mb 1024] [--bundle-mb 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import fhirkit
import orjson
from fhir.resources.R4B.bundle import Bundle
from scaled import scaled_export

from fhirbridge import api
from fhirbridge.formats.fhir.checker.validator import FhirValidator
from fhirbridge.issues.report import Report

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COPY = re.compile(rb"-copy(\d{4})")
_PER_SUBJECT = 71  # resources per subject of the example study (920 for 13), to size the export


def build_bundle(minimum: int, work: Path) -> tuple[Path, int]:
    """A collection bundle of at least ``minimum`` resources: the example study with its subjects copied."""
    copies = -(-minimum // (13 * _PER_SUBJECT))
    while True:
        out = work / f"bundle-{copies}"
        report = api.convert([scaled_export(copies, work / f"csv-{copies}")], out)
        if report.exit_code != 0:
            raise SystemExit(f"conversion of the scaled example failed: {report.to_dict()['issues'][:3]}")
        path = out / "bundle.json"
        count = len(orjson.loads(path.read_bytes())["entry"])
        if count >= minimum:
            return path, count
        copies += 1


def timed(func: Callable[[], object], repeat: int) -> float:
    """The median CPU time of ``func`` (after one run that is not counted: lazy imports, compiled schemas)."""
    func()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        func()
        times.append(time.process_time() - start)
    return statistics.median(times)


def small_bundle(count: int, path: Path) -> int:
    """A collection bundle of ``count`` small resources: Patients, each with four Observations of a few elements."""
    entries = []
    for n in range(count):
        patient = n - n % 5
        rid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"small/{n}"))
        if n % 5 == 0:
            resource = {"resourceType": "Patient", "id": rid, "gender": ("female", "male")[n % 2],
                        "birthDate": f"19{50 + n % 40}-0{1 + n % 9}-1{n % 10}",
                        "identifier": [{"system": "https://example.org/mrn", "value": f"P{n}"}]}
        else:
            resource = {"resourceType": "Observation", "id": rid, "status": "final",
                        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
                        "subject": {"reference": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'small/{patient}')}"},
                        "effectiveDateTime": f"2020-01-0{1 + n % 9}T10:00:00Z",
                        "valueQuantity": {"value": 150 + n % 40, "unit": "cm", "system": "http://unitsofmeasure.org",
                                          "code": "cm"}}
        entries.append({"fullUrl": f"urn:uuid:{rid}", "resource": resource})
    path.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    return count


def write_bundle(bundle: dict, path: Path, megabytes: int) -> int:
    """About ``megabytes`` of one collection bundle: bundle (a)'s NDJSON copies, each line an entry."""
    ndjson = path.with_suffix(".ndjson")
    count = write_ndjson(bundle, ndjson, megabytes)
    with ndjson.open("rb") as lines, path.open("wb") as out:
        out.write(b'{"resourceType":"Bundle","type":"collection","entry":[')
        for n, line in enumerate(lines):
            resource = orjson.loads(line)
            entry = {"fullUrl": f"https://example.org/fhir/{resource['resourceType']}/{resource['id']}",
                     "resource": resource}
            out.write((b"," if n else b"") + orjson.dumps(entry))
        out.write(b"]}")
    ndjson.unlink()
    return count


def write_ndjson(bundle: dict, path: Path, megabytes: int) -> int:
    """About ``megabytes`` of NDJSON, one resource a line: the bundle's resources with relative references
    (``Type/id``, as NDJSON exports have them), copied under new ids and new subject ids until the size is
    reached, so that every line is a distinct record."""
    kinds = {e["resource"]["id"]: e["resource"]["resourceType"] for e in bundle["entry"]}

    def lines(types: set[str]) -> bytes:
        text = b"".join(orjson.dumps(e["resource"]) + b"\n" for e in bundle["entry"]
                        if e["resource"]["resourceType"] in types)
        return re.sub(rb"urn:uuid:(" + _UUID.pattern + rb")",
                      lambda m: f"{kinds[m.group(1).decode()]}/".encode() + m.group(1), text)

    study = lines({"ResearchStudy"})  # one study, written once; the conversion's Provenance is left out
    text = lines(set(kinds.values()) - {"ResearchStudy", "Provenance"})
    studies = set(_UUID.findall(study))
    uuids = sorted(set(_UUID.findall(text)) - studies)
    target, written, count, copy = megabytes * 1024 * 1024, len(study), study.count(b"\n"), 0
    with path.open("wb") as handle:
        handle.write(study)
        while written < target:
            renamed = {u: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{u.decode()}/ndjson/{copy}")).encode() for u in uuids}
            chunk = _UUID.sub(lambda m, names=renamed: names.get(m.group(0), m.group(0)), text)
            chunk = _COPY.sub(lambda m, n=copy: b"-copy" + m.group(1) + f"-{n}".encode(), chunk)
            handle.write(chunk)
            written += len(chunk)
            count += chunk.count(b"\n")
            copy += 1
    return count


# The child's peak RSS is VmHWM (ru_maxrss would carry over the parent's size from before exec).
_CHILD = """
import re, sys, time
from pathlib import Path
from fhirbridge import api
start = time.process_time()
report = api.validate([Path(sys.argv[1])], source="fhir", max_issues=1000)
elapsed = time.process_time() - start
peak_kb = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)
print(report.stats.get("resources", 0), elapsed, peak_kb, sum(report.counts().values()))
"""


def child_memory(path: Path) -> tuple[int, float, int, int]:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True, capture_output=True, text=True)
    resources, elapsed, peak_kb, issues = out.stdout.split()
    return int(resources), float(elapsed), int(peak_kb), int(issues)


def compare(label: str, path: Path, repeat: int) -> None:
    """Resources per CPU second of the four validators on the bundle at ``path``."""
    data = path.read_bytes()
    count = len(orjson.loads(data)["entry"])

    def checker() -> None:
        FhirValidator(Report()).document(orjson.loads(data))

    figures = {
        "fhirbridge api.validate, all layers": timed(lambda: api.validate([path], source="fhir"), repeat),
        "fhirbridge FHIR checker alone": timed(checker, repeat),
        "fhir.resources R4B": timed(lambda: Bundle.model_validate(orjson.loads(data)), repeat),
        "fhirkit-rs": timed(lambda: fhirkit.validate(data), repeat),
    }
    print(f"{label}: {count} resources, {len(data) / 1e6:.0f} MB")
    for name, seconds in figures.items():
        print(f"  {name:38s} {count / seconds:9.0f} resources/CPU-s   "
              f"{figures['fhirkit-rs'] / seconds:5.2f}x fhirkit-rs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--resources", type=int, default=20_000)
    parser.add_argument("--ndjson-mb", type=int, default=1024, help="size of the NDJSON file (0: skip)")
    parser.add_argument("--bundle-mb", type=int, default=1024, help="size of the bundle (0: skip)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gc.disable()  # validate pauses the cyclic collector while it runs: every figure is taken without it
    with tempfile.TemporaryDirectory(prefix="fhirbridge-bench-") as scratch:
        work = Path(scratch)
        path, _ = build_bundle(args.resources, work)
        compare("(a) the example study, scaled", path, args.repeat)
        small = work / "small.json"
        small_bundle(args.resources, small)
        compare("(b) small resources", small, args.repeat)
        document = orjson.loads(path.read_bytes())
        gc.enable()
        for kind, megabytes in (("ndjson", args.ndjson_mb), ("json", args.bundle_mb)):
            if not megabytes:
                continue
            big = work / f"resources-{megabytes}.{kind}"
            lines = (write_ndjson if kind == "ndjson" else write_bundle)(document, big, megabytes)
            resources, elapsed, peak_kb, issues = child_memory(big)
            print(f"{kind} {big.stat().st_size / 2**20:6.0f} MiB, {lines} resources: {resources / elapsed:8.0f} "
                  f"resources/s, peak RSS {peak_kb / 1024:6.0f} MiB, {issues} issues")
            big.unlink()
    print(f"(benchmark process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
