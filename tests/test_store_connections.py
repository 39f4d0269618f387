"""Connections of the store. PostgreSQL: no ping at each checkout, yet a connection the database dropped (a
restart, an idle timeout) is never an error for a read, and one that sat idle is checked before a write. SQLite:
quick reads in the calling thread are given up past their time budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_service_support import database, example_transaction

from fhirbridge.store import Store
from fhirbridge.store import database as store_database
from fhirbridge.store.quick import QuickReads
from fhirbridge.store.search_query import Criterion
from fhirbridge.store.transaction import plan


def pooled_pid(store: Store) -> int:
    """The server process of the connection the store's pool hands out next."""
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def drop_next_connection(store: Store) -> int:
    """Drop, from the server's side (as a restart does), the connection the pool hands out next; its pid."""
    store.engine.pool.dispose()
    with store.engine.connect() as killer:
        with store.engine.connect() as victim:
            pid = int(victim.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        # the victim went back to the pool first, so it comes out first. The call waits (up to 30 s) until the
        # process has gone: pg_stat_activity polled in one transaction would show it there for ever, as PostgreSQL
        # keeps the first view of it a transaction takes.
        gone = killer.exec_driver_sql(f"SELECT pg_terminate_backend({pid}, 30000)").scalar_one()
        assert gone, f"the server process {pid} was not stopped within 30 s"
    return pid


def stored_store(url: str) -> Store:
    store = Store.open(url)
    writes, issues = plan(example_transaction())
    assert not issues
    store.ingest(writes)
    return store


def test_a_search_on_a_connection_the_database_dropped_runs_again_on_a_new_one(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as url:
        store = stored_store(url)
        try:
            patients = store.search("Patient", [], 100).matches
            drop_next_connection(store)
            assert store.search("Patient", [Criterion("_id", (patients[0][1],))], 10).matches == patients[:1]
            assert store.read("Patient", patients[0][1]) is not None
        finally:
            store.close()


def test_a_connection_idle_past_the_limit_is_checked_and_replaced_before_a_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with database("postgresql", tmp_path) as url:
        store = stored_store(url)
        try:
            dropped = drop_next_connection(store)
            monkeypatch.setattr(store_database, "PING_AFTER_IDLE", 0.0)  # every connection counts as idle
            writes, _ = plan(example_transaction())
            store.ingest(writes)  # writes are not run again: the checkout's ping found the dead connection
            assert pooled_pid(store) != dropped
        finally:
            store.close()


def test_a_quick_read_past_its_budget_is_given_up_and_its_connection_reads_on(tmp_path: Path) -> None:
    store = stored_store(str(tmp_path / "registry.sqlite"))
    try:
        quick = QuickReads(store.engine, 0.01)
        endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) " \
                  "SELECT count(*) FROM n"  # seconds of work for SQLite
        assert quick.run(lambda conn: conn.exec_driver_sql(endless).scalar()) is None
        stored = sum(store.counts().values())
        assert quick.run(lambda conn: conn.exec_driver_sql("SELECT count(*) FROM fb_resource").scalar()) == stored
        everything = store.search("Observation", [], 1000)
        assert store.search_quickly("Observation", [], 1000) in (None, everything)  # None: past 5 ms
        store._quick.budget = 60.0  # a budget no search here exceeds: the quick path gives the same page
        assert store.search_quickly("Observation", [], 1000) == everything
        quick.close()
    finally:
        store.close()


def test_searches_on_postgresql_are_never_run_in_the_calling_thread(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as url:
        store = stored_store(url)
        try:
            assert store.search("Patient", [], 10).matches
            assert store.search_quickly("Patient", [], 10) is None
        finally:
            store.close()


def test_reads_between_searches_keep_the_statements_prepared_for_them(tmp_path: Path) -> None:
    """psycopg forgets (and deallocates) every statement prepared on a connection at each ROLLBACK: reads on
    PostgreSQL run in autocommit, so that a read of a resource between two searches does not make the searches
    be prepared and planned again."""
    with database("postgresql", tmp_path) as url:
        store = Store.open(url)
        try:
            patients = [w for w in plan(example_transaction())[0] if w.resource_type == "Patient"]
            store.ingest(plan(example_transaction())[0])
            store.engine.pool.dispose()  # one connection from here on: the one every call below uses in turn
            code = [Criterion("gender", ((None, "male"),))]
            for _ in range(8):  # psycopg prepares a statement on its 5th run on a connection
                store.search("Patient", code, 5)
            rid = patients[0].id
            for read in (lambda: store.read("Patient", rid), lambda: store.history("Patient", rid),
                         lambda: store.deleted("Patient", rid), lambda: store.everything(rid, 10), store.counts):
                read()
                with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # no ROLLBACK
                    prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar_one()
                assert prepared > 0, read
        finally:
            store.close()
