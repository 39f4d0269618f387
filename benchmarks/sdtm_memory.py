"""Peak memory and CPU time of writing SDTM in each file format: are they flat, and linear, in the number of
subjects?

The example study's subjects are copied under new ids (``scaled_example``) into 1,300 and 13,000 subjects and
handed to the SDTM writer in chunks of whole subjects, as a chunk reader hands them out; every chunk is
checked as ``fhirbridge convert`` checks it. Each conversion runs in a child process, which prints its own CPU
seconds and peak resident memory (the records are made in that process too, as a reader would make them).

    python benchmarks/sdtm_memory.py [--subjects 1300 13000] [--formats csv xpt dataset-json dataset-xml]
                                     [--chunk 130] [--keep DIR]

The datasets are written to a temporary folder (or DIR) and never checked in.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

#: Converts ``copies`` copies of the example to SDTM and prints the child's CPU time and peak RSS (KiB on Linux).
_CHILD = """
import json, resource, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from scaled_example import example_copies
from fhirbridge.checks import check
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.formats.sdtm.spoke import write_chunks
from fhirbridge.issues.report import Report
copies, per_chunk, fmt, outdir = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], Path(sys.argv[5])
report = Report()
outputs = write_chunks(example_copies(copies, per_chunk), outdir, report, ConvertOptions(sdtm_format=fmt), check)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"peak_kib": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime,
                  "exit_code": report.exit_code, "issues": len(report.issues), "records": report.stats["records"],
                  "bytes": sum(p.stat().st_size for p in outputs)}))
"""


def convert(copies: int, per_chunk: int, fmt: str, outdir: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", _CHILD, str(Path(__file__).parent), str(copies), str(per_chunk),
                             fmt, str(outdir)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[1300, 13000],
                        help="numbers of subjects (multiples of the example's 13)")
    parser.add_argument("--formats", nargs="+", default=["csv", "xpt", "dataset-json", "dataset-xml"])
    parser.add_argument("--chunk", type=int, default=130, help="subjects per chunk (default 130)")
    parser.add_argument("--keep", type=Path, default=None, help="write into this folder and keep the files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        for fmt in args.formats:
            for subjects in args.subjects:
                outdir = folder / f"{fmt}-{subjects}"
                result = convert(subjects // 13, max(args.chunk // 13, 1), fmt, outdir)
                print(f"{fmt:>12} {subjects:>6} subjects: {result['cpu']:7.1f} s CPU, peak RSS "
                      f"{result['peak_kib'] / 1024:5.0f} MiB, {result['bytes'] / 1e6:7.0f} MB written, exit code "
                      f"{result['exit_code']}, {result['issues']} issues", flush=True)
                if args.keep is None:
                    for path in outdir.iterdir():
                        path.unlink()
                    outdir.rmdir()


if __name__ == "__main__":
    main()
