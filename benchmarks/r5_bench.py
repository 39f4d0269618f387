"""CPU time of writing the example study as an R5 Bundle (CSV → FHIR JSON) and of reading it back (FHIR → CSV).

In-process, after the imports: the first run of each direction (which pays for making the R5 checker, or for
importing the fhir.resources R5 models) and the median of the repeats after it. To compare two trees, run it
with each on ``PYTHONPATH`` in turn, in one session (the machine's load shifts between sessions):

    PYTHONPATH=/path/to/other/tree python benchmarks/r5_bench.py --repeat 5
    python benchmarks/r5_bench.py --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import fhirbridge
from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "honmou2021" / "csv"


def _timed(run: object) -> float:
    start = time.process_time()
    run()  # type: ignore[operator]
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--format", default="json", choices=("json", "xml"))
    args = parser.parse_args()
    options = ConvertOptions(fhir_format=args.format, fhir_version="R5")
    writes, reads = [], []
    with tempfile.TemporaryDirectory() as folder:
        for n in range(args.repeat + 1):
            out, back = Path(folder) / f"fhir{n}", Path(folder) / f"csv{n}"

            def write(out: Path = out) -> None:
                assert api.convert([EXAMPLE], out, options=options).exit_code == 0

            def read(out: Path = out, back: Path = back) -> None:
                assert api.convert([out], back, source="fhir", target="csv").exit_code == 0

            writes.append(_timed(write))
            reads.append(_timed(read))
    print(f"fhirbridge from {Path(fhirbridge.__file__).parent}, R5 {args.format}")
    for name, times in (("write", writes), ("read", reads)):
        print(f"{name}: first {times[0]:.2f} CPU s, then median {statistics.median(times[1:]):.2f} CPU s "
              f"({args.repeat} runs)")


if __name__ == "__main__":
    main()
