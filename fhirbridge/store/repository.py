"""Store: all-or-nothing, idempotent ingest of planned writes, and reads, history, search and export.

Concurrency: every ingest is one database transaction that locks rows in a fixed order (identifiers, then
resources, each sorted), so overlapping ingests wait for each other instead of duplicating; a transaction
the database aborts to break a deadlock is retried whole. SQLite takes its single write lock at BEGIN.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, or_, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from fhirbridge.issues.issue import Issue
from fhirbridge.store.batched import claim_conditions, claim_identifiers, missing_references, served, write_resources
from fhirbridge.store.database import WRITE, connect_engine, migrate, reading, retry_on_disconnect
from fhirbridge.store.decimals import dumps
from fhirbridge.store.prepared import Statements, placeholder, shaped
from fhirbridge.store.quick import QuickReads
from fhirbridge.store.schema import identifier, resource, resource_version, search_value
from fhirbridge.store.search_params import PARAMS
from fhirbridge.store.search_query import (
    Criterion,
    Sort,
    after,
    clause,
    count_matches,
    date_walk,
    exact_key,
    held,
    id_walk,
    index_page,
    is_date_sort,
    of_param,
    referring_ids,
    sort_key,
    without_value,
)
from fhirbridge.store.transaction import PlannedWrite, content_hash

__all__ = ["Criterion", "Found", "IdMismatch", "IngestRejected", "PreconditionFailed", "SearchPage", "Sort", "Store",
           "StoredVersion", "WriteResult"]
T = TypeVar("T")
#: A resource found: its type, id and content (JSON text as served).
Found = tuple[str, str, str]

#: How often an ingest aborted by the database (deadlock, serialization failure, lock timeout) is retried.
RETRIES = 5
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}
#: Seconds of CPU a search may use in the calling thread before it is given up for a worker thread (SQLite;
#: ``quick``).
QUICK_READ = 0.005


class IngestRejected(Exception):
    """The writes cannot be stored (a reference that resolves nowhere); nothing was stored."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(f"{len(issues)} issue(s)")
        self.issues = issues


class PreconditionFailed(Exception):
    """A write whose condition does not hold (If-Match names another version, a conditional write matches several
    resources); nothing was stored."""


class IdMismatch(PreconditionFailed):
    """A conditional update found a resource whose id is not the one the body gives."""


@dataclass
class StoredVersion:
    resource_type: str
    id: str
    version_id: int
    last_updated: str
    content: str  # JSON text as served; for a deletion, only resourceType, id and meta
    deleted: bool = False


