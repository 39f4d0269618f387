"""What the benchmarks share: the example export scaled up, and a command measured in a child process.

``scaled_export`` copies the example study's 13 subjects under new subject ids (``001-copy0000``, ...), row by
row, so that every record is distinct and a conversion does its full work; it never holds the export.
``measure`` runs a command in a child process, through a small Python process of its own that waits for it, so
that the CPU time (user + system, the worker processes included) and the peak resident memory (the largest of
the processes) are those of that command alone.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "honmou2021" / "csv"
SUBJECTS = 13  # in the example study
FHIRBRIDGE = [sys.executable, "-c", "from fhirbridge.cli import main; main()"]


def scaled_export(copies: int, folder: Path) -> Path:
    """The example export with every subject copied ``copies`` times, as subjects ``001-copy0000``, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(EXAMPLE.glob("*.csv")):
        with source.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        fields = list(rows[0])
        with (folder / source.name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            if "subject_id" not in fields:
                writer.writerows(rows)
                continue
            for k in range(copies):
                writer.writerows({**row, "subject_id": f"{row['subject_id']}-copy{k:04d}"} for row in rows)
    return folder


_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"exit_code": code, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak_mib": usage.ru_maxrss / 1024}))
"""


def measure(command: list[str]) -> dict[str, float]:
    """Exit code, wall seconds, CPU seconds and peak RSS (MiB) of ``command`` run alone in a child process."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def fhirbridge(*args: str | Path) -> list[str]:
    """The command line of ``fhirbridge ARGS`` with this Python."""
    return [*FHIRBRIDGE, *map(str, args)]
