"""The storage layer without HTTP: migrations match the tables, dates become ranges, bundles become writes, and
ingest then export is the identity on generated studies (up to server metadata and reference form)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from strategies import study_data
from test_service_support import database

from fhirbridge.formats.fhir.writer import bundle as fhir_bundle
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.records import StudyData
from fhirbridge.store import Store
from fhirbridge.store.schema import metadata
from fhirbridge.store.search_params import BadSearchValue, date_range, index_values
from fhirbridge.store.transaction import plan


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrations_create_exactly_the_tables_of_the_schema(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        store = Store.open(url)
        try:
            with store.engine.connect() as conn:
                assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            Store.open(url).close()  # migrating an up-to-date database changes nothing
        finally:
            store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_next_position_of_an_ingest_is_read_from_an_index(kind: str, tmp_path: Path) -> None:
    """Every ingest asks for the highest position stored: a table scan there would grow with the store."""
    with database(kind, tmp_path) as url:
        store = Store.open(url)
        try:
            with store.engine.connect() as conn:
                explain = "EXPLAIN QUERY PLAN " if kind == "sqlite" else "EXPLAIN "
                plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
                    f"{explain}SELECT coalesce(max(position), 0) FROM fb_resource"))
        finally:
            store.close()
    assert "ix_fb_resource_position" in plan, plan


def test_the_migrations_form_one_line_and_a_store_of_the_rest_release_upgrades(tmp_path: Path) -> None:
    """The jobs-and-audit migration follows the REST one: one head, and a store made at the REST migration gets the
    job and audit tables on opening, its resources untouched."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from fhirbridge.store import connect_engine
    from fhirbridge.store.database import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_heads() == ["0008_partial_search_indexes"]
    assert [r.revision for r in scripts.walk_revisions()] == ["0008_partial_search_indexes", "0007_lz4_content",
                                                              "0006_resource_position",
                                                              "0005_token_date_keys",
                                                              "0004_search_indexes", "0003", "0002_rest", "0001"]
    url = str(tmp_path / "rest-release.sqlite")
    engine = connect_engine(url)
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002_rest")
        conn.commit()
        assert not {"fb_job", "fb_audit"} & set(inspect(conn).get_table_names())
    engine.dispose()
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            assert {"fb_job", "fb_audit"} <= set(inspect(conn).get_table_names())
            assert MigrationContext.configure(conn).get_current_revision() == "0008_partial_search_indexes"
            assert "ix_fb_resource_position" in {i["name"] for i in inspect(conn).get_indexes("fb_resource")}
    finally:
        store.close()


@pytest.mark.parametrize(("text", "low", "high"), [
    ("2019", "2019-01-01T00:00:00", "2019-12-31T23:59:59"),
    ("2019-02", "2019-02-01T00:00:00", "2019-02-28T23:59:59"),
    ("2020-02", "2020-02-01T00:00:00", "2020-02-29T23:59:59"),
    ("2019-03-05", "2019-03-05T00:00:00", "2019-03-05T23:59:59"),
    ("2019-03-05T10:30", "2019-03-05T10:30:00", "2019-03-05T10:30:59"),
    ("2019-03-05T10:30:15+09:00", "2019-03-05T01:30:15", "2019-03-05T01:30:15"),
    ("2019-03-05T23:30:00.250-02:00", "2019-03-06T01:30:00", "2019-03-06T01:30:00"),
])
def test_dates_are_indexed_as_the_range_they_stand_for(text: str, low: str, high: str) -> None:
    assert date_range(text) == (low, high)


@pytest.mark.parametrize("text", ["yesterday", "2019-13", "2019-02-30", "19-01-01", ""])
def test_impossible_dates_are_refused(text: str) -> None:
    with pytest.raises(BadSearchValue):
        date_range(text)


def test_a_period_without_end_is_open() -> None:
    [value] = index_values({"resourceType": "Procedure", "performedPeriod": {"start": "2019-03-05"}})
    assert (value.param, value.low, value.high) == ("date", "2019-03-05T00:00:00", "9999-12-31T23:59:59")