@dataclass
class SearchPage:
    """One page of a search: (type, id, content) in order, the (key, id) to continue after (None on the last
    page), the total (None when not asked for) and the resources that ``_include`` / ``_revinclude`` add."""

    matches: list[Found]
    next_cursor: tuple[str, str] | None
    total: int | None
    included: list[Found] = field(default_factory=list)


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


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: the search statements of this store, built once per shape (see ``prepared``)
        self._statements = Statements(engine.dialect)
        self._quick = QuickReads(engine, QUICK_READ)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and migrate) the database at ``url``: a SQLite path or URL, or ``postgresql://...``."""
        engine = connect_engine(url)
        migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self._quick.close()
        self.engine.dispose()

    # writing ----------------------------------------------------------------------------------------
    def ingest(self, writes: list[PlannedWrite]) -> list[WriteResult]:
        """Store every write in one transaction, or none (``IngestRejected``); results in entry order."""
        return self._write_transaction(lambda conn: self._ingest(conn, writes))

    def _write_transaction(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one write transaction, retried whole when the database aborts it to break a deadlock."""
        for attempt in range(RETRIES):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(**{WRITE: True})
                    with conn.begin():
                        return work(conn)
            except DBAPIError as exc:
                if attempt == RETRIES - 1 or not _retryable(exc):
                    raise
        raise AssertionError("unreachable")

    def write(self, planned: PlannedWrite, *, if_match: int | None = None,
              condition: list[Criterion] | None = None) -> WriteResult:
        """One create (POST) or update (PUT), validated beforehand, in a transaction of its own.

        ``if_match``: the version the client last read; another current version (or none) fails the write.
        ``condition`` makes it conditional: when no stored resource meets it, the write goes ahead; when one
        does, a create returns that resource untouched and an update replaces it; more than one fails the write.
        """
        return self._write_transaction(lambda conn: self._write(conn, planned, if_match, condition))

    def _write(self, conn: Connection, planned: PlannedWrite, if_match: int | None,
               condition: list[Criterion] | None) -> WriteResult:
        rtype = planned.resource_type
        if condition is not None:
            self._lock_type(conn, rtype)
            meeting = select(resource.c.id).where(resource.c.resource_type == rtype,
                                                  *(clause(rtype, c) for c in condition))
            found = conn.execute(meeting.limit(2)).scalars().all()
            if len(found) > 1:
                raise PreconditionFailed(f"the condition matches more than one {rtype}")
            if found and planned.method == "POST":
                row = conn.execute(select(resource.c.version_id, resource.c.last_updated).where(
                    resource.c.resource_type == rtype, resource.c.id == found[0])).one()
                return WriteResult(0, "200 OK", rtype, found[0], row.version_id, row.last_updated)
            if found:
                if planned.resource.get("id", found[0]) != found[0]:
                    raise IdMismatch(f"the condition matches {rtype}/{found[0]}, not the body's id "
                                     f"{planned.resource['id']}")
                planned = replace(planned, id=found[0], resource={**planned.resource, "id": found[0]})
        if if_match is not None:
            current = conn.execute(select(resource.c.version_id).where(
                resource.c.resource_type == rtype, resource.c.id == planned.id).with_for_update()).scalar()
            if current != if_match:
                raise PreconditionFailed(f"If-Match names version {if_match} but the current version of "
                                         f"{rtype}/{planned.id} is {current if current is not None else 'none'}")
        return self._ingest(conn, [planned])[0]

    def _lock_type(self, conn: Connection, rtype: str) -> None:
        """Conditional writes of one type wait for each other, so that two cannot both find nothing and create
        (SQLite's single writer already serialises them). The lock is named after the schema too: registries in
        other schemas of the database do not wait for this one."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('fhirbridge:' || current_schema() || ':' || :t))"),
                         {"t": rtype})

    def delete(self, rtype: str, rid: str) -> tuple[int | None, list[str]]:
        """Delete the current version, keeping the history (a deletion version is added): the version id of the
        deletion (None when nothing is stored), or the resources whose references forbid it (then nothing is
        deleted)."""
        return self._write_transaction(lambda conn: self._delete(conn, rtype, rid))

    def _delete(self, conn: Connection, rtype: str, rid: str) -> tuple[int | None, list[str]]:
        current = conn.execute(select(resource.c.version_id).where(
            resource.c.resource_type == rtype, resource.c.id == rid).with_for_update()).scalar()
        if current is None:
            return None, []
        sv = search_value.c
        holders = conn.execute(select(sv.resource_type, sv.resource_id).where(referring(rtype, [rid]))
                               .distinct().limit(10)).all()
        if holders:
            return None, [f"{t}/{i}" for t, i in holders]
        now = _now()
        version = current + 1
        conn.execute(search_value.delete().where(sv.resource_type == rtype, sv.resource_id == rid))
        conn.execute(identifier.delete().where(identifier.c.resource_type == rtype, identifier.c.resource_id == rid))
        conn.execute(resource.delete().where(resource.c.resource_type == rtype, resource.c.id == rid))
        stub = {"resourceType": rtype, "id": rid}
        conn.execute(insert(resource_version).values(resource_type=rtype, id=rid, version_id=version, last_updated=now,
                                                     content=served(stub, version, now), deleted=True))
        return version, []

    def _ingest(self, conn: Connection, writes: list[PlannedWrite]) -> list[WriteResult]:
        now = _now()
        ids, matched = self._resolve_conditions(conn, writes)
        targets = {w.full_url: f"{w.resource_type}/{ids[w.index]}" for w in writes if w.full_url}
        refs: list[str] = []
        final = {w.index: _rewrite_resource(w.resource, targets, refs) | {"id": ids[w.index]} for w in writes}
        written = {f"{w.resource_type}/{ids[w.index]}" for w in writes}
        unresolved = missing_references(conn, refs, written)
        if unresolved:  # where each one is, found only now: the paths of every reference cost more than the check
            raise IngestRejected([
                Issue.of("FB-SRV-005", f"reference {ref} is neither in the bundle nor stored", target=path, value=ref)
                for w in writes for path, ref in _references(final[w.index], f"Bundle.entry[{w.index}].resource")
                if ref in unresolved])
        claim_identifiers(conn, self._insert, [
            (w.resource_type, ident.get("system") or "", ident["value"], final[w.index]["id"])
            for w in writes if w.index not in matched for ident in _identifiers(final[w.index])])
        after = conn.execute(_LAST_POSITION).scalar_one()
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
        if conn.dialect.name == "postgresql":
            holders = claim_conditions(conn, [(w.resource_type, *(w.condition or ("", "")), w.id) for w in conditional])
            for w in conditional:
                key = (w.resource_type, *(w.condition or ("", "")))
                if key in holders:
                    ids[w.index] = holders[key]
                    matched.add(w.index)
            return ids, matched
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
        row = conn.execute(_STORED_VERSION, {"rtype": w.resource_type, "rid": rid}).one()
        issues = []
        if row.content_hash != content_hash(content):
            issues.append(Issue.of("FB-SRV-006", f"{w.resource_type}/{rid} already holds identifier "
                                   f"{'|'.join(w.condition or ())} with different content; it was kept",
                                   target=f"Bundle.entry[{w.index}]", record=f"{w.resource_type}/{rid}"))
        return WriteResult(w.index, "200 OK", w.resource_type, rid, row.version_id, row.last_updated, issues)

    # reading ----------------------------------------------------------------------------------------
    @retry_on_disconnect
    def read(self, rtype: str, rid: str) -> StoredVersion | None:
        with reading(self.engine) as conn:
            row = conn.execute(select(resource.c.version_id, resource.c.last_updated, resource.c.content)
                               .where(resource.c.resource_type == rtype, resource.c.id == rid)).first()
        return StoredVersion(rtype, rid, row.version_id, row.last_updated, row.content) if row else None

    @retry_on_disconnect
    def history(self, rtype: str, rid: str, version_id: int | None = None) -> list[StoredVersion]:
        """Every version of one resource, newest first (or only ``version_id``)."""
        query = select(resource_version).where(resource_version.c.resource_type == rtype,
                                               resource_version.c.id == rid)
        if version_id is not None:
            query = query.where(resource_version.c.version_id == version_id)
        with reading(self.engine) as conn:
            rows = conn.execute(query.order_by(resource_version.c.version_id.desc())).all()
        return [StoredVersion(rtype, rid, r.version_id, r.last_updated, r.content, r.deleted) for r in rows]

    @retry_on_disconnect
    def search(self, rtype: str, criteria: Iterable[Criterion], count: int, *, sort: Sort | None = None,
               cursor: tuple[str, str] | None = None, offset: int = 0, with_total: bool = True,
               include: Iterable[tuple[str, str | None]] = (),
               revinclude: Iterable[tuple[str, str]] = (), max_included: int = 1000) -> SearchPage:
        """One page of the resources of ``rtype`` meeting every criterion, in ``sort`` order (by id by default),
        after ``cursor`` (keyset paging: writes between two pages neither repeat nor skip the others) or
        ``offset``. ``include`` (param, target type) and ``revinclude`` (type, param) add referenced and
        referring resources of the page, at most ``max_included``."""
        with reading(self.engine) as conn:
            return self._search_on(conn, rtype, criteria, count, sort, cursor, offset, with_total, include,
                                   revinclude, max_included)

    def search_quickly(self, rtype: str, criteria: Iterable[Criterion], count: int, *, sort: Sort | None = None,
                       cursor: tuple[str, str] | None = None, offset: int = 0, with_total: bool = True,
                       include: Iterable[tuple[str, str | None]] = (),
                       revinclude: Iterable[tuple[str, str]] = (), max_included: int = 1000) -> SearchPage | None:
        """``search`` run in the calling thread when the database answers within ``QUICK_READ`` s of CPU (SQLite;
        see ``quick``); None when it does not, or on PostgreSQL: then call ``search`` in a worker thread."""
        criteria, include, revinclude = list(criteria), list(include), list(revinclude)  # may be run twice
        return self._quick.run(lambda conn: self._search_on(conn, rtype, criteria, count, sort, cursor, offset,
                                                            with_total, include, revinclude, max_included))

    def _search_on(self, conn: Connection, rtype: str, criteria: Iterable[Criterion], count: int, sort: Sort | None,
                   cursor: tuple[str, str] | None, offset: int, with_total: bool,
                   include: Iterable[tuple[str, str | None]], revinclude: Iterable[tuple[str, str]],
                   max_included: int) -> SearchPage:
        sort = sort or Sort()
        criteria = list(criteria)
        run = _Run(conn, self._statements, rtype, criteria)
        total = run.rows(("count",), lambda cs, v: count_matches(rtype, cs), {})[0][0] if with_total else None
        # one statement for the page: its contents come with their keys (count + 1 rows tell whether
        # there is a next page without counting)
        walk = exact_key(rtype, criteria, sort) if count and not offset else None
        at = {"cursor_key": cursor[0], "cursor_id": cursor[1]} if cursor else {}
        if not count:
            rows = []
        elif walk is not None:
            w = next(i for i, c in enumerate(criteria) if c is walk)
            rows = _unique(lambda limit: run.rows(
                ("id", w, cursor is not None),
                lambda cs, v: id_walk(rtype, cs, cs[w], _cursor(v, cursor), v("limit", True)),
                {**at, "limit": limit}), count + 1)
        elif is_date_sort(rtype, sort) and not offset:
            rows = _date_sorted(run, rtype, sort, cursor, count + 1)
        else:
            rows = run.rows(("sorted", sort, cursor is not None),
                            lambda cs, v: _sorted_page(rtype, cs, sort, _cursor(v, cursor), v("limit", True),
                                                       v("offset", True), conn.dialect.name == "postgresql"),
                            {**at, "limit": count + 1, "offset": offset})
        page = rows[:count]
        ids = [r.id for r in page]
        included = self._included(run, rtype, ids, list(include), list(revinclude), max_included) if ids else []
        more = len(rows) > count
        return SearchPage([(rtype, r.id, r.content) for r in page],
                          (str(page[-1].key), page[-1].id) if more else None, total, included)

    @staticmethod
    def _included(run: _Run, rtype: str, ids: list[str], include: list[tuple[str, str | None]],
                  revinclude: list[tuple[str, str]], limit: int) -> list[Found]:
        sv = search_value.c
        listed = {f"id{i}": rid for i, rid in enumerate(ids)}
        each = run.conn.dialect.name == "postgresql"
        queries = []
        for param, target in include:
            def included(cs: list[Criterion], v: Value, param: str = param, target: str | None = target) -> Any:
                targets = select(sv.system, sv.value).where(sv.resource_type == rtype, *of_param(sv, rtype, param),
                                                            sv.resource_id.in_([v(n) for n in listed]),
                                                            *([sv.system == target] if target else []))
                return select(*_FOUND).where(tuple_(resource.c.resource_type, resource.c.id).in_(targets)) \
                    .limit(v("limit", True))
            queries.append((("include", rtype, param, target, len(ids)), included))
        for other, param in revinclude:
            def referring_ones(cs: list[Criterion], v: Value, other: str = other, param: str = param) -> Any:
                referring = referring_ids(other, param, rtype, [v(n) for n in listed], each)
                return select(*_FOUND).where(resource.c.resource_type == other, resource.c.id.in_(referring)) \
                    .limit(v("limit", True))
            queries.append((("revinclude", rtype, other, param, len(ids)), referring_ones))
        found: dict[Found, None] = {}
        for what, query in queries:
            for row in run.rows(what, query, {**listed, "limit": limit - len(found)}, criteria=False):
                found.setdefault((row.resource_type, row.id, row.content))
            if len(found) >= limit:
                break
        return list(found)

    @retry_on_disconnect
    def everything(self, patient_id: str, limit: int) -> list[Found] | None:
        """The Patient, every resource that refers to it by an indexed reference parameter, and the resources
        those refer to by one (the study, the products): ``Patient/{id}/$everything``. None when no such Patient
        is stored; at most ``limit`` resources."""
        sv = search_value.c
        with reading(self.engine) as conn:
            own = conn.execute(select(resource.c.content).where(resource.c.resource_type == "Patient",
                                                                resource.c.id == patient_id)).scalar()
            if own is None:
                return None
            members = select(sv.resource_type, sv.resource_id).where(referring("Patient", [patient_id]))
            rows = conn.execute(select(*_FOUND).where(tuple_(resource.c.resource_type, resource.c.id).in_(members))
                                .order_by(resource.c.resource_type, resource.c.id).limit(limit)).all()
            referenced = select(sv.system, sv.value).where(
                tuple_(sv.resource_type, sv.resource_id).in_(members), sv.param.in_(_REFERENCE_PARAMS),
                sv.system != "Patient")
            others = conn.execute(select(*_FOUND).where(tuple_(resource.c.resource_type, resource.c.id)
                                                        .in_(referenced))
                                  .order_by(resource.c.resource_type, resource.c.id).limit(limit)).all()
        found = [("Patient", patient_id, own), *((r.resource_type, r.id, r.content) for r in [*rows, *others])]
        return found[:limit]

    @retry_on_disconnect
    def deleted(self, rtype: str, rid: str) -> StoredVersion | None:
        """The deletion, when the last version of a resource that is no longer stored is one."""
        with reading(self.engine) as conn:
            row = conn.execute(select(resource_version).where(resource_version.c.resource_type == rtype,
                                                              resource_version.c.id == rid)
                               .order_by(resource_version.c.version_id.desc()).limit(1)).first()
        if row is None or not row.deleted:
            return None
        return StoredVersion(rtype, rid, row.version_id, row.last_updated, row.content, True)

    def export(self, types: Iterable[str] | None = None) -> Iterator[str]:
        """Every current resource (of ``types``), by type and in the order first stored, streamed from the database."""
        query = select(resource.c.content).order_by(resource.c.resource_type, resource.c.position, resource.c.id)
        if types is not None:
            query = query.where(resource.c.resource_type.in_(list(types)))
        with self.engine.connect() as conn:
            yield from conn.execution_options(yield_per=500).execute(query).scalars()

    def analyze(self) -> bool:
        """Bring PostgreSQL's planner statistics of the resource and search tables up to date (after a bulk load:
        without them the planner takes the index walks of a search for scans of the whole table, and a search
        took seconds instead of milliseconds until autovacuum came by). Whether it ran (not on SQLite)."""
        if self.engine.dialect.name != "postgresql":
            return False
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"ANALYZE {resource.name}, {search_value.name}, {identifier.name}")
        return True

    @retry_on_disconnect
    def counts(self) -> dict[str, int]:
        with reading(self.engine) as conn:
            rows = conn.execute(select(resource.c.resource_type, func.count()).group_by(resource.c.resource_type))
            return {rtype: n for rtype, n in rows}


