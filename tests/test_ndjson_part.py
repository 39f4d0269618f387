"""A chunk's NDJSON lines packed by resource type are written as the same bytes, at the same places, as its
units written line by line; and so are they when a worker process spilled them to a file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from fhirbridge.formats.fhir.files import NdjsonFiles, Unit, ndjson_part, spill_part

CHUNKS = [
    [
        ("Patient", b'{"id":"p1"}'),
        ("Observation", b'{"id":"o1"}'),
        ("Observation", b'{"id":"o2"}'),
        ("Provenance", b'{"id":"v1"}'),
    ],
    [
        ("Observation", b'{"id":"o3"}'),
        ("Patient", b'{"id":"p2"}'),
        ("Observation", None),
        ("AdverseEvent", b'{"id":"a1"}'),
        ("Observation", b'{"id":"o4"}'),
    ],
]


def test_packed_chunks_write_the_same_bytes_and_places(tmp_path: Path) -> None:
    by_line, packed = NdjsonFiles(tmp_path / "lines"), NdjsonFiles(tmp_path / "packed")
    for entries in CHUNKS:
        places = by_line.write(Unit("x", entries))
        place = packed.write_part(ndjson_part(entries))
        assert [place(n) for n in range(len(entries))] == [
            (p.replace("/lines/", "/packed/"), line, rtype) for p, line, rtype in places
        ]
    assert packed.entries == by_line.entries == 8
    written = [p.name for p in by_line.close()]
    assert (
        [p.name for p in packed.close()]
        == written
        == ["Patient.ndjson", "Observation.ndjson", "Provenance.ndjson", "AdverseEvent.ndjson"]
    )
    for name in written:
        assert (tmp_path / "packed" / name).read_bytes() == (tmp_path / "lines" / name).read_bytes()
    assert (tmp_path / "packed" / "Observation.ndjson").read_bytes().count(b"\n") == 4


@pytest.mark.parametrize("refused", [(), ("copy_file_range",), ("copy_file_range", "sendfile")])
def test_spilled_parts_write_the_same_bytes_and_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: tuple[str, ...]
) -> None:
    """A part a worker process spilled to a file is copied in as the same bytes, at the same places, whichever
    way the system copies between files (the ones it refuses are skipped), and its file is removed."""
    for name in refused:
        monkeypatch.setattr(os, name, _refused)
    spills = tmp_path / "parts"
    spills.mkdir()
    kept, spilled = NdjsonFiles(tmp_path / "kept"), NdjsonFiles(tmp_path / "spilled")
    for entries in CHUNKS:
        part = ndjson_part(entries)
        place = spilled.write_part(spill_part(part, spills))
        assert [place(n) for n in range(len(entries))] == [
            (p.replace("/kept/", "/spilled/"), line, rtype)
            for p, line, rtype in map(kept.write_part(part), range(len(entries)))
        ]
        assert list(spills.iterdir()) == []
    written = [p.name for p in kept.close()]
    assert [p.name for p in spilled.close()] == written
    for name in written:
        assert (tmp_path / "spilled" / name).read_bytes() == (tmp_path / "kept" / name).read_bytes()


def _refused(*args: object) -> int:
    raise OSError(errno.EXDEV, "not across file systems")
