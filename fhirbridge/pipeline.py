"""The one conversion pipeline: read chunks of whole subjects → check each chunk → write it.

A reader hands out chunks (``registry.read_chunks``): the studies alone first, then whole subjects, each chunk
with its studies again. A chunk is either records (``StudyData``) or a ``Deferred`` piece whose records are
made where the chunk is worked on (the CSV reader hands out the rows of a chunk, parsed in the worker).

The work on a chunk (making its records, the record-level checks, building and checking the output, turning
it into bytes) is done by ``_work``: in this process with ``jobs`` 1, else in ``jobs`` worker processes. The
parent reads, hands out at most ``2 × jobs`` chunks at a time (memory stays flat), and gives the results in
input order to the sink, which writes them. Issues are kept in the order a single process finds them: what the
reader reported while handing out chunk n, then what the worker found in chunk n, then what the sink reported
writing it; so the report, like the output, is the same whatever the number of processes.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from fhirbridge.checks import check
from fhirbridge.formats.options import ConvertOptions, Derived, Stages
from fhirbridge.formats.registry import read_chunks, sink
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.records import StudyData


class Deferred(Protocol):
    """A chunk whose records are made where it is worked on; problems go to ``report``."""

    def load(self, report: Report) -> StudyData: ...


class Sink(Protocol):
    """A writer split in two: ``render`` turns one checked chunk into what is written (in a worker process: it
    must be picklable, and so must what it returns); ``consume`` writes the rendered chunks, in input order.
    A sink may also have ``in_worker(parts)``, called in each worker process with a folder where what ``render``
    returns may leave its bytes, in files that ``consume`` removes (the folder goes once all are consumed)."""

    def render(self, chunk: StudyData, derived: Derived, first: bool, report: Report) -> Any: ...

    def consume(self, parts: Iterator[Any], report: Report) -> list[Path]: ...


def default_jobs() -> int:
    return os.cpu_count() or 1


def convert(inputs: list[Path | Source], outdir: Path, source: str, target: str, options: ConvertOptions,
            report: Report) -> list[Path]:
    """Read ``inputs`` as ``source`` and write ``target`` into ``outdir``; returns the files written."""
    writer = sink(target, outdir, report, options)
    reading = Report(select=("",))  # every issue the reader finds; ``report`` selects when they are moved to it
    pieces = _numbered(read_chunks(source)(inputs, reading, _reading(options, target)), reading, options.stages)
    head = list(itertools.islice(pieces, 3))  # the studies and two chunks of subjects, or fewer
    pieces = itertools.chain(head, pieces)
    jobs = options.jobs or default_jobs()
    alone = jobs == 1 or len(head) < 3  # with one chunk of subjects or none, there is nothing to share out
    if not alone and _context().get_start_method() == "fork":
        prepare = getattr(writer, "prepare", None)
        if prepare is not None:  # made once here, shared by the forked workers instead of made in each
            prepare()
    results = _in_process(pieces, writer) if alone else _in_workers(pieces, writer, options, jobs)
    counts: Counter[str] = Counter()

    def parts() -> Iterator[Any]:
        for read_issues, (issues, chunk_counts, part) in results:
            report.extend(read_issues)
            report.extend(issues)
            counts.update(chunk_counts)
            if options.stages:
                options.stages.advance("check", sum(chunk_counts.values()))
            yield part
            if options.stages:  # the sink asks for the next part once it has written this one
                options.stages.advance("write", sum(chunk_counts.values()))

    outputs = writer.consume(parts(), report)
    report.extend(reading.issues)  # what the reader found after handing out its last chunk
    report.header.update({k: v for k, v in reading.header.items() if k not in report.header})
    report.stats["records"] = dict(counts)
    return outputs


def _reading(options: ConvertOptions, target: str) -> ConvertOptions:
    """The options the reader gets: into FHIR, ``fhir_version`` is the output's release and the input's is
    ``from_fhir_version`` (None: detected), so that R4 becomes R5 in one step; into another format,
    ``fhir_version`` names the input's release unless ``from_fhir_version`` does."""
    if target == "fhir" or options.from_fhir_version:
        return replace(options, fhir_version=options.from_fhir_version)
    return options


def _numbered(pieces: Iterable[Any], reading: Report, stages: Stages | None = None
              ) -> Iterator[tuple[int, Any, list[Issue]]]:
    """Number each piece, and take away the issues the reader reported while making it."""
    for number, piece in enumerate(pieces):
        issues = list(reading.issues)
        reading.issues.clear()
        if stages:
            stages.advance("read")
        yield number, piece, issues


# the work on one chunk -------------------------------------------------------------------------------------

_WORKER: tuple[Sink, ConvertOptions] | None = None


def _start_worker(writer: Sink, options: ConvertOptions, parts: Path | None) -> None:
    global _WORKER
    _WORKER = (writer, options)
    in_worker = getattr(writer, "in_worker", None)
    if in_worker is not None and parts is not None:
        in_worker(parts)


@contextlib.contextmanager
def _parts_folder() -> Iterator[Path | None]:
    """The folder where workers leave what they render (``Sink``), in the system's temporary folder; None when no
    folder can be made there (no writable temporary folder): what they render then comes through the pipe, which
    is slower, rather than the conversion failing for a reason that is not its own."""
    try:
        folder = tempfile.TemporaryDirectory(prefix="fhirbridge-parts-")
    except OSError:
        yield None
        return
    with folder as name:
        yield Path(name)


def _work(number: int, piece: Any, writer: Sink) -> tuple[list[Issue], dict[str, int], Any]:
    """Make the chunk's records, check them and render them; returns the issues found, the records counted and
    the rendered chunk."""
    report = Report(select=("",))
    chunk = piece if isinstance(piece, StudyData) else piece.load(report)
    counts = {k: v for k, v in chunk.count().items() if number == 0 or k != "studies"}  # studies come again
    derived = check(chunk, report)
    part = writer.render(chunk, derived, number == 0, report)
    return report.issues, counts, part


def _work_in_worker(number: int, piece: Any) -> tuple[list[Issue], dict[str, int], Any]:
    assert _WORKER is not None, "the worker was started without a sink"
    return _work(number, piece, _WORKER[0])


Numbered = Iterable[tuple[int, Any, list[Issue]]]


def _in_process(pieces: Numbered, writer: Sink) -> Iterator[tuple[list[Issue], Any]]:
    for number, piece, issues in pieces:
        yield issues, _work(number, piece, writer)


def _in_workers(pieces: Numbered, writer: Sink, options: ConvertOptions, jobs: int
                ) -> Iterator[tuple[list[Issue], Any]]:
    """Results in input order, from ``jobs`` processes with at most ``2 × jobs`` chunks handed out at a time."""
    pending: deque[tuple[list[Issue], Future[Any]]] = deque()
    with _parts_folder() as parts, ProcessPoolExecutor(
            max_workers=jobs, mp_context=_context(), initializer=_start_worker,
            initargs=(writer, replace(options, progress=None, stages=None), parts)) as pool:
        for number, piece, issues in pieces:
            pending.append((issues, pool.submit(_work_in_worker, number, piece)))
            if len(pending) >= 2 * jobs:
                done_issues, future = pending.popleft()
                yield done_issues, future.result()
        while pending:
            done_issues, future = pending.popleft()
            yield done_issues, future.result()


def _context() -> multiprocessing.context.BaseContext:
    """Fork where it is safe (no other thread, which a fork would copy mid-work): workers start at once and share
    what is loaded; else spawn, for which everything handed to workers is picklable."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")
