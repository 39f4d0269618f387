"""Planner statistics after a bulk load: a `$import` that stored many resources brings PostgreSQL's statistics of
the search tables up to date when it ends (autovacuum would only come by later)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_service_support import database, example_transaction

from fhirbridge.service import bulk_import
from fhirbridge.store import Store
from fhirbridge.store.transaction import plan


def exported_ndjson(tmp_path: Path) -> Path:
    """The example study as NDJSON, one resource a line, as an export writes it."""
    source = Store.open(str(tmp_path / "source.sqlite"))
    try:
        writes, issues = plan(example_transaction())
        assert not issues
        source.ingest(writes)
        path = tmp_path / "study.ndjson"
        path.write_text("".join(f"{line}\n" for line in source.export()))
        return path
    finally:
        source.close()


@pytest.mark.parametrize(("threshold", "analysed"), [(1, True), (10**9, False)])
def test_an_import_of_many_resources_renews_the_statistics_when_it_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threshold: int, analysed: bool) -> None:
    path = exported_ndjson(tmp_path)
    monkeypatch.setattr(bulk_import, "ANALYZE_AFTER", threshold)
    store = Store.open(str(tmp_path / "target.sqlite"))
    calls: list[int] = []
    monkeypatch.setattr(store, "analyze", lambda: calls.append(sum(store.counts().values())) or True)
    try:
        result = bulk_import.import_ndjson(store, path, lambda _progress: None, 2000)
        assert result["imported"]["resources"] > 0 and not result["refused"]
        # once, after everything was stored
        assert calls == ([sum(store.counts().values())] if analysed else [])
    finally:
        store.close()


def test_statistics_are_renewed_on_postgresql(tmp_path: Path) -> None:
    """PostgreSQL's estimate of the search index's rows is what ANALYZE sets (the table is small enough for its
    sample to hold every row). Tests elsewhere may ANALYZE the whole shared database too, so the estimate is not
    asked for before."""
    with database("postgresql", tmp_path) as url:
        store = Store.open(url)
        try:
            writes, issues = plan(example_transaction())
            assert not issues
            store.ingest(writes)
            assert store.analyze() is True
            with store.engine.connect() as conn:
                rows = conn.exec_driver_sql("SELECT count(*) FROM fb_search_value").scalar_one()
                estimate = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE oid = 'fb_search_value'::regclass"
                                                ).scalar_one()
            assert rows > 0 and estimate == rows
        finally:
            store.close()


def test_statistics_are_left_to_sqlite(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "registry.sqlite"))
    try:
        assert store.analyze() is False
    finally:
        store.close()
