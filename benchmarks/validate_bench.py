"""Throughput and memory of FHIR validation (``fhirbridge validate``, the library call).

1. Speed: the example study's export, its 13 subjects copied under new subject ids until there are enough,
   is converted to one FHIR R4 collection bundle of at least N resources. Timed in the same run, on the
   same bundle: ``api.validate`` (every layer: structure, values, bindings, invariants, profiles, bundle
   integrity, identity, and the clinical checks when a FHIR reader is registered), fhirbridge's FHIR layers
   alone on the parsed bundle, and the baseline, plain fhir.resources (R4B) model validation of the parsed
   bundle. Prints resources per second of each and the ratios against the baseline.
2. Memory: an NDJSON file of about ``--ndjson-mb`` MB is generated from the bundle's resources, copied under
   new ids and subject ids (in a temporary folder, removed afterwards), and validated in a child process,
   once at a tenth of the size and once at full size; the peak RSS of both is printed.

    python benchmarks/validate_bench.py [-n 50000] [--ndjson-mb 1024] [--repeat 3]
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
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
start = time.perf_counter()
report = api.validate([Path(sys.argv[1])], source="fhir", max_issues=1000)
elapsed = time.perf_counter() - start
peak_kb = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)
print(report.stats.get("resources", 0), elapsed, peak_kb, sum(report.counts().values()))
"""


def ndjson_memory(path: Path) -> tuple[int, float, int, int]:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True, capture_output=True, text=True)
    resources, elapsed, peak_kb, issues = out.stdout.split()
    return int(resources), float(elapsed), int(peak_kb), int(issues)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--resources", type=int, default=50_000)
    parser.add_argument("--ndjson-mb", type=int, default=1024, help="size of the NDJSON file (0: skip)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fhirbridge-bench-") as scratch:
        work = Path(scratch)
        path, count = build_bundle(args.resources, work)
        document = orjson.loads(path.read_bytes())
        print(f"bundle: {count} resources, {path.stat().st_size / 1e6:.0f} MB")

        def layers() -> None:
            report = Report()
            FhirValidator(report).document(document)
            assert not report.issues, report.issues[:3]

        full = timed(lambda: api.validate([path], source="fhir"), args.repeat)
        ours = timed(layers, args.repeat)
        baseline = timed(lambda: Bundle.model_validate(document), args.repeat)
        gc.disable()  # validate pauses the cyclic collector while it runs: the baseline's figure without it too
        paused = timed(lambda: Bundle.model_validate(document), args.repeat)
        gc.enable()
        print(f"fhir.resources R4B model validation (baseline): {count / baseline:10.0f} resources/s")
        print(f"  the same with the cyclic GC paused:           {count / paused:10.0f} resources/s")
        print(f"fhirbridge FHIR layers, parsed bundle:          {count / ours:10.0f} resources/s  "
              f"ratio {baseline / ours:.2f}")
        print(f"fhirbridge validate (library call, from file):  {count / full:10.0f} resources/s  "
              f"ratio {baseline / full:.2f} ({paused / full:.2f} against the baseline with the GC paused)")
        if args.ndjson_mb:
            for megabytes in (max(1, args.ndjson_mb // 10), args.ndjson_mb):
                ndjson = work / f"resources-{megabytes}.ndjson"
                lines = write_ndjson(document, ndjson, megabytes)
                resources, elapsed, peak_kb, issues = ndjson_memory(ndjson)
                print(f"NDJSON {ndjson.stat().st_size / 2**20:6.0f} MiB, {lines} lines: {resources / elapsed:8.0f} "
                      f"resources/s, peak RSS {peak_kb / 1024:6.0f} MiB, {issues} issues")
                ndjson.unlink()
    print(f"(benchmark process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
