"""Batched writes of an ingest: a handful of statements per chunk instead of several per resource.

References are checked with one query per referenced type, identifiers claimed and new resources inserted with
one multi-row statement each (``INSERT … ON CONFLICT DO NOTHING RETURNING``, so that a resource another
transaction inserted meanwhile is simply not returned and is updated instead), versions and search values with
one multi-row insert each (COPY on PostgreSQL). Resources that already exist are read (and locked) with one query
per type, and only those whose content changed are updated, one by one. Every write of the store goes through here
(a REST create or update is a batch of one), so versions after a deletion, decimals as written and the search
index are kept the same way for all of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, Table, func, insert, select, text, update

from fhirbridge.store.decimals import dumps
from fhirbridge.store.schema import identifier, resource, resource_version, search_value
from fhirbridge.store.search_params import INDEX_COLUMNS, index_tuples
from fhirbridge.store.transaction import content_hash

#: Most values in one IN list or rows in one multi-row statement.
BATCH = 500


@dataclass(frozen=True)
class Written:
    """What happened to one resource: its version after the write and whether it was created."""

    version_id: int
    last_updated: str
    created: bool


def _batches(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start:start + BATCH]


def missing_references(conn: Connection, refs: list[str], written: set[str]) -> set[str]:
    """The references among ``refs`` naming a ``Type/id`` that is neither written nor stored."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for ref in refs:
        rtype, _, rid = ref.partition("/")
        if ref in written or not rid or "/" in rid or ref.startswith(("#", "urn:", "http:", "https:")):
            continue
        wanted[rtype].add(rid)
    if _postgres(conn):
        keys = sorted((t, i) for t, rids in wanted.items() for i in rids)
        return {f"{t}/{i}" for t, i in conn.execute(text(
            f"SELECT k.t, k.i FROM {_KEYS} WHERE NOT EXISTS (SELECT 1 FROM {resource.name} r "
            "WHERE r.resource_type = k.t AND r.id = k.i)"), _key_arrays(keys))} if keys else set()
    missing: set[str] = set()
    for rtype, rids in wanted.items():
        for ids in _batches(sorted(rids)):
            found = set(conn.execute(select(resource.c.id).where(resource.c.resource_type == rtype,
                                                                 resource.c.id.in_(ids))).scalars())
            missing.update(f"{rtype}/{rid}" for rid in ids if rid not in found)
    return missing


def claim_identifiers(conn: Connection, insert_of: Callable[[Any], Any], claims: list[tuple[str, str, str, str]]) \
        -> None:
    """First claim wins: identifiers already held by another resource are kept as they are."""
    rows = [{"resource_type": t, "system": s, "value": v, "resource_id": r} for t, s, v, r in sorted(set(claims))]
    if _postgres(conn):
        _insert_new(conn, identifier, rows)
        return
    for batch in _batches(rows):
        conn.execute(insert_of(identifier).on_conflict_do_nothing(), batch)


def claim_conditions(conn: Connection, claims: list[tuple[str, str, str, str]]) -> dict[tuple[str, str, str], str]:
    """Conditional creates on PostgreSQL: each ``(type, system, value, id)`` claims its identifier for ``id``
    unless a stored resource holds it; the holders of the identifiers already held (claims that won are not
    listed). Two statements whatever the number of claims (the claims in the order given, which is the lock
    order), where one statement per claim cost a round trip each."""
    if not claims:
        return {}
    rows = [{"resource_type": t, "system": s, "value": v, "resource_id": r} for t, s, v, r in claims]
    won = {(t, s, v) for t, s, v in _insert_new(conn, identifier, rows, returning="resource_type, system, value")}
    lost = [(t, s, v) for t, s, v, _ in claims if (t, s, v) not in won]
    holders: dict[tuple[str, str, str], str] = {}
    if lost:
        holders.update(((t, s, v), r) for t, s, v, r in conn.execute(text(
            f"SELECT i.resource_type, i.system, i.value, i.resource_id FROM {identifier.name} i "
            "JOIN unnest(CAST(:types AS text[]), CAST(:systems AS text[]), CAST(:vals AS text[])) AS k(t, s, v) "
            "ON i.resource_type = k.t AND i.system = k.s AND i.value = k.v"),
            {"types": [t for t, _, _ in lost], "systems": [s for _, s, _ in lost], "vals": [v for _, _, v in lost]}))
    return holders


def served(content: dict[str, Any], version: int, now: str) -> str:
    """The resource as stored and served: its meta set, decimals as they were written."""
    meta = {**(content.get("meta") or {}), "versionId": str(version), "lastUpdated": now}
    return dumps({**content, "meta": meta}).decode()


