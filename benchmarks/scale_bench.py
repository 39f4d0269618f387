"""Time and memory of conversions and validation as the input grows: 130, 1,300 and 13,000 subjects.

For each size, the example export is scaled (``scaled.scaled_export``) and, each in a child process of its own
(``scaled.measure``): CSV → FHIR bundle (JSON) and CSV → FHIR NDJSON, the bundle → CSV, the NDJSON → SDTM, and
``validate`` of the bundle. Prints CPU seconds and peak RSS of each, checks that time grows linearly (×10 input
takes at most ×12 the CPU time) and that the peak RSS stays under 300 MiB. Everything is written in a temporary
folder (``--work`` to choose where), removed after each size: 13,000 subjects take several GB.

    python benchmarks/scale_bench.py [--sizes 130,1300,13000] [--jobs N] [--work DIR] [--only TEXT] [--keep]

``--only`` runs the commands whose name holds TEXT (and those they need the output of); ``--keep`` leaves each
size's folder in place (its path is printed) and reuses it when it is there already: a run of the last
commands at 13,000 subjects can then take the CSV export and the FHIR files of an earlier run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import tempfile
from pathlib import Path

from scaled import SUBJECTS, fhirbridge, measure, scaled_export

LIMIT_MIB = 300
GROWTH = 12  # at most ×12 time for ×10 input


def runs(work: Path, jobs: int) -> dict[str, tuple[list[str], Path, Path | None]]:
    """Each run: its command line, the output it writes, and the output of another run it reads (or None)."""
    export, bundle, ndjson = work / "csv", work / "bundle", work / "ndjson"
    convert = ["convert", "--jobs", str(jobs)]
    return {
        "CSV → FHIR bundle": (
            fhirbridge(*convert, "--from", "csv", "--to", "fhir", export, "-o", bundle),
            bundle,
            None,
        ),
        "CSV → FHIR NDJSON": (
            fhirbridge(*convert, "--from", "csv", "--to", "fhir", "--fhir-format", "ndjson", export, "-o", ndjson),
            ndjson,
            None,
        ),
        "FHIR bundle → CSV": (
            fhirbridge(*convert, "--from", "fhir", "--to", "csv", bundle / "bundle.json", "-o", work / "back-csv"),
            work / "back-csv",
            bundle,
        ),
        "NDJSON → SDTM": (
            fhirbridge(*convert, "--from", "fhir", "--to", "sdtm", ndjson, "-o", work / "sdtm"),
            work / "sdtm",
            ndjson,
        ),
        "validate bundle": (
            fhirbridge("validate", "--as", "fhir", "--max-issues", "100", bundle / "bundle.json"),
            work / "validate",
            bundle,
        ),
    }


def chosen(all_runs: dict[str, tuple[list[str], Path, Path | None]], only: str | None) -> list[str]:
    """The runs named by ``only`` (all when None), after the runs making an input of theirs that is missing."""
    wanted = [name for name in all_runs if only is None or any(o in name for o in only.split(","))]
    by_output = {output: name for name, (_, output, _) in all_runs.items()}
    needed = {by_output[needs] for name in wanted if (needs := all_runs[name][2]) is not None and not needs.exists()}
    return [name for name in all_runs if name in wanted or name in needed]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="130,1300,13000", help="subjects, comma-separated")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--only", default=None, help="run only the commands whose name holds one of these texts")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) each size's folder under --work")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    table: dict[str, dict[int, dict[str, float]]] = {}
    for size in sizes:
        if args.keep:
            work = (args.work or Path(tempfile.gettempdir())) / f"fhirbridge-scale-{size}"
            print(f"{size:>6} subjects  kept in {work}", flush=True)
        else:
            work = Path(tempfile.mkdtemp(prefix="fhirbridge-scale-", dir=args.work))
        try:
            if not (work / "csv").exists():
                scaled_export(max(1, size // SUBJECTS), work / "csv")
            all_runs = runs(work, args.jobs)
            for name in chosen(all_runs, args.only):
                command, output, _ = all_runs[name]
                shutil.rmtree(output, ignore_errors=True)
                result = measure(command)
                table.setdefault(name, {})[size] = result
                print(
                    f"{size:>6} subjects  {name:<18} {result['cpu']:8.1f} CPU s {result['wall']:8.1f} s wall "
                    f"{result['peak_mib']:6.0f} MiB  exit {result['exit_code']:.0f}  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    print()
    print("| run | " + " | ".join(f"{s:,} subjects: CPU s / peak MiB" for s in sizes) + " | growth ×10 | ok |")
    print("|---|" + "---|" * (len(sizes) + 2))
    for name, by_size in table.items():
        cells = [f"{by_size[s]['cpu']:.1f} / {by_size[s]['peak_mib']:.0f}" if s in by_size else "-" for s in sizes]
        growth = [
            by_size[b]["cpu"] / by_size[a]["cpu"]
            for a, b in itertools.pairwise(sizes)
            if b == 10 * a and a in by_size and b in by_size
        ]
        ok = all(g <= GROWTH for g in growth) and all(r["peak_mib"] < LIMIT_MIB for r in by_size.values())
        print(
            f"| {name} | " + " | ".join(cells) + f" | {', '.join(f'{g:.1f}' for g in growth)} | "
            f"{'yes' if ok else 'NO'} |"
        )


if __name__ == "__main__":
    main()