_FOUND = (resource.c.resource_type, resource.c.id, resource.c.content)
#: Statements of every ingest, built once: a statement built per call costs its construction and cache key each time.
_LAST_POSITION = select(func.coalesce(func.max(resource.c.position), 0))
_STORED_VERSION = select(resource.c.version_id, resource.c.last_updated, resource.c.content_hash).where(
    resource.c.resource_type == bindparam("rtype"), resource.c.id == bindparam("rid"))
#: Names of every reference parameter, for lookups that must use the search index.
_REFERENCE_PARAMS = sorted({p.name for params in PARAMS.values() for p in params.values() if p.kind == "reference"})


def _sorted_page(rtype: str, criteria: list[Criterion], sort: Sort, cursor: tuple[Any, Any] | None, limit: Any,
                 offset: Any, from_index: bool) -> Any:
    """The page of matches in (key, id) order after ``cursor``: the shape for searches no walk serves. The page's
    ids are found, sorted and cut first, and only their contents are read: sorting every match with its content
    read the contents of matches beyond the page for nothing (17 of the 68 in a page of 50 Observations of one
    subject) and sorted the wide rows. ``from_index`` (PostgreSQL): a page by id takes its ids from the search
    index alone where it can (``index_page``); SQLite would read them along the per-resource index, every row of
    the type, to have them in id order."""
    page = (index_page(rtype, criteria, cursor[1] if cursor else None, limit, offset)
            if from_index and sort == Sort() else None)
    if page is None:
        # ordered by the label, so that the database computes each match's key once, not again for ORDER BY
        key = sort_key(rtype, sort).label("key")
        order = [key.desc(), resource.c.id.desc()] if sort.descending else [key, resource.c.id]
        where = [resource.c.resource_type == rtype, *(clause(rtype, c) for c in criteria)]
        if cursor:
            where.append(after(key, sort, cursor))
        page = select(resource.c.id, key).where(*where).order_by(*order).limit(limit).offset(offset).subquery("page")
    stored = resource.alias("stored")
    in_order = [page.c.key.desc(), page.c.id.desc()] if sort.descending else [page.c.key, page.c.id]
    return (
        select(page.c.id, page.c.key, stored.c.content)
        .join_from(page, stored, and_(stored.c.resource_type == rtype, stored.c.id == page.c.id))
        .order_by(*in_order)
    )


