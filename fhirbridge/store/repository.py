"""Store: all-or-nothing, idempotent ingest of planned writes, and reads, history, search and export.

Concurrency: every ingest is one database transaction that locks rows in a fixed order (identifiers, then
resources, each sorted), so overlapping ingests wait for each other instead of duplicating; a transaction
the database aborts to break a deadlock is retried whole. SQLite takes its single write lock at BEGIN.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from fhirbridge.issues.issue import Issue
from fhirbridge.store.batched import claim_identifiers, missing_references, write_resources
from fhirbridge.store.database import WRITE, connect_engine, migrate
from fhirbridge.store.schema import identifier, resource, resource_version, search_value
from fhirbridge.store.search_params import PARAMS
from fhirbridge.store.transaction import PlannedWrite, content_hash

#: How often an ingest aborted by the database (deadlock, serialization failure, lock timeout) is retried.
RETRIES = 5
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}


class IngestRejected(Exception):
    """The writes cannot be stored (a reference that resolves nowhere); nothing was stored."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(f"{len(issues)} issue(s)")
        self.issues = issues


@dataclass
class StoredVersion:
    resource_type: str
    id: str
    version_id: int
    last_updated: str
    content: str


@dataclass
class WriteResult:
    """What happened to one entry: created, updated, unchanged, or matched by a conditional create."""

    index: int
    status: str  # "201 Created" or "200 OK"
    resource_type: str
    id: str
    version_id: int
    last_updated: str
    issues: list[Issue] = field(default_factory=list)


