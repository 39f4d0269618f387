"""A chunk's NDJSON lines packed by resource type are written as the same bytes, at the same places, as its
units written line by line."""

from __future__ import annotations

from pathlib import Path

from fhirbridge.formats.fhir.files import NdjsonFiles, Unit, ndjson_part

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
