"""FHIR output files written a unit of entries at a time: Bundles (JSON or XML) and NDJSON.

A Bundle file is written as its header, its entries as they come and its footer, so that no Bundle is ever held
whole; it stays one valid Bundle. Compact output has one entry per line; ``pretty`` indents as a whole document
would be. With a limit, a new Bundle file is started when the next subject's unit would take the current one
past ``limit`` entries (a subject is never split; one with more resources than the limit has a file of its own):
``bundle-0001.json``, ``bundle-0002.json``, … Every Bundle file starts with the study's entries, so that the
references of its entries resolve in it. NDJSON has one file per resource type, appended to.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NamedTuple

import orjson

from fhirbridge.formats.fhir import xml
from fhirbridge.formats.fhir.context import FhirContext
from fhirbridge.formats.fhir.models import Release
from fhirbridge.formats.fhir.writer import BundleType, bundle_header

#: Where an entry was written: the file, its index in the Bundle (or line in the NDJSON file), its type.
Place = tuple[str, int, str]


class Unit(NamedTuple):
    """Encoded entries that stay together (a subject's, or the study's): the id of the first resource (a key
    for the Bundle id), and each entry's resource type and bytes (None: not written, already reported)."""

    key: str
    entries: list[tuple[str, bytes | None]]


class NdjsonPart(NamedTuple):
    """A chunk's NDJSON lines joined by resource type (made where the chunk is worked on), so that the process
    writing the files makes one write per type and chunk, not two per line, and the chunk crosses between
    processes as a few large byte strings: the parent's share of the work stays small (see
    ``fhirbridge.pipeline``)."""

    types: list[str]  # in the order they first appear in the chunk
    blobs: list[bytes]  # the lines of each type, each ended by a newline
    counts: list[int]  # the entries of each type (those not written, already reported, counted too)
    written: int  # entries written
    order: array  # per entry of the chunk, the index of its type in ``types``


def ndjson_part(entries: list[tuple[str, bytes | None]]) -> NdjsonPart:
    """The entries of a chunk (in order: each entry's resource type and bytes, None when not written) packed."""
    index: dict[str, int] = {}
    lines: list[list[bytes]] = []
    order = array("H")
    written = 0
    for rtype, content in entries:
        i = index.get(rtype)
        if i is None:
            i = index[rtype] = len(lines)
            lines.append([])
        order.append(i)
        if content is not None:
            lines[i].append(content)
            written += 1
    blobs = [b"\n".join(chunk) + b"\n" if chunk else b"" for chunk in lines]
    return NdjsonPart(list(index), blobs, [order.count(i) for i in range(len(lines))], written, order)