def write_resources(conn: Connection, insert_of: Callable[[Any], Any], contents: list[tuple[dict[str, Any], int]],
                    now: str) -> dict[tuple[str, str], Written]:
    """Create or update each ``(content, position)``; unchanged content keeps its version. A resource deleted
    before comes back with the version after its deletion (its history goes on)."""
    earlier = _last_versions(conn, [(c["resourceType"], c["id"]) for c, _ in contents])
    rows = []
    for c, position in contents:
        first = earlier.get((c["resourceType"], c["id"]), 0) + 1
        rows.append({"resource_type": c["resourceType"], "id": c["id"], "version_id": first, "last_updated": now,
                     "position": position, "content_hash": content_hash(c), "content": served(c, first, now)})
    created: set[tuple[str, str]] = set()
    if _postgres(conn):  # the first version of each created resource is written by the same statement
        created.update((t, i) for t, i in _insert_new(conn, resource, rows, returning="resource_type, id",
                                                      versions=True))
    else:
        for batch in _batches(rows):
            created.update((t, i) for t, i in conn.execute(
                insert_of(resource).on_conflict_do_nothing().returning(resource.c.resource_type, resource.c.id), batch))
    stored = _current(conn, [(r["resource_type"], r["id"]) for r in rows
                             if (r["resource_type"], r["id"]) not in created])
    results: dict[tuple[str, str], Written] = {}
    versions, indexed, replaced = [], [], []
    for (content, _), row in zip(contents, rows, strict=True):
        key = (row["resource_type"], row["id"])
        if key in created:
            version = row["version_id"]
        else:
            current = stored[key]
            if current.content_hash == row["content_hash"]:
                results[key] = Written(current.version_id, current.last_updated, False)
                continue
            version = current.version_id + 1
            conn.execute(update(resource).where(resource.c.resource_type == key[0], resource.c.id == key[1]).values(
                version_id=version, last_updated=now, content_hash=row["content_hash"],
                content=served(content, version, now)))
            replaced.append(key)
        results[key] = Written(version, now, key in created)
        if key not in created or not _postgres(conn):
            versions.append((key[0], key[1], version, now,
                             row["content"] if key in created else served(content, version, now)))
        indexed.extend(index_tuples(key[0], key[1], content))
    for rtype, rid in replaced:
        conn.execute(search_value.delete().where(search_value.c.resource_type == rtype,
                                                 search_value.c.resource_id == rid))
    append_rows(conn, resource_version, _VERSION_COLUMNS, versions)
    append_rows(conn, search_value, INDEX_COLUMNS, indexed)
    return results


def _last_versions(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The last version in the history of each resource that has one (a stored or a deleted resource)."""
    found: dict[tuple[str, str], int] = {}
    if _postgres(conn):
        if keys:
            found.update(((t, i), last) for t, i, last in conn.execute(text(
                f"SELECT v.resource_type, v.id, max(v.version_id) FROM {resource_version.name} v JOIN {_KEYS} "
                "ON v.resource_type = k.t AND v.id = k.i GROUP BY v.resource_type, v.id"), _key_arrays(keys)))
        return found
    rv = resource_version.c
    for rtype, rids in sorted(_by_type(keys).items()):
        for ids in _batches(sorted(rids)):
            found.update(((rtype, rid), last) for rid, last in conn.execute(
                select(rv.id, func.max(rv.version_id)).where(rv.resource_type == rtype, rv.id.in_(ids))
                .group_by(rv.id)))
    return found


def _by_type(keys: list[tuple[str, str]]) -> dict[str, list[str]]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for rtype, rid in keys:
        by_type[rtype].append(rid)
    return by_type


def _current(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Version, time and content hash of stored resources, locked until the transaction ends (in key order)."""
    found = {}
    if _postgres(conn):
        if keys:
            for row in conn.execute(text(
                    "SELECT r.id, r.resource_type, r.version_id, r.last_updated, r.content_hash "
                    f"FROM {resource.name} r JOIN {_KEYS} ON r.resource_type = k.t AND r.id = k.i "
                    "ORDER BY r.resource_type, r.id FOR UPDATE OF r"), _key_arrays(sorted(keys))):
                found[(row.resource_type, row.id)] = row
        return found
    for rtype, rids in sorted(_by_type(keys).items()):
        for ids in _batches(sorted(rids)):
            for row in conn.execute(select(resource.c.id, resource.c.version_id, resource.c.last_updated,
                                           resource.c.content_hash)
                                    .where(resource.c.resource_type == rtype, resource.c.id.in_(ids))
                                    .with_for_update()):
                found[(rtype, row.id)] = row
    return found


# PostgreSQL: a few statements of constant text whatever the number of rows (arrays bound as parameters), which
# the server plans once per connection and the driver need not re-read; SQLite takes the multi-row statements.
#: ``(type, id)`` keys given as two arrays, named ``k(t, i)``.
_KEYS = "unnest(CAST(:types AS text[]), CAST(:ids AS text[])) AS k(t, i)"


def _postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _key_arrays(keys: list[tuple[str, str]]) -> dict[str, list[str]]:
    return {"types": [t for t, _ in keys], "ids": [i for _, i in keys]}


#: The columns of a version, but ``deleted``: those ``fb_resource`` holds too.
_VERSION_COLUMNS = ("resource_type", "id", "version_id", "last_updated", "content")


def _insert_new(conn: Connection, table: Table, rows: list[dict[str, Any]], returning: str | None = None,
                versions: bool = False) -> list[tuple[Any, ...]]:
    """``INSERT … ON CONFLICT DO NOTHING`` of every row in one statement, each column bound as one array (sent in
    binary: the text form of an array escapes every quote of the JSON it holds); the ``returning`` columns of the
    rows inserted. ``versions`` (rows of ``fb_resource``): the rows inserted are also added to the history, by the
    same statement, so that their content is sent to the server once."""
    if not rows:
        return []
    columns = list(rows[0])
    arrays = ", ".join(f"%b::{'integer' if isinstance(table.c[c].type, Integer) else 'text'}[]" for c in columns)
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING"
    if versions:
        listed = ", ".join(_VERSION_COLUMNS)
        statement = (f"WITH new AS ({statement} RETURNING {listed}), versions AS (INSERT INTO "
                     f"{resource_version.name} ({listed}) SELECT {listed} FROM new) "
                     f"SELECT {returning or 'NULL'} FROM new")
    elif returning:
        statement += f" RETURNING {returning}"
    with conn.connection.driver_connection.cursor() as cursor:
        cursor.execute(statement, [[row[c] for row in rows] for c in columns])
        return cursor.fetchall() if returning else []


def append_rows(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert rows (tuples of ``columns``) that conflict with nothing: COPY on PostgreSQL (in the same
    transaction), else multi-row INSERTs."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    for batch in _batches(rows):
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in batch])
