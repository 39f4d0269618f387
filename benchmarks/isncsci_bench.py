"""Throughput of the ISNCSCI classification engine.

Generates N random but plausible exams (seeded: normal down to an injury level, a zone of partial preservation,
absent function below, some sacral sparing, a few NT and starred cells), classifies them all and prints exams per
second. Two baselines are timed in the same run so that the figure can be compared across machines: a trivial pass
over each exam (the sum of its 20 motor cells) and building each exam record from a dict (pydantic validation,
what reading an exam costs anyway).

    python benchmarks/isncsci_bench.py [-n 20000] [--seed 2019] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from fhirbridge.domains.isncsci.classification import classify
from fhirbridge.domains.isncsci.structure import DERMATOMES, LEVEL_INDEX, MYOTOMES, NON_KEY_MUSCLE_LEVELS
from fhirbridge.records.isncsci import IsncsciExam

MOTOR_ODD = ["NT", "0*", "1*", "2*", "3*", "4*", "NT*", "0**", "1**", "2**", "3**", "4**", "NT**"]
SENSORY_ODD = ["NT", "0*", "1*", "NT*", "0**", "1**", "NT**"]


def random_exam_dict(rng: random.Random, odd_rate: float) -> dict[str, Any]:
    """One exam as the keyword arguments of :class:`IsncsciExam`."""
    injury = rng.randrange(1, len(DERMATOMES) + 2)  # first abnormal level; past S4-5: a normal exam
    incomplete = rng.random() < 0.5
    sides: dict[str, dict[str, Any]] = {}
    for side in ("right", "left"):
        cut = max(1, injury + rng.randint(-2, 2))
        zone = rng.randint(0, 4)

        def cell(level: str, grades: list[str], odd: list[str], cut: int = cut, zone: int = zone) -> str:
            if rng.random() < odd_rate:
                return rng.choice(odd)
            i = LEVEL_INDEX[level]
            if i < cut:
                return grades[-1]
            if i <= cut + zone or (incomplete and rng.random() < 0.4):
                return rng.choice(grades)
            return "0"

        motor = ["0", "1", "2", "3", "4", "5"]
        sensory = ["0", "1", "2"]
        sides[side] = {
            "motor": {m: cell(m, motor, MOTOR_ODD) for m in MYOTOMES},
            "light_touch": {d: cell(d, sensory, SENSORY_ODD) for d in DERMATOMES},
            "pin_prick": {d: cell(d, sensory, SENSORY_ODD) for d in DERMATOMES},
            "lowest_non_key_muscle": rng.choice(NON_KEY_MUSCLE_LEVELS) if rng.random() < 0.1 else None,
        }
    anal = ["Yes", "No", "NT"]
    weights = [4, 5, 1] if incomplete else [1, 10, 1]
    return {
        "study_id": "BENCH",
        "subject_id": f"S{rng.randrange(10_000):04d}",
        "visit": "baseline",
        "right": sides["right"],
        "left": sides["left"],
        "vac": rng.choices(anal, weights)[0],
        "dap": rng.choices(anal, weights)[0],
    }


def timings(works: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Seconds per run of each piece of work, the pieces interleaved so that a busy machine slows all alike."""
    seconds: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeat):
        for name, work in works.items():
            start = time.perf_counter()
            work()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=20_000, help="number of exams (default 20000)")
    parser.add_argument("--seed", type=int, default=2019, help="random seed (default 2019)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best counts (default 5)")
    parser.add_argument("--odd-rate", type=float, default=0.02, help="share of NT/starred cells (default 0.02)")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    dicts = [random_exam_dict(rng, args.odd_rate) for _ in range(args.count)]
    exams = [IsncsciExam(**d) for d in dicts]

    def classify_all() -> None:
        for exam in exams:
            classify(exam)

    def sum_motor() -> None:
        for exam in exams:
            total = 0
            for side in (exam.right, exam.left):
                for value in side.motor.values():
                    if value[0] != "N":
                        total += int(value.rstrip("*"))

    def build_records() -> None:
        for d in dicts:
            IsncsciExam(**d)

    grades: dict[str, int] = {}
    for exam in exams:
        ais = classify(exam).asia_impairment_scale or ""
        grades[ais] = grades.get(ais, 0) + 1

    seconds = timings({"classify": classify_all, "sum": sum_motor, "build": build_records}, args.repeat)
    best = {name: min(runs) for name, runs in seconds.items()}
    rate = len(exams) / best["classify"]
    median = len(exams) / statistics.median(seconds["classify"])

    common = ", ".join(f"{g} {n}" for g, n in sorted(grades.items(), key=lambda item: -item[1])[:8])
    print(f"{len(exams)} exams (seed {args.seed}, {args.odd_rate:.0%} NT/starred cells); AIS: {common}, …")
    print(f"classify:                 {rate:>9,.0f} exams/s best, {median:,.0f} median  ({1e6 / rate:.1f} µs/exam)")
    for name, what in (("sum", "sum of the motor cells"), ("build", "building the exam record")):
        ratio = best["classify"] / best[name]
        baseline = len(exams) / best[name]
        print(f"baseline, {what + ':':25s} {baseline:>9,.0f} exams/s; classify takes {ratio:.2f}x as long")


if __name__ == "__main__":
    main()