def _date_sorted(run: _Run, rtype: str, sort: Sort, cursor: tuple[str, str] | None, wanted: int) -> list[Any]:
    """The first ``wanted`` matches after ``cursor`` in the order of a date parameter: those with a value walked
    along the date index, those without one (key '', first when ascending, last when descending) by id; the
    same rows, in the same order, as sorting every match by ``sort_key``, without computing every key."""
    parts = ["valued", "without"] if sort.descending else ["without", "valued"]
    if cursor is not None:
        parts = parts[parts.index("without" if cursor[0] == "" else "valued"):]
    rows: list[Any] = []
    for i, part in enumerate(parts):
        at = cursor if i == 0 else None
        values = {"cursor_key": at[0], "cursor_id": at[1]} if at else {}
        if part == "valued":
            rows += _unique(lambda limit, at=at, values=values: run.rows(
                ("date", sort, at is not None),
                lambda cs, v: date_walk(rtype, cs, sort, _cursor(v, at), v("limit", True)),
                {**values, "limit": limit}), wanted - len(rows))
        else:
            rows += run.rows(("without", sort, at is not None),
                             lambda cs, v, at=at: without_value(rtype, cs, sort, v("cursor_id") if at else None,
                                                                v("limit", True)),
                             {**values, "limit": wanted - len(rows)})
        if len(rows) >= wanted:
            break
    return rows[:wanted]