def test_plan_reports_each_unacceptable_entry_where_it_is() -> None:
    writes, issues = plan({"resourceType": "Bundle", "type": "batch", "entry": [
        {"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Patient"}, "request": {"method": "POST",
                                                                                      "url": "Patient"}},
        {"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Patient"},
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": "name=smith"}},
        {"resource": {"resourceType": "Observation"}, "request": {"method": "PUT", "url": "Patient/x"}},
        "not an entry",
    ]})
    assert [w.index for w in writes] == [0]
    assert {(i.code, i.target) for i in issues} == {
        ("FB-SRV-003", "Bundle.entry[1].request.ifNoneExist"),
        ("FB-SRV-002", "Bundle.entry[2].request.url"),
        ("FB-SRV-002", "Bundle.entry[3]"),
    }
    _, duplicate = plan({"resourceType": "Bundle", "type": "batch", "entry": [
        {"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Patient"}, "request": {"method": "POST",
                                                                                      "url": "Patient"}},
        {"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Patient", "gender": "male"},
         "request": {"method": "POST", "url": "Patient"}}]})
    assert [(i.code, i.target) for i in duplicate] == [("FB-SRV-004", "Bundle.entry[1].fullUrl"),
                                                       ("FB-SRV-004", "Bundle.entry[1].request")]


def _server_form(bundle: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Each resource of a transaction as the store should hold it: bundle references as Type/id."""
    import orjson

    text = orjson.dumps([e["resource"] for e in bundle["entry"]]).decode()
    for entry in bundle["entry"]:
        text = text.replace(f'"{entry["fullUrl"]}"', f'"{entry["resource"]["resourceType"]}/'
                                                       f'{entry["resource"]["id"]}"')
    return {(r["resourceType"], r["id"]): orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode()
            for r in orjson.loads(text)}


def _without_server_meta(content: str) -> tuple[tuple[str, str], str]:
    import orjson

    resource = orjson.loads(content)
    meta = {k: v for k, v in resource.pop("meta").items() if k not in ("versionId", "lastUpdated")}
    if meta:
        resource["meta"] = meta
    return (resource["resourceType"], resource["id"]), orjson.dumps(resource, option=orjson.OPT_SORT_KEYS).decode()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=study_data())
def test_ingest_then_export_gives_back_the_bundle_and_ingest_is_idempotent(data: StudyData) -> None:
    bundle = fhir_bundle(load_fhir_mapping(), data, bundle_type="transaction")
    writes, issues = plan(bundle)
    assert issues == []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(str(Path(tmp) / "store.sqlite"))
        try:
            first = store.ingest(writes)
            assert {r.status for r in first} == {"201 Created"}
            assert dict(_without_server_meta(c) for c in store.export()) == _server_form(bundle)
            second = store.ingest(plan(bundle)[0])
            assert [(r.id, r.version_id, r.status) for r in second] == [(r.id, 1, "200 OK") for r in first]
            assert len(list(store.export())) == len(bundle["entry"])
        finally:
            store.close()


def test_resource_json_is_compressed_with_lz4_on_postgresql(tmp_path: Path) -> None:
    """Every resource is written twice (current and history): LZ4 costs the server less than pglz. A large
    resource is stored compressed and read back as written."""
    from sqlalchemy import text

    from fhirbridge.store.transaction import PlannedWrite

    with database("postgresql", tmp_path) as url:
        store = Store.open(url)
        try:
            with store.engine.connect() as conn:
                methods = dict(conn.execute(text(
                    "SELECT attrelid::regclass::text, attcompression FROM pg_attribute "
                    "WHERE attrelid IN ('fb_resource'::regclass, 'fb_resource_version'::regclass) "
                    "AND attname = 'content'")).all())
            assert set(methods.values()) == {"l"}, methods
            note = " ".join(f"value {i}" for i in range(2000))  # long, and compressible
            patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "extension": [
                {"url": "https://example.org/note", "valueString": note}]}
            [result] = store.ingest([PlannedWrite(0, "PUT", "Patient", "p1", patient)])
            assert orjson.loads(store.read("Patient", "p1").content)["extension"][0]["valueString"] == note
            assert orjson.loads(store.history("Patient", "p1")[0].content)["extension"][0]["valueString"] == note
            with store.engine.connect() as conn:
                compressed = conn.execute(text(
                    "SELECT pg_column_compression(r.content), pg_column_compression(v.content) FROM fb_resource r "
                    "JOIN fb_resource_version v USING (resource_type, id)")).one()
            assert tuple(compressed) == ("lz4", "lz4") and result.version_id == 1
        finally:
            store.close()
