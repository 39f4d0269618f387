"""The spokes: which function reads and which writes each format.

A reader is ``read(inputs: list[Path], report: Report, options: ConvertOptions) -> StudyData``; a writer is
``write(data: StudyData, outdir: Path, report: Report, options: ConvertOptions, derived: Derived) -> list[Path]``.
They are named as ``module:function`` and imported on first use, so that a format's dependencies are only
loaded when that format is used, and adding a format is one line here plus its own package.

Conversions run a chunk of whole subjects at a time (``fhirbridge.pipeline``). A reader that can hand out chunks
itself is also in ``CHUNK_READERS``; a writer that can take them in ``SINKS`` (its work on a chunk can run in
worker processes) or ``CHUNK_WRITERS`` (it takes checked chunks in this process). Every other reader and writer
gets a default here: reading everything and handing it out as one chunk, and merging the chunks to write once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from fhirbridge.errors import InvalidOption

READERS: dict[str, str] = {
    "csv": "fhirbridge.formats.csv.spoke:read",
    "sdtm": "fhirbridge.formats.sdtm.spoke:read",
    "fhir": "fhirbridge.formats.fhir.spoke:read",
}
WRITERS: dict[str, str] = {
    "csv": "fhirbridge.formats.csv.spoke:write",
    "fhir": "fhirbridge.formats.fhir.spoke:write",
    "sdtm": "fhirbridge.formats.sdtm.spoke:write",
}

#: ``read_chunks(inputs, report, options) -> Iterator[StudyData | Deferred]``: the studies alone first, then
#: chunks of whole subjects, each with the studies again.
CHUNK_READERS: dict[str, str] = {
    "csv": "fhirbridge.formats.csv.spoke:read_chunks",
    "fhir": "fhirbridge.formats.fhir.spoke:read_chunks",
}
#: ``Sink(outdir, report, options)``: see ``fhirbridge.pipeline.Sink``.
SINKS: dict[str, str] = {
    "csv": "fhirbridge.formats.csv.sink:CsvSink",
    "fhir": "fhirbridge.formats.fhir.sink:FhirSink",
}
#: ``write_chunks(chunks, outdir, report, options, check) -> list[Path]``, where ``check(chunk, report)`` gives
#: the chunk's computed classifications (the chunk is already checked).
CHUNK_WRITERS: dict[str, str] = {
    "sdtm": "fhirbridge.formats.sdtm.spoke:write_chunks",
}


def _load(table: dict[str, str], name: str, direction: str) -> Callable[..., Any]:
    if name not in table:
        raise InvalidOption(f"cannot {direction} format {name!r}; supported: {', '.join(table)}")
    module, _, function = table[name].partition(":")
    return getattr(importlib.import_module(module), function)


def reader(name: str) -> Callable[..., Any]:
    return _load(READERS, name, "read")


def writer(name: str) -> Callable[..., Any]:
    return _load(WRITERS, name, "write")


def read_chunks(name: str) -> Callable[..., Iterator[Any]]:
    """The format's chunk reader, or one that reads everything and hands out the studies, then the rest."""
    if name in CHUNK_READERS:
        return _load(CHUNK_READERS, name, "read in chunks")
    read = reader(name)

    def whole(inputs: list[Path], report: Any, options: Any) -> Iterator[Any]:
        data = read(inputs, report, options)
        yield type(data)(studies=list(data.studies))
        yield data

    return whole


def sink(name: str, outdir: Path, report: Any, options: Any) -> Any:
    """The format's sink; for a writer without one, a sink that gives it the checked chunks."""
    if name in SINKS:
        return _load(SINKS, name, "write")(outdir, report, options)
    if name in CHUNK_WRITERS:
        return ChunkWriterSink(_load(CHUNK_WRITERS, name, "write"), outdir, options)
    return ChunkWriterSink(_merging(writer(name)), outdir, options)


def _merging(write: Callable[..., list[Path]]) -> Callable[..., list[Path]]:
    """A ``write_chunks`` for a writer that writes once: the chunks merged, each study once."""

    def write_chunks(chunks: Iterable[Any], outdir: Path, report: Any, options: Any,
                     check: Callable[..., Any]) -> list[Path]:
        whole = None
        for chunk in chunks:
            if whole is None:
                whole = chunk
                continue
            for record in chunk.records():
                if record not in chunk.studies:
                    whole.add(record)
        if whole is None:
            return []
        return write(whole, outdir, report, options, check(whole, report))

    return write_chunks


class ChunkWriterSink:
    """A ``write_chunks`` writer as a sink: chunks are checked in the workers, written here."""

    def __init__(self, write_chunks: Callable[..., list[Path]], outdir: Path, options: Any) -> None:
        self.write_chunks = write_chunks
        self.outdir = outdir
        self.options = options

    def __getstate__(self) -> dict[str, Any]:
        return {}  # workers only render, which needs nothing

    def render(self, chunk: Any, derived: Any, first: bool, report: Any) -> Any:
        return chunk, derived

    def consume(self, parts: Iterator[Any], report: Any) -> list[Path]:
        """``check`` gives each chunk what its worker computed; given a chunk it has not seen (the chunks merged by
        the writer), everything computed so far."""
        pending: dict[int, tuple[Any, Any]] = {}

        def chunks() -> Iterator[Any]:
            for chunk, derived in parts:
                pending[id(chunk)] = (chunk, derived)
                yield chunk

        def check(chunk: Any, _report: Any) -> Any:
            if id(chunk) in pending and pending[id(chunk)][0] is chunk:
                return pending.pop(id(chunk))[1]
            union: dict[Any, Any] = {}
            for _, derived in pending.values():
                union.update(derived)
            pending.clear()
            return union

        return self.write_chunks(chunks(), self.outdir, report, self.options, check)