def _unique(query: Callable[[int], list[Any]], wanted: int) -> list[Any]:
    """The first ``wanted`` rows of distinct ids of an ordered query that may repeat an id (next to itself)."""
    limit = wanted
    while True:
        rows = query(limit)
        distinct = list({row.id: row for row in rows}.values())  # in the order ids first come
        if len(distinct) >= wanted or len(rows) < limit:
            return distinct[:wanted]
        limit *= 2


#: How a statement builder gets a value: ``v(name)`` or ``v(name, True)`` for an integer (a limit, an offset).
Value = Callable[..., Any]
#: A statement builder: from the criteria (their values placeholders or real) and the values of the run.
Builder = Callable[[list[Criterion], Value], Any]


def _cursor(v: Value, cursor: tuple[str, str] | None) -> tuple[Any, Any] | None:
    return (v("cursor_key"), v("cursor_id")) if cursor is not None else None


class _Run:
    """The statements of one search on one connection: built once per shape and run with this search's values
    (see ``prepared``), or, for a shape whose SQL depends on its values, built for this search alone."""

    def __init__(self, conn: Connection, statements: Statements, rtype: str, criteria: list[Criterion]) -> None:
        self.conn = conn
        self.statements = statements
        self.criteria = criteria
        self.shape = shaped(rtype, criteria)

    def rows(self, what: Hashable, build: Builder, values: dict[str, Any], criteria: bool = True) -> list[Any]:
        """The rows of the statement ``build`` makes; ``what`` names it among the statements of the search (with
        what its SQL depends on besides the criteria). ``criteria=False``: the statement does not use them."""
        if self.shape is None and criteria:
            direct: Value = lambda name, integer=False: values[name]  # noqa: E731
            return list(self.conn.execute(build(self.criteria, direct)).all())
        shape = self.shape
        key = (what, shape.key if shape is not None and criteria else None)
        prepared = self.statements.get(
            key, lambda: build(shape.placeholders() if shape is not None and criteria else [], placeholder))
        return prepared.rows(self.conn, {**(shape.params if shape is not None and criteria else {}),
                                         **{f"fb_{name}": value for name, value in values.items()}})


