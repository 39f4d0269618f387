"""Time, memory and page size of the HTML report against ``validate`` of the same CSV export, as the study grows.

For each size (1,300 and 13,000 subjects by default) the example export is scaled (``scaled.scaled_export``) and,
each in a child process of its own (``scaled.measure``), ``fhirbridge validate`` and ``fhirbridge report`` read it
(the report validates the same input and computes its figures on the way). Prints CPU seconds and peak RSS of
both, their ratio, and the page's size; fails when the report takes more than ``--cpu-ratio`` times validate's CPU
or more than ``--limit-mib`` MiB. ``--baseline DIR`` measures the report of another source tree as well (e.g.
``git archive main | tar -x -C DIR``), in the same run. Everything is written in a temporary folder (``--work``).

    python benchmarks/report_bench.py [--sizes 1300,13000] [--repeat 1] [--baseline DIR] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from scaled import SUBJECTS, fhirbridge, measure, scaled_export


def _megabytes(page: Path) -> str:
    """The page's size in MB, and its removal before the next run ("none" when the run wrote none)."""
    if not page.exists():
        return "none"
    size = page.stat().st_size
    page.unlink()
    return f"{size / 1e6:.1f}"


def best_of(repeat: int, command: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """The run of ``command`` with the least CPU time of ``repeat``, with ``env`` added to the environment."""
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        return min((measure(command) for _ in range(repeat)), key=lambda r: r["cpu"])
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1300,13000", help="subjects, comma-separated (multiples of 13)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command; the least CPU time is kept")
    parser.add_argument("--cpu-ratio", type=float, default=1.5, help="the report's CPU at most this × validate's")
    parser.add_argument("--limit-mib", type=float, default=300.0, help="the report's peak RSS at most this")
    parser.add_argument("--work", type=Path, default=None, help="folder for the scaled exports (default: a temp one)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a source tree of fhirbridge whose report is measured too (put first on PYTHONPATH)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="report-bench-", dir=args.work))
    failed = []
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'subjects':>8}  {'validate CPU s':>14} {'MiB':>6}  {'report CPU s':>12} {'MiB':>6}  {'CPU ×':>5}  page MB")
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            export = scaled_export(-(-size // SUBJECTS), work / f"csv-{size}")
            page = work / f"report-{size}.html"
            validate = best_of(args.repeat, fhirbridge("validate", "--as", "csv", export))
            report = best_of(args.repeat, fhirbridge("report", "--as", "csv", export, "-o", page))
            ratio = report["cpu"] / validate["cpu"]
            print(f"{size:>8}  {validate['cpu']:>14.2f} {validate['peak_mib']:>6.0f}  {report['cpu']:>12.2f} "
                  f"{report['peak_mib']:>6.0f}  {ratio:>5.2f}  {_megabytes(page)}", flush=True)
            if validate["exit_code"] != 0 or report["exit_code"] != 0:
                failed.append(f"{size}: exit codes validate {validate['exit_code']}, report {report['exit_code']}")
            if ratio > args.cpu_ratio:
                failed.append(f"{size}: report CPU {ratio:.2f}× validate's (limit {args.cpu_ratio}×)")
            if report["peak_mib"] > args.limit_mib:
                failed.append(f"{size}: report peak RSS {report['peak_mib']:.0f} MiB (limit {args.limit_mib:.0f})")
            if args.baseline:
                before = best_of(args.repeat, fhirbridge("report", "--as", "csv", export, "-o", page),
                                 {"PYTHONPATH": str(args.baseline.resolve())})
                print(f"{'':>8}  {'baseline report':>14}        {before['cpu']:>12.2f} {before['peak_mib']:>6.0f}  "
                      f"{before['cpu'] / validate['cpu']:>5.2f}  {_megabytes(page)}", flush=True)
            shutil.rmtree(export)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if failed:
        raise SystemExit("\n".join(failed))


if __name__ == "__main__":
    main()
