"""``fhirbridge isncsci classify FILE --json`` against the npm reference ``isncsci`` 2.0.6, each as a whole process.

Both read the same JSON file of N generated exams (seeded, in the reference's flat layout; see ``isncsci_bench.py``)
and print the classification of every exam as a JSON list of the reference's ``totals`` objects. The reference runs
in a small Node script written into a temporary folder; the package is installed with npm into a cache folder (or
taken from ``--reference``) and never into the repository. Each repeat runs both processes one after the other;
CPU time is the child's user + system time (``getrusage(RUSAGE_CHILDREN)``), wall time is measured around it. The
best of the repeats is compared, and the AIS grades (and every other value) of the two outputs are compared exam by
exam. The engines alone are timed too: fhirbridge's in this process, the reference's inside its script.

    python benchmarks/isncsci_e2e.py [-n 20000] [--seed 2019] [--repeat 5] [--reference DIR]

Without node or npm the reference is skipped with a message and fhirbridge alone is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from fhirbridge.domains.isncsci.classification import classify
from fhirbridge.domains.isncsci.praxis import exam_from_flat, flat_from_exam, totals_flat
from fhirbridge.domains.isncsci.structure import DERMATOMES, MYOTOMES
from fhirbridge.records.isncsci import IsncsciExam

sys.path.insert(0, str(Path(__file__).resolve().parent))
from isncsci_bench import random_exam_dict

VERSION = "2.0.6"

#: Reads the flat exams, classifies each with the package, prints the totals as `fhirbridge isncsci classify --json`
#: does (same keys, same order, indented by 2) and reports the CPU seconds of the classification loop on stderr.
NODE_SCRIPT = r"""
const fs = require('fs');
const { ISNCSCI } = require(process.argv[2]);
const MOTOR = %(motor)s, DERM = %(derm)s;
const side = (c, s) => {
  const o = { motor: {}, lightTouch: {}, pinPrick: {} };
  for (const m of MOTOR) o.motor[m] = c[m.toLowerCase() + s + 'Motor'];
  for (const d of DERM) {
    const k = d.toLowerCase();
    o.lightTouch[d] = c[k + s + 'Touch'];
    o.pinPrick[d] = c[k + s + 'Prick'];
  }
  const nk = c[s.toLowerCase() + 'LowestNonKeyMuscleWithMotorFunction'];
  if (nk) o.lowestNonKeyMuscleWithMotorFunction = nk;
  return o;
};
const exams = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const start = process.cpuUsage();
const out = exams.map(c => {
  const r = new ISNCSCI({ right: side(c, 'Right'), left: side(c, 'Left'),
                          voluntaryAnalContraction: c.analContraction, deepAnalPressure: c.analSensation });
  const k = r.classification, t = r.totals, lv = k.neurologicalLevels, z = k.zoneOfPartialPreservations;
  return {
    asiaImpairmentScale: k.ASIAImpairmentScale, injuryComplete: k.injuryComplete,
    neurologicalLevelOfInjury: k.neurologicalLevelOfInjury,
    rightSensory: lv.sensoryRight, leftSensory: lv.sensoryLeft, rightMotor: lv.motorRight, leftMotor: lv.motorLeft,
    rightSensoryZpp: z.sensoryRight, leftSensoryZpp: z.sensoryLeft,
    rightMotorZpp: z.motorRight, leftMotorZpp: z.motorLeft,
    rightUpperMotorTotal: t.right.upperExtremity, leftUpperMotorTotal: t.left.upperExtremity,
    rightLowerMotorTotal: t.right.lowerExtremity, leftLowerMotorTotal: t.left.lowerExtremity,
    rightMotorTotal: t.right.motor, leftMotorTotal: t.left.motor,
    upperMotorTotal: t.upperExtremity, lowerMotorTotal: t.lowerExtremity,
    rightTouchTotal: t.right.lightTouch, leftTouchTotal: t.left.lightTouch, touchTotal: t.lightTouch,
    rightPrickTotal: t.right.pinPrick, leftPrickTotal: t.left.pinPrick, prickTotal: t.pinPrick,
  };
});
const used = process.cpuUsage(start);
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
process.stderr.write(JSON.stringify({ engine_cpu: (used.user + used.system) / 1e6 }) + '\n');
"""


def write_exams(path: Path, count: int, seed: int, odd_rate: float) -> list[dict[str, str]]:
    """N exams in the flat layout, each with an ``id``, written to ``path``; returned too."""
    rng = random.Random(seed)
    flats = [
        {"id": str(n), **flat_from_exam(IsncsciExam(**random_exam_dict(rng, odd_rate)))} for n in range(1, count + 1)
    ]
    path.write_bytes(orjson.dumps(flats))
    return flats


def reference_package(given: Path | None, cache: Path) -> Path | None:
    """The folder of the npm package ``isncsci`` 2.0.6: ``given``, or installed by npm into ``cache`` (once)."""
    if given is not None:
        for candidate in (given / "node_modules" / "isncsci", given / "isncsci", given):
            if (candidate / "package.json").exists():
                return candidate
        sys.exit(f"no npm package isncsci in {given}")
    package = cache / "node_modules" / "isncsci"
    manifest = package / "package.json"
    if manifest.exists() and json.loads(manifest.read_text(encoding="utf-8")).get("version") == VERSION:
        return package
    npm = shutil.which("npm")
    if npm is None:
        return None
    cache.mkdir(parents=True, exist_ok=True)
    print(f"installing isncsci@{VERSION} with npm into {cache} …", file=sys.stderr)
    subprocess.run([npm, "install", "--prefix", str(cache), "--no-save", "--no-audit", "--no-fund",
                    f"isncsci@{VERSION}"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return package if manifest.exists() else None


class Run:
    """CPU and wall seconds of one whole process, and what it wrote on stderr."""

    def __init__(self, command: Sequence[str], stdout: Path) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        with stdout.open("wb") as out:
            done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, check=False)
        self.wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        self.stderr = done.stderr.decode(errors="replace")
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{self.stderr}")


def fhirbridge_command() -> list[str]:
    """The installed ``fhirbridge`` script beside this Python (what a user runs), else ``python -c`` its entry."""
    script = Path(sys.executable).parent / "fhirbridge"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from fhirbridge.cli import main; main()"]


def summary(name: str, runs: list[Run]) -> str:
    cpu = [r.cpu for r in runs]
    wall = [r.wall for r in runs]
    return (f"{name:11s} CPU {min(cpu):6.2f} s best, {statistics.median(cpu):6.2f} median; "
            f"wall {min(wall):6.2f} s best, {statistics.median(wall):6.2f} median")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=20_000, help="number of exams (default 20000)")
    parser.add_argument("--seed", type=int, default=2019, help="random seed (default 2019)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each process; the best counts (default 5)")
    parser.add_argument("--odd-rate", type=float, default=0.02, help="share of NT/starred cells (default 0.02)")
    parser.add_argument("--reference", type=Path, default=None,
                        help="folder holding the npm package isncsci (default: installed into --npm-cache)")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fhirbridge-bench"
    parser.add_argument("--npm-cache", type=Path, default=cache,
                        help=f"folder npm installs isncsci into, reused by later runs (default {cache})")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="isncsci-e2e-") as tmp:
        work = Path(tmp)
        exams_file = work / "exams.json"
        flats = write_exams(exams_file, args.count, args.seed, args.odd_rate)
        print(f"{args.count} exams (seed {args.seed}, {args.odd_rate:.0%} NT/starred cells), "
              f"{exams_file.stat().st_size / 1e6:.1f} MB of JSON")  # fmt: skip

        node, package = shutil.which("node"), None
        if node is None:
            print("node is not installed: the reference is not timed")
        else:
            package = reference_package(args.reference, args.npm_cache)
            if package is None:
                print(f"npm is not installed and no isncsci@{VERSION} was found: the reference is not timed")
        script = work / "reference.js"
        script.write_text(NODE_SCRIPT % {"motor": json.dumps(MYOTOMES),
                                         "derm": json.dumps([d.replace("-", "_") for d in DERMATOMES])},
                          encoding="utf-8")  # fmt: skip

        ours_cmd = [*fhirbridge_command(), "isncsci", "classify", str(exams_file), "--json"]
        ref_cmd = [node or "node", str(script), str(package), str(exams_file)]
        ours: list[Run] = []
        theirs: list[Run] = []
        for _ in range(args.repeat):  # interleaved, so that a busy machine slows both alike
            ours.append(Run(ours_cmd, work / "fhirbridge.json"))
            if package is not None:
                theirs.append(Run(ref_cmd, work / "reference.json"))

        print(summary("fhirbridge", ours))
        if package is not None:
            print(summary("reference", theirs))
            cpu_ratio = min(r.cpu for r in theirs) / min(r.cpu for r in ours)
            wall_ratio = min(r.wall for r in theirs) / min(r.wall for r in ours)
            print(f"fhirbridge is {cpu_ratio:.2f}x as fast as the reference in CPU time, "
                  f"{wall_ratio:.2f}x in wall time")
            compare(work / "fhirbridge.json", work / "reference.json")

        engine(flats, [json.loads(r.stderr.strip().splitlines()[-1])["engine_cpu"] for r in theirs], args.repeat)


def compare(ours_file: Path, theirs_file: Path) -> None:
    """Exams whose AIS grade, or any other value, differs between the two outputs."""
    ours, theirs = orjson.loads(ours_file.read_bytes()), orjson.loads(theirs_file.read_bytes())
    if len(ours) != len(theirs):
        print(f"DIFFERENT NUMBER OF RESULTS: fhirbridge {len(ours)}, reference {len(theirs)}")
        return
    ais = sum(a["asiaImpairmentScale"] != b["asiaImpairmentScale"] for a, b in zip(ours, theirs, strict=True))
    other = sum(a != b for a, b in zip(ours, theirs, strict=True))
    same_bytes = ours_file.read_bytes() == theirs_file.read_bytes()
    print(f"agreement: {ais} of {len(ours)} AIS grades differ, {other} exams differ in any value; "
          f"outputs {'byte for byte identical' if same_bytes else 'differ in bytes'}")  # fmt: skip


def engine(flats: list[dict[str, str]], reference_cpu: list[float], repeat: int) -> None:
    """The classification alone, in this process: fhirbridge's from the flat exams to the totals objects (what
    the command does with each exam), and from validated records to the classification models."""
    exams = [exam_from_flat(f, subject_id=f["id"]) for f in flats]
    cells, records = [], []
    for _ in range(repeat):
        start = time.process_time()
        for f in flats:
            totals_flat(f, subject_id=f["id"])
        cells.append(time.process_time() - start)
        start = time.process_time()
        for exam in exams:
            classify(exam)
        records.append(time.process_time() - start)
    print(f"engine only, CPU best: fhirbridge {min(cells):.2f} s from the flat exams to totals (cells checked), "
          f"{min(records):.2f} s from exam records to models", end="")  # fmt: skip
    if reference_cpu:
        print(f"; reference {min(reference_cpu):.2f} s: {min(reference_cpu) / min(cells):.2f}x")
    else:
        print()


if __name__ == "__main__":
    main()