def referring(rtype: str, ids: list[str]) -> Any:
    """Index rows of references to the resources ``rtype``/``ids``: one condition per (type, parameter) that can
    refer to ``rtype``, so that each is a lookup in the token index (its first columns are type and parameter)."""
    sv = search_value.c
    pairs = [(t, p.name) for t, params in PARAMS.items() for p in params.values()
             if p.kind == "reference" and p.within is None and (p.targets is None or rtype in p.targets)]
    return and_(sv.system == rtype, held(sv, "reference"), sv.value.in_(ids),
                or_(*(and_(sv.resource_type == t, sv.param == name) for t, name in pairs)))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _identifiers(content: dict[str, Any]) -> Iterator[dict[str, Any]]:
    idents = content.get("identifier")
    for ident in idents if isinstance(idents, list) else [idents] if isinstance(idents, dict) else []:
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            yield ident


def _rewrite_resource(resource: dict[str, Any], targets: dict[str, str], found: list[str]) -> dict[str, Any]:
    """``_rewrite`` of a resource, walking only the elements whose JSON text holds a ``"reference":`` key (orjson
    writes every key so; a string that merely says "reference" costs a walk, nothing more). An ISNCSCI panel's
    ~136 components hold none: writing them is one C call, where walking them was a Python call per node."""
    copy: dict[str, Any] | None = None
    for key, value in resource.items():
        kind = type(value)
        if kind is dict or kind is list:
            if _REFERENCE_KEY not in dumps(value):
                continue
            found_here = None if key == "contained" else found
            new = _rewrite(value, targets, found_here) if kind is dict else _rewrite_list(value, targets, found_here)
        elif key == "reference" and kind is str:
            new = targets.get(value, value)
            found.append(new)
        else:
            continue
        if new is not value:
            if copy is None:
                copy = dict(resource)
            copy[key] = new
    return resource if copy is None else copy


