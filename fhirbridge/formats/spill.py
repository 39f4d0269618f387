"""FHIR Bundle entries written compact, one after another, into a temporary file: the FHIR reader reads a large Bundle
in flat memory from it, subject by subject. When validation's FHIR checker has streamed a JSON Bundle already,
it writes each entry it parsed here, so that the reader takes them from the spill rather than parsing the
document once more. An ``indexer`` is handed each chunk of entries as it is spilled: the reader files them as
they come (``formats.fhir.filing``) rather than loading them back for that."""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import orjson


class Indexer(Protocol):
    """What is kept of one Bundle's entries besides the spill, given them chunk by chunk in order."""

    def add_entries(self, entries: list[Any]) -> None: ...


@dataclass
class SpilledBundle:
    """One Bundle file's entries in the spill: where they start, the length of each, and the Bundle's type (and
    its ``Indexer``, when the spill has one)."""

    start: int
    lengths: array
    top: dict[str, Any]
    index: Indexer | None = None


@dataclass
class Spill:
    """The spill file and the Bundles whose every entry is in it, by file name."""

    file: IO[bytes] = field(default_factory=tempfile.TemporaryFile)
    bundles: dict[str, SpilledBundle] = field(default_factory=dict)
    #: makes the ``Indexer`` of a Bundle file, by its name (None: the entries are only spilled)
    indexer: Callable[[str], Indexer] | None = None

    def keep(self, name: str, entries: Iterator[Any], top: dict[str, Any]) -> Iterator[Any]:
        """``entries`` as they come, each also written to the spill; the Bundle is recorded once all were read
        (``top`` is then whole), so that a file that turns out broken leaves nothing the reader would take."""
        start = self.file.seek(0, 2)
        lengths = array("I")  # 4 bytes an entry (an entry of 4 GiB or more is refused)
        for entry in entries:
            lengths.append(self.file.write(orjson.dumps(entry)))
            yield entry
        self.bundles[name] = SpilledBundle(start, lengths, {k: top[k] for k in ("resourceType", "type") if k in top})

    def keep_chunks(self, name: str, chunks: Iterator[list[Any]], top: dict[str, Any]) -> Iterator[list[Any]]:
        """``keep`` for entries given in chunks (``bundle_stream.json_entry_chunks``)."""
        start = self.file.seek(0, 2)
        lengths = array("I")  # 4 bytes an entry (an entry of 4 GiB or more is refused)
        write, dumps = self.file.write, orjson.dumps
        index = self.indexer(name) if self.indexer is not None else None
        for chunk in chunks:
            lengths.extend([write(dumps(entry)) for entry in chunk])
            if index is not None:
                index.add_entries(chunk)  # before the checker sees the chunk: the entries as spilled
            yield chunk
        self.bundles[name] = SpilledBundle(start, lengths, {k: top[k] for k in ("resourceType", "type") if k in top},
                                           index)
