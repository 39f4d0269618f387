"""Opening a store database: SQLite (a file, WAL) or PostgreSQL (psycopg 3), and bringing its schema up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")
#: How long a writer waits for SQLite's single write lock before giving up.
SQLITE_BUSY_MS = 60_000
#: Key of the PostgreSQL advisory lock held while migrating (any number, the same in every process).
MIGRATION_LOCK = 726_2010
#: Execution option that makes a SQLite transaction take the write lock at BEGIN (see ``_sqlite_begin``).
WRITE = "fhirbridge_write"


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
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r}; use a SQLite path or postgresql://")


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
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