@dataclass(frozen=True)
class Criterion:
    """One search parameter with its OR-ed values; several criteria are AND-ed."""

    param: str
    values: tuple[Any, ...]


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and migrate) the database at ``url``: a SQLite path or URL, or ``postgresql://...``."""
        engine = connect_engine(url)
        migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # writing ----------------------------------------------------------------------------------------
    def ingest(self, writes: list[PlannedWrite]) -> list[WriteResult]:
        """Store every write in one transaction, or none (``IngestRejected``); results in entry order."""
        for attempt in range(RETRIES):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(**{WRITE: True})
                    with conn.begin():
                        return self._ingest(conn, writes)
            except DBAPIError as exc:
                if attempt == RETRIES - 1 or not _retryable(exc):
                    raise
        raise AssertionError("unreachable")

    def _ingest(self, conn: Connection, writes: list[PlannedWrite]) -> list[WriteResult]:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        ids, matched = self._resolve_conditions(conn, writes)
        targets = {w.full_url: f"{w.resource_type}/{ids[w.index]}" for w in writes if w.full_url}
        final = {w.index: _rewrite(w.resource, targets) | {"id": ids[w.index]} for w in writes}
        written = {f"{w.resource_type}/{ids[w.index]}" for w in writes}
        refs = [pair for w in writes for pair in _references(final[w.index], f"Bundle.entry[{w.index}].resource")]
        missing = missing_references(conn, refs, written)
        if missing:
            raise IngestRejected(missing)
        claim_identifiers(conn, self._insert, [
            (w.resource_type, ident.get("system") or "", ident["value"], final[w.index]["id"])
            for w in writes if w.index not in matched for ident in _identifiers(final[w.index])])
        after = conn.execute(select(func.coalesce(func.max(resource.c.position), 0))).scalar_one()
        fresh = sorted((w for w in writes if w.index not in matched), key=lambda w: (w.resource_type, ids[w.index]))
        done = write_resources(conn, self._insert, [(final[w.index], after + 1 + w.index) for w in fresh], now)
        results: dict[int, WriteResult] = {}
        for w in writes:
            if w.index in matched:
                results[w.index] = self._matched(conn, w, ids[w.index], final[w.index])
            else:
                one = done[(w.resource_type, ids[w.index])]
                results[w.index] = WriteResult(w.index, "201 Created" if one.created else "200 OK", w.resource_type,
                                               ids[w.index], one.version_id, one.last_updated)
        return [results[w.index] for w in writes]

    def _resolve_conditions(self, conn: Connection, writes: list[PlannedWrite]) -> tuple[dict[int, str], set[int]]:
        """Ids of every write; a conditional create whose identifier is taken gets the holder's id."""
        ids = {w.index: w.id for w in writes}
        matched: set[int] = set()
        conditional = sorted((w for w in writes if w.condition), key=lambda w: (w.resource_type, *(w.condition or ())))
        for w in conditional:
            system, value = w.condition or ("", "")
            claimed = conn.execute(
                self._insert(identifier).values(resource_type=w.resource_type, system=system, value=value,
                                                resource_id=w.id).on_conflict_do_nothing().returning(identifier.c.value)
            ).first()
            if claimed is None:
                ids[w.index] = conn.execute(select(identifier.c.resource_id).where(
                    identifier.c.resource_type == w.resource_type, identifier.c.system == system,
                    identifier.c.value == value)).scalar_one()
                matched.add(w.index)
        return ids, matched

    def _matched(self, conn: Connection, w: PlannedWrite, rid: str, content: dict[str, Any]) -> WriteResult:
        row = conn.execute(select(resource.c.version_id, resource.c.last_updated, resource.c.content_hash).where(
            resource.c.resource_type == w.resource_type, resource.c.id == rid)).one()
        issues = []
        if row.content_hash != content_hash(content):
            issues.append(Issue.of("FB-SRV-006", f"{w.resource_type}/{rid} already holds identifier "
                                   f"{'|'.join(w.condition or ())} with different content; it was kept",
                                   target=f"Bundle.entry[{w.index}]", record=f"{w.resource_type}/{rid}"))
        return WriteResult(w.index, "200 OK", w.resource_type, rid, row.version_id, row.last_updated, issues)

    def _upsert(self, conn: Connection, index: int, content: dict[str, Any], now: str, position: int) -> WriteResult:
        """Create or update one resource (see ``write_resources``)."""
        one = write_resources(conn, self._insert, [(content, position)], now)[(content["resourceType"], content["id"])]
        return WriteResult(index, "201 Created" if one.created else "200 OK", content["resourceType"], content["id"],
                           one.version_id, one.last_updated)

    # reading ----------------------------------------------------------------------------------------
    def read(self, rtype: str, rid: str) -> StoredVersion | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(resource.c.version_id, resource.c.last_updated, resource.c.content)
                               .where(resource.c.resource_type == rtype, resource.c.id == rid)).first()
        return StoredVersion(rtype, rid, row.version_id, row.last_updated, row.content) if row else None

    def history(self, rtype: str, rid: str, version_id: int | None = None) -> list[StoredVersion]:
        """Every version of one resource, newest first (or only ``version_id``)."""
        query = select(resource_version).where(resource_version.c.resource_type == rtype,
                                               resource_version.c.id == rid)
        if version_id is not None:
            query = query.where(resource_version.c.version_id == version_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(resource_version.c.version_id.desc())).all()
        return [StoredVersion(rtype, rid, r.version_id, r.last_updated, r.content) for r in rows]

    def search(self, rtype: str, criteria: Iterable[Criterion], count: int, offset: int) -> tuple[int, list[str]]:
        """The total number of matches and one page of them (contents, ordered by id)."""
        where = [resource.c.resource_type == rtype, *(self._criterion(rtype, c) for c in criteria)]
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(resource).where(*where)).scalar_one()
            page = conn.execute(select(resource.c.content).where(*where).order_by(resource.c.id)
                                .limit(count).offset(offset)).scalars().all()
        return total, list(page)

    @staticmethod
    def _criterion(rtype: str, criterion: Criterion) -> Any:
        if criterion.param == "_id":
            return resource.c.id.in_(criterion.values)
        kind = PARAMS[rtype][criterion.param].kind
        sv = search_value.c
        matches = []
        for value in criterion.values:
            if kind == "date":
                prefix, (low, high) = value
                matches.append({"eq": and_(sv.low >= low, sv.high <= high), "ge": sv.high >= low,
                                "gt": sv.high > high, "le": sv.low <= high, "lt": sv.low < low}[prefix])
            else:
                system, code = value
                matches.append(and_(*([sv.system == system] if system is not None else []),
                                    *([sv.value == code] if code is not None else [])))
        return exists().where(sv.resource_type == rtype, sv.resource_id == resource.c.id,
                              sv.param == criterion.param, or_(*matches))

    def export(self, types: Iterable[str] | None = None) -> Iterator[str]:
        """Every current resource (of ``types``), by type and in the order first stored, streamed from the database."""
        query = select(resource.c.content).order_by(resource.c.resource_type, resource.c.position, resource.c.id)
        if types is not None:
            query = query.where(resource.c.resource_type.in_(list(types)))
        with self.engine.connect() as conn:
            yield from conn.execution_options(yield_per=500).execute(query).scalars()

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(resource.c.resource_type, func.count()).group_by(resource.c.resource_type))
            return {rtype: n for rtype, n in rows}


def _identifiers(content: dict[str, Any]) -> Iterator[dict[str, Any]]:
    idents = content.get("identifier")
    for ident in idents if isinstance(idents, list) else [idents] if isinstance(idents, dict) else []:
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            yield ident


def _rewrite(node: Any, targets: dict[str, str]) -> Any:
    """The resource with references to bundle fullUrls replaced by the stored ``Type/id``."""
    if isinstance(node, dict):
        return {k: (targets.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, targets))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, targets) for v in node]
    return node


def _references(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield path, value
            elif key != "contained":
                yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _references(value, f"{path}[{i}]")


def _retryable(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in _RETRYABLE_SQLSTATES or "database is locked" in str(exc.orig)
