"""Peak memory of converting a large FHIR NDJSON file to tables: is it flat in the size of the input?

Generates an NDJSON file of about ``--size`` bytes (1 GB by default) from the example study, its 13 subjects
copied under new ids as often as needed, written by fhirbridge's own FHIR writer as one file in the order of a
bulk export concatenated by resource type (every Observation before any Patient: the hardest order for
reading a subject at a time). Then converts it with ``fhirbridge convert --from fhir --to csv`` in a child
process and prints the child's peak resident memory, next to the same conversion of a file a hundred times
smaller measured in the same run.

    python benchmarks/ndjson_memory.py [--size BYTES] [--target csv|sdtm] [--keep DIR]

The file is generated in a temporary folder (or DIR) and never checked in.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scaled import EXAMPLE, SUBJECTS, scaled_export

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions

#: Runs one conversion and prints the child's own peak RSS (KiB on Linux) and its wall time.
_CHILD = """
import json, resource, sys, time
from pathlib import Path
from fhirbridge import api
start = time.perf_counter()
report = api.convert([Path(sys.argv[1])], Path(sys.argv[2]), source="fhir", target=sys.argv[3])
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "seconds": time.perf_counter() - start, "exit_code": report.exit_code,
                  "records": report.stats.get("records"), "issues": len(report.issues)}))
"""


#: Resource types in the order the generated file has them (a bulk export concatenated by type).
_ORDER = ("AdverseEvent", "BiologicallyDerivedProduct", "Condition", "Observation", "Patient", "Procedure",
          "ResearchStudy", "ResearchSubject")


def generate(path: Path, size: int) -> int:
    """Write about ``size`` bytes of NDJSON; returns the number of subjects."""
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        one = Path(scratch) / "one"
        api.convert([EXAMPLE], one, options=ConvertOptions(fhir_format="ndjson"))
        per_copy = sum((one / f"{rtype}.ndjson").stat().st_size for rtype in _ORDER)
        copies = max(1, round(size / per_copy))
        parts = Path(scratch) / "ndjson"
        api.convert([scaled_export(copies, Path(scratch) / "csv")], parts, options=ConvertOptions(fhir_format="ndjson"))
        with path.open("wb") as out:
            for rtype in _ORDER:
                with (parts / f"{rtype}.ndjson").open("rb") as handle:
                    while chunk := handle.read(1 << 24):
                        out.write(chunk)
    return copies * SUBJECTS


def convert(source: Path, outdir: Path, target: str) -> dict:
    result = subprocess.run([sys.executable, "-c", _CHILD, str(source), str(outdir), target], capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=1e9, help="bytes of NDJSON to generate (default 1e9)")
    parser.add_argument("--target", choices=["csv", "sdtm"], default="csv")
    parser.add_argument("--keep", type=Path, default=None, help="generate into this folder and keep the files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        runs = {}
        for name, size in (("baseline", args.size / 100), ("large", args.size)):
            source = folder / f"{name}.ndjson"
            started = time.perf_counter()
            subjects = generate(source, int(size))
            generated = time.perf_counter() - started
            result = convert(source, folder / f"{name}-{args.target}", args.target)
            runs[name] = result
            mb = source.stat().st_size / 1e6
            print(f"{name}: {mb:,.0f} MB NDJSON, {subjects} subjects (generated in {generated:.0f} s); "
                  f"converted to {args.target} in {result['seconds']:.0f} s ({mb / result['seconds']:.1f} MB/s), "
                  f"exit code {result['exit_code']}, {result['issues']} issues, records {result['records']}; "
                  f"peak RSS {result['peak_kib'] / 1024:.0f} MiB")
        ratio = runs["large"]["peak_kib"] / runs["baseline"]["peak_kib"]
        print(f"peak RSS of the large conversion: {runs['large']['peak_kib'] / 1024:.0f} MiB, {ratio:.2f}x the "
              f"baseline's for an input 100x smaller")


if __name__ == "__main__":
    main()
