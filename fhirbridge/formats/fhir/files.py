"""FHIR output files written a unit of entries at a time: Bundles (JSON or XML) and NDJSON.

A Bundle file is written as its header, its entries as they come and its footer, so that no Bundle is ever held
whole; it stays one valid Bundle. Compact output has one entry per line; ``pretty`` indents as a whole document
would be. With a limit, a new Bundle file is started when the next subject's unit would take the current one
past ``limit`` entries (a subject is never split; one with more resources than the limit has a file of its own):
``bundle-0001.json``, ``bundle-0002.json``, … Every Bundle file starts with the study's entries, so that the
references of its entries resolve in it. NDJSON has one file per resource type, appended to.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NamedTuple

import orjson

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
    blobs: list[bytes]  # the lines of each type, each ended by a newline (none once spilled)
    counts: list[int]  # the entries of each type (those not written, already reported, counted too)
    written: int  # entries written
    order: array  # per entry of the chunk, the index of its type in ``types``
    #: a part made in a worker process: its blobs one after another in this file instead, and their sizes
    #: (``spill_part``)
    spilled: tuple[str, tuple[int, ...]] | None = None


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


def spill_part(part: NdjsonPart, folder: Path) -> NdjsonPart:
    """``part`` with its blobs written to a new file in ``folder``: what a worker process hands the parent is then
    a file name and a few numbers, not megabytes through a pipe (pickled, sent, received and unpickled, which took
    the parent as long as writing them), and the parent copies them into the output files in the kernel
    (``NdjsonFiles.write_part``)."""
    fd, name = tempfile.mkstemp(suffix=".ndjson", dir=folder)
    with open(fd, "wb") as file:
        for blob in part.blobs:
            file.write(blob)
    return part._replace(blobs=[], spilled=(name, tuple(len(blob) for blob in part.blobs)))


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
            from fhirbridge.formats.fhir import xml  # lxml: imported by XML output only

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

    def _handle(self, rtype: str) -> BinaryIO:
        handle = self.handles.get(rtype)
        if handle is None:
            self.names[rtype] = str(self.outdir / f"{rtype}.ndjson")
            handle = self.handles[rtype] = open(self.names[rtype], "wb")  # noqa: SIM115 (closed by close())
            self.lines[rtype] = 0
        return handle

    def write(self, unit: Unit) -> list[Place]:
        places = []
        lines, names = self.lines, self.names
        for rtype, content in unit.entries:
            handle = self._handle(rtype)
            lines[rtype] += 1
            places.append((names[rtype], lines[rtype], rtype))
            if content is not None:
                handle.write(content)
                handle.write(b"\n")
                self.entries += 1
        return places

    def write_part(self, part: NdjsonPart) -> Callable[[int], Place]:
        """Write a packed chunk (the same bytes ``write`` writes for its units), and remove its file if it was
        spilled; returns where its n-th entry went, worked out when asked (only the entries an issue is about
        are)."""
        handles = [self._handle(rtype) for rtype in part.types]  # each type once in a part
        lines, names = self.lines, self.names
        first_line = [lines[rtype] + 1 for rtype in part.types]
        if part.spilled is None:
            for handle, blob in zip(handles, part.blobs, strict=True):
                handle.write(blob)
        else:
            _copy_spilled(*part.spilled, handles)
        for rtype, count in zip(part.types, part.counts, strict=True):
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


def _copy_spilled(name: str, sizes: tuple[int, ...], handles: list[BinaryIO]) -> None:
    """Append the blobs of a spilled part (``sizes``, one after another in file ``name``) to ``handles``, and
    remove the file."""
    with open(name, "rb", buffering=0) as source:
        for handle, size in zip(handles, sizes, strict=True):
            handle.flush()  # the copy goes to the file itself, after what the handle holds
            left = size
            while left:
                copied = _copy(source.fileno(), handle.fileno(), left)
                if not copied:
                    raise OSError(errno.EIO, f"{name} ended {left} bytes early")
                left -= copied
    os.unlink(name)


def _copy(source: int, target: int, size: int) -> int:
    """Copy at most ``size`` bytes from ``source``'s position to ``target``'s; returns how many. In the kernel where
    it can: ``copy_file_range`` within a file system, ``sendfile`` across them (Linux); else read and written."""
    with contextlib.suppress(AttributeError, OSError):
        return os.copy_file_range(source, target, size)
    with contextlib.suppress(AttributeError, OSError):
        return os.sendfile(target, source, None, size)
    data = os.read(source, min(size, 1 << 20))
    view = memoryview(data)
    while view:
        view = view[os.write(target, view) :]
    return len(data)
