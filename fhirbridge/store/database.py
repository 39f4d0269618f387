"""Opening a store database: SQLite (a file, WAL) or PostgreSQL (psycopg 3), and bringing its schema up to date."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError

MIGRATIONS = Path(__file__).with_name("migrations")
#: How long a writer waits for SQLite's single write lock before giving up.
SQLITE_BUSY_MS = 60_000
#: What the PostgreSQL advisory lock held while migrating is named after, with the schema migrated: the same in
#: every process of one registry, another for a registry in another schema of the same database (which need not
#: wait for this one).
MIGRATION_LOCK = "fhirbridge:migrate:"
#: Execution option that makes a SQLite transaction take the write lock at BEGIN (see ``_sqlite_begin``).
WRITE = "fhirbridge_write"
#: Seconds a pooled PostgreSQL connection may sit idle before it is checked (one round trip) on its next checkout.
PING_AFTER_IDLE = 10.0
_CHECKED_IN = "fhirbridge_checked_in"
T = TypeVar("T")
P = ParamSpec("P")


def normalise_url(url: str) -> str:
    """A plain ``postgresql://`` URL means psycopg 3 (SQLAlchemy would pick psycopg2); a bare path means SQLite."""
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def connect_engine(url: str) -> Engine:
    """An engine for the store; SQLite gets WAL, a busy timeout and write transactions that lock at BEGIN."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_size=10, max_overflow=20)
        event.listen(engine, "connect", _note_checkin)  # a new connection is as good as one just back
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", lambda conn, record, _proxy: _ping_if_idle(engine, conn, record))
        return engine
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r}; use a SQLite path or postgresql://")


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(engine: Engine, dbapi_connection: Any, record: Any) -> None:
    """Check a PostgreSQL connection that has been idle in the pool for ``PING_AFTER_IDLE`` seconds or more before
    handing it out (a database restart or a dropped idle connection would have broken it); a dead one is replaced
    by a new connection (``DisconnectionError`` makes the pool do so). A connection back from a request moments
    ago is handed out as it is: pinging at every checkout cost each search a round trip. A connection that died
    in those moments fails its first statement; ``retry_on_disconnect`` runs a read again on a new one."""
    if time.monotonic() - record.info.get(_CHECKED_IN, 0.0) < PING_AFTER_IDLE:
        return
    try:
        alive = engine.dialect.do_ping(dbapi_connection)  # in autocommit: one round trip, no transaction
    except Exception as exc:  # any failure of the ping: the connection is not usable
        raise DisconnectionError(f"idle connection is dead: {type(exc).__name__}") from exc
    if not alive:
        raise DisconnectionError("idle connection is dead")


def retry_on_disconnect(read: Callable[P, T]) -> Callable[P, T]:
    """``read`` (safe to repeat), run again once when the connection broke under it: the pool has then dropped the
    broken connection (and those opened before it), so the second run gets a live one."""

    @functools.wraps(read)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return read(*args, **kwargs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        return read(*args, **kwargs)

    return run


def reading(engine: Engine) -> Connection:
    """A connection for reads. On PostgreSQL it runs in autocommit, for two reasons. Under READ COMMITTED each
    statement takes its own snapshot inside a transaction too, so BEGIN and ROLLBACK would be two round trips for
    nothing. And psycopg forgets every statement it has prepared on a connection at each ROLLBACK (it deallocates
    them on the server): reads ended by a rollback made the searches on the same pooled connections be planned
    again, 0.3-1 ms each, when a registry serves reads of resources between them. SQLite keeps its transaction
    (one snapshot for the statements of a read)."""
    conn = engine.connect()
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


def set_statement_timeout(engine: Engine, seconds: float) -> None:
    """Cancel any statement of this engine's connections that runs longer than ``seconds`` (PostgreSQL; SQLite
    has no such setting: its queries are bounded by the service's limits instead). Connections already pooled
    are closed so that every connection gets the setting."""
    if engine.dialect.name != "postgresql" or seconds <= 0:
        return

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(seconds * 1000)}")
        dbapi_connection.commit()

    event.listen(engine, "connect", on_connect)
    engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is always DEFERRED).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Writers take the write lock at BEGIN: a deferred transaction that reads, then writes, could fail with
    "database is locked" when another writer got there first, where an immediate one simply waits its turn."""
    immediate = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def migrate(engine: Engine) -> None:
    """Apply every Alembic migration not yet applied (a new database gets the whole schema). On PostgreSQL an
    advisory lock makes processes that start together (``--workers N``, several hosts) migrate one at a time."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":  # processes starting together migrate one after the other
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name || current_schema()))"),
                               {"name": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
