"""FHIR NDJSON (Bulk Data): one resource per line, one file per resource type.

NDJSON has no Bundle and so no ``fullUrl``: references between resources are relative (``Patient/<id>``),
as in a FHIR server's bulk export. Files are read line by line, never whole, so a file of any size reads in
flat memory; a line is located by its byte offset so that it can be read again later without keeping it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from fhirbridge.inputs import Source

Resource = dict[str, Any]
SUFFIXES = (".ndjson", ".jsonl")


def relative_references(resources: list[Resource]) -> list[Resource]:
    """The resources with every ``urn:uuid:`` reference to another of them made ``Type/id``."""
    targets = {f"urn:uuid:{r['id']}": f"{r['resourceType']}/{r['id']}" for r in resources}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (targets.get(v, v) if k == "reference" and isinstance(v, str) else rewrite(v))
                    for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    return [rewrite(r) for r in resources]


def write_ndjson(resources: Iterable[Resource], outdir: Path) -> list[Path]:
    """One ``<ResourceType>.ndjson`` file per resource type, in the order the types first appear."""
    outdir.mkdir(parents=True, exist_ok=True)
    handles: dict[str, BinaryIO] = {}
    try:
        for resource in resources:
            rtype = resource["resourceType"]
            if rtype not in handles:
                handles[rtype] = (outdir / f"{rtype}.ndjson").open("wb")
            handles[rtype].write(orjson.dumps(resource) + b"\n")
    finally:
        for handle in handles.values():
            handle.close()
    return [outdir / f"{rtype}.ndjson" for rtype in handles]


def lines(path: Source) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) of every non-blank line, streamed."""
    offset = 0
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, offset, line
            offset += len(line)


def read_line(handle: BinaryIO, offset: int, length: int) -> bytes:
    handle.seek(offset)
    return handle.read(length)
