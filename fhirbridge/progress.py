"""Progress of a long run on a terminal: one bar per stage (read, check, write) with counts and rate, and the
closing line that says what was done.

Shown only when standard error is a terminal and ``--quiet`` is not given: a pipe or a CI log gets nothing but
the report (whose JSON form has the same counts in ``stats``). The bars are rich's; it is imported only when
they are shown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fhirbridge.issues.report import Report

#: What each stage counts (``fhir``: the resources the FHIR checker has checked, before the records are read).
_UNITS = {"fhir": "resources", "read": "chunks", "check": "records", "write": "records"}


class StageBars:
    """``ConvertOptions.stages`` as rich progress bars (no total is known in advance: counts and rate). A bar
    shows from its stage's first work on, so that a stage the input does not go through (the FHIR checker on a
    CSV export) shows none."""

    def __init__(self, stages: tuple[str, ...]) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description:<6.40}"),
                                 TextColumn("{task.completed:>10,.0f} {task.fields[unit]}"),
                                 TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
        self.tasks = {s: self.progress.add_task(s, total=None, unit=_UNITS[s], rate="", visible=False)
                      for s in stages}
        self.started = time.perf_counter()

    def note(self, step: str) -> None:
        """What the reader is at (``reading subjects.csv (2/7)``), shown on the read bar."""
        if "read" in self.tasks:
            self.progress.update(self.tasks["read"], description=f"read: {step}", visible=True)

    def advance(self, stage: str, count: int = 1) -> None:
        task = self.tasks.get(stage)
        if task is None:
            return
        self.progress.advance(task, count)
        done = self.progress.tasks[task].completed
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        self.progress.update(task, rate=f"{done / elapsed:,.0f} {_UNITS[stage]}/s", visible=True)


def watched(quiet: bool) -> bool:
    """Whether a person watches standard error: a terminal, and no ``--quiet``."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def stage_bars(quiet: bool, *stages: str) -> Iterator[StageBars | None]:
    """Bars for ``stages`` on a terminal (None on a pipe or when quiet), removed when the work ends."""
    if not watched(quiet):
        yield None
        return
    bars = StageBars(stages)
    with bars.progress:
        yield bars


#: How the closing line names one record of each kind.
_KINDS = {"studies": "study", "subjects": "subject", "isncsci_exams": "ISNCSCI exam",
          "scim_assessments": "SCIM-III assessment", "harvests": "harvest", "infusions": "infusion",
          "adverse_events": "adverse event"}


def _counted(n: int, kind: str) -> str:
    one = _KINDS.get(kind, kind.replace("_", " "))
    return f"{n} {one}" if n == 1 else f"{n} {'studies' if one == 'study' else one + 's'}"


def summary(report: Report, seconds: float, verb: str) -> str:
    """The closing line: records read by kind, what was written, and the time taken."""
    records: dict[str, Any] = report.stats.get("records") or {}
    kinds = ", ".join(_counted(n, kind) for kind, n in records.items() if n) or "no record"
    written = ""
    if "resources" in report.stats and report.outputs:
        written = f"; {report.stats['resources']} FHIR resources written"
    if report.outputs:
        written += f" in {len(report.outputs)} file{'s' if len(report.outputs) != 1 else ''}"
    if not report.outputs:
        written = "; nothing written"
    return f"{verb} {kinds}{written} in {seconds:.1f} s"
