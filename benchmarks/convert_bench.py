"""Throughput of CSV → FHIR NDJSON against the serialization floor, ``orjson.dumps`` of the same resources.

The example export, its 13 subjects copied to ``--subjects`` (1,300 by default), is converted with
``fhirbridge convert --from csv --to fhir --fhir-format ndjson`` in a child process, once with ``--jobs 1`` and
once on every core; its CPU time (the worker processes included) gives MB of FHIR JSON written per CPU second,
and the wall times of the two runs how much the worker processes gain (their output must be the same bytes).
In the same run, the resources written are read back and dumped again with ``orjson.dumps`` alone: the floor,
MB per CPU second of doing nothing but serialising them. Prints both and their ratio.

    python benchmarks/convert_bench.py [--subjects 1300]

The package's modules are byte-compiled first, as an installed package has them: an editable install run with
``PYTHONDONTWRITEBYTECODE`` would otherwise compile every module in every run, which no user pays.
"""

from __future__ import annotations

import argparse
import compileall
import os
import tempfile
import time
from pathlib import Path

import orjson
from scaled import SUBJECTS, fhirbridge, measure, scaled_export

from fhirbridge import __file__ as fhirbridge_init


def floor_seconds(folder: Path) -> float:
    """CPU seconds ``orjson.dumps`` takes for every resource of the NDJSON files, a file at a time."""
    spent = 0.0
    for path in sorted(folder.glob("*.ndjson")):
        resources = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        start = time.process_time()
        for resource in resources:
            orjson.dumps(resource)
        spent += time.process_time() - start
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1300)
    args = parser.parse_args()
    copies = max(1, args.subjects // SUBJECTS)
    compileall.compile_dir(Path(fhirbridge_init).parent, quiet=1)
    os.environ["SOURCE_DATE_EPOCH"] = "1735689600"  # the same Provenance time in both runs
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        export = scaled_export(copies, work / "csv")
        runs = {}
        for jobs in (1, os.cpu_count() or 1):
            out = work / f"ndjson-{jobs}"
            runs[jobs] = measure(fhirbridge("convert", "--from", "csv", "--to", "fhir", "--fhir-format", "ndjson",
                                            "--jobs", jobs, export, "-o", out))
        megabytes = sum(p.stat().st_size for p in (work / "ndjson-1").glob("*.ndjson")) / 1e6
        floor = megabytes / floor_seconds(work / "ndjson-1")
        print(f"{copies * SUBJECTS} subjects, {megabytes:,.0f} MB of FHIR NDJSON; orjson.dumps floor "
              f"{floor:,.0f} MB per CPU second")
        for jobs, run in runs.items():
            rate = megabytes / run["cpu"]
            print(f"--jobs {jobs}: {run['cpu']:.1f} CPU s, {run['wall']:.1f} s wall, peak RSS "
                  f"{run['peak_mib']:.0f} MiB, exit code {run['exit_code']:.0f}: {rate:.1f} MB per CPU second = "
                  f"{rate / floor:.3f}x the floor (goal 0.2x)")
        many = max(runs)
        same = all(p.read_bytes() == (work / f"ndjson-{many}" / p.name).read_bytes()
                   for p in (work / "ndjson-1").glob("*.ndjson"))
        print(f"--jobs {many} against --jobs 1: {runs[1]['wall'] / runs[many]['wall']:.2f}x faster (wall time), "
              f"same bytes out: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