class BundleFiles:
    def __init__(self, outdir: Path, ctx: FhirContext, bundle_type: BundleType, fmt: str, pretty: bool,
                 limit: int | None, release: Release) -> None:
        outdir.mkdir(parents=True, exist_ok=True)
        self.outdir, self.ctx, self.bundle_type = outdir, ctx, bundle_type
        self.fmt, self.pretty, self.limit, self.release = fmt, pretty, limit, release
        self.study_unit = Unit("", [])
        self.paths: list[Path] = []
        self.handle: BinaryIO | None = None
        self.in_file = 0  # entries in the current file
        self.subjects_in_file = 0
        self.entries = 0

    def study(self, unit: Unit) -> None:
        self.study_unit = unit

    def write(self, unit: Unit) -> list[Place]:
        """Write a subject's entries (the study's, when it is the study unit); returns where each went."""
        if unit is self.study_unit:
            return [("", n, rtype) for n, (rtype, _) in enumerate(unit.entries)]  # written in every file
        full = self.limit is not None and self.in_file + len(unit.entries) > self.limit
        if self.handle is None or (full and self.subjects_in_file):
            self._start(unit.key)
        self.subjects_in_file += 1
        return self._entries(unit)

    def _start(self, key: str) -> None:
        self._finish()
        number = len(self.paths) + 1
        name = "bundle" if self.limit is None else f"bundle-{number:04d}"
        path = self.outdir / f"{name}.{self.fmt}"
        self.paths.append(path)
        self.handle = path.open("wb")
        self.in_file = self.subjects_in_file = 0
        header = bundle_header(self.ctx, self.bundle_type, self.study_unit.key, key)
        self.handle.write(self._header(header))
        self._entries(self.study_unit)

    def _entries(self, unit: Unit) -> list[Place]:
        assert self.handle is not None
        places = []
        path = str(self.paths[-1])
        for rtype, content in unit.entries:
            places.append((path, self.in_file, rtype))
            if content is None:
                continue
            self.handle.write(self._entry(content, first=self.in_file == 0))
            self.in_file += 1
            self.entries += 1
        return places

    def _header(self, header: dict[str, str]) -> bytes:
        if self.fmt == "xml":
            root = xml.to_xml(header, self.release)
            document = xml.to_bytes(root) if self.pretty else xml.compact_bytes(root) + b"\n"
            return document[:document.rindex(b"</Bundle>")] + (b"" if self.pretty else b"\n")
        if self.pretty:
            return orjson.dumps(header, option=orjson.OPT_INDENT_2)[:-2] + b',\n  "entry": [\n'
        return orjson.dumps(header)[:-1] + b',"entry":[\n'

    def _entry(self, content: bytes, first: bool) -> bytes:
        if self.fmt == "xml":
            return content if self.pretty else content + b"\n"
        if self.pretty:
            content = b"    " + content.replace(b"\n", b"\n    ")
        return content if first else b",\n" + content

    def _finish(self) -> None:
        if self.handle is None:
            return
        if self.fmt == "xml":
            self.handle.write(b"</Bundle>\n")
        else:
            self.handle.write(b"\n  ]\n}\n" if self.pretty else b"\n]}\n")
        self.handle.close()
        self.handle = None

    def close(self) -> list[Path]:
        if not self.paths and self.study_unit.entries:
            self._start("")  # a study without subjects
        self._finish()
        return self.paths


class NdjsonFiles:
    """One ``<ResourceType>.ndjson`` file per resource type, in the order the types first appear."""

    def __init__(self, outdir: Path) -> None:
        outdir.mkdir(parents=True, exist_ok=True)
        self.outdir = outdir
        self.handles: dict[str, BinaryIO] = {}
        self.names: dict[str, str] = {}
        self.lines: dict[str, int] = {}
        self.entries = 0

    def study(self, unit: Unit) -> None:
        raise AssertionError("NDJSON writes the study's resources as any others")

    def write(self, unit: Unit) -> list[Place]:
        places = []
        handles, lines, names = self.handles, self.lines, self.names
        for rtype, content in unit.entries:
            handle = handles.get(rtype)
            if handle is None:
                names[rtype] = str(self.outdir / f"{rtype}.ndjson")
                handle = handles[rtype] = open(names[rtype], "wb")  # noqa: SIM115 (closed by close())
                lines[rtype] = 0
            lines[rtype] += 1
            places.append((names[rtype], lines[rtype], rtype))
            if content is not None:
                handle.write(content)
                handle.write(b"\n")
                self.entries += 1
        return places

    def write_part(self, part: NdjsonPart) -> Callable[[int], Place]:
        """Write a packed chunk (the same bytes ``write`` writes for its units); returns where its n-th entry
        went, worked out when asked (only the entries an issue is about are)."""
        handles, lines, names = self.handles, self.lines, self.names
        first_line: list[int] = []
        for rtype, blob, count in zip(part.types, part.blobs, part.counts, strict=True):
            handle = handles.get(rtype)
            if handle is None:
                names[rtype] = str(self.outdir / f"{rtype}.ndjson")
                handle = handles[rtype] = open(names[rtype], "wb")  # noqa: SIM115 (closed by close())
                lines[rtype] = 0
            first_line.append(lines[rtype] + 1)
            handle.write(blob)
            lines[rtype] += count
        self.entries += part.written

        def place(n: int) -> Place:
            code = part.order[n]
            rtype = part.types[code]
            return names[rtype], first_line[code] + part.order[:n].count(code), rtype

        return place

    def close(self) -> list[Path]:
        for handle in self.handles.values():
            handle.close()
        return [self.outdir / f"{rtype}.ndjson" for rtype in self.handles]
