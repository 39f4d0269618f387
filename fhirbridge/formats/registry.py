"""The spokes: which function reads and which writes each format.

A reader is ``read(inputs: list[Path], report: Report, options: ConvertOptions) -> StudyData``; a writer is
``write(data: StudyData, outdir: Path, report: Report, options: ConvertOptions, derived: Derived) -> list[Path]``.
They are named as ``module:function`` and imported on first use, so that a format's dependencies are only
loaded when that format is used, and adding a format is one line here plus its own package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
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

#: Readers that can also hand out records a chunk of whole subjects at a time (flat memory for any input size):
#: ``read_chunks(inputs, report, options) -> Iterator[StudyData]``, the studies alone first.
CHUNK_READERS: dict[str, str] = {
    "fhir": "fhirbridge.formats.fhir.spoke:read_chunks",
}
#: Writers whose tables hold one row per record and nothing computed over all rows, so that a conversion from a
#: chunk reader can write them a chunk at a time (``fhirbridge.formats.fhir.stream``).
TABLE_WRITERS: frozenset[str] = frozenset({"csv"})
#: Writers that take the chunks themselves: ``write_chunks(chunks, outdir, report, options, check) -> list[Path]``
#: (SDTM appends to its CSV datasets and writes define.xml from running maxima at the end).
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


def chunk_reader(name: str) -> Callable[..., Any]:
    return _load(CHUNK_READERS, name, "read in chunks")


def chunk_writer(name: str) -> Callable[..., Any]:
    return _load(CHUNK_WRITERS, name, "write in chunks")