_REFERENCE_KEY = b'"reference":'


def _rewrite(node: dict[str, Any], targets: dict[str, str], found: list[str] | None) -> dict[str, Any]:
    """The resource with references to bundle fullUrls replaced by the stored ``Type/id``; each reference (as
    rewritten) is added to ``found``, except those inside contained resources (which resolve within the resource).

    Only the objects and lists on the way to a rewritten reference are copied; the rest is shared with ``node``
    (nothing changes a resource once planned). A parsed body holds plain dicts and lists."""
    copy: dict[str, Any] | None = None
    for key, value in node.items():
        kind = type(value)
        if kind is dict:
            new = _rewrite(value, targets, None if key == "contained" else found)
        elif kind is list:
            new = _rewrite_list(value, targets, None if key == "contained" else found)
        elif key == "reference" and kind is str:
            new = targets.get(value, value)
            if found is not None:
                found.append(new)
        else:
            continue
        if new is not value:
            if copy is None:
                copy = dict(node)
            copy[key] = new
    return node if copy is None else copy


def _rewrite_list(items: list[Any], targets: dict[str, str], found: list[str] | None) -> list[Any]:
    copy: list[Any] | None = None
    for i, value in enumerate(items):
        kind = type(value)
        if kind is dict:
            new: Any = _rewrite(value, targets, found)
        elif kind is list:
            new = _rewrite_list(value, targets, found)
        else:
            continue
        if new is not value:
            if copy is None:
                copy = list(items)
            copy[i] = new
    return items if copy is None else copy


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
