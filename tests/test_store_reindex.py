"""Upgrading a store made before the REST API: the search index is rebuilt for every parameter, deletions can be
recorded, and the data is otherwise untouched."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, column, insert, select, table
from test_service_support import database

from fhirbridge.store import Store, connect_engine
from fhirbridge.store.database import MIGRATIONS
from fhirbridge.store.schema import resource, search_value
from fhirbridge.store.search_query import Criterion


@contextmanager
def migrated_to(url: str, revision: str, down: bool = False) -> Iterator[Connection]:
    """A connection to the store at ``url`` upgraded (or downgraded) to ``revision`` only; what is written on it
    is committed at the end."""
    engine = connect_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, revision)
            yield conn
            conn.commit()
    finally:
        engine.dispose()


def stored(content: dict[str, Any], position: int) -> Any:
    """The resource row of a first version, as every revision's store holds it."""
    return insert(resource).values(resource_type=content["resourceType"], id=content["id"], version_id=1,
                                   position=position, last_updated="2026-01-01T00:00:00.000Z",
                                   content_hash=str(position), content=orjson.dumps(content).decode())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_rebuilds_the_search_index(kind: str, tmp_path: Path) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-05-01",
               "meta": {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00.000Z"}}
    with database(kind, tmp_path) as url:
        with migrated_to(url, "0001") as conn:
            conn.execute(stored(patient, 1))
        store = Store.open(url)
        try:
            page = store.search("Patient", [Criterion("gender", ((None, "female"),))], 10)
            assert [i for _, i, _ in page.matches] == ["p1"] and page.total == 1
            with store.engine.connect() as conn:
                params = set(conn.execute(select(search_value.c.param)).scalars())
            assert params == {"gender", "birthdate"}
            assert store.delete("Patient", "p1") == (2, [])
            assert [v.deleted for v in store.history("Patient", "p1")] == [True]  # version 1 came before
        finally:
            store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_gives_the_search_rows_their_resource_date_keys(kind: str, tmp_path: Path) -> None:
    """Migration 0005 fills ``date_low`` / ``date_high`` of the rows stored before it as the store writes them now:
    a resource with two dates, one with none, and a type whose date parameter has another name."""
    from fhirbridge.store.search_params import index_rows, index_values

    resources = [
        {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"coding": [{"code": "a"}]},
         "subject": {"reference": "Patient/p1"}, "effectivePeriod": {"start": "2019-03", "end": "2019-04-02"}},
        {"resourceType": "Observation", "id": "o2", "status": "final", "code": {"coding": [{"code": "a"}]}},
        {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1970", "name": [{"family": "Ho"}]},
    ]
    with database(kind, tmp_path) as url:
        with migrated_to(url, "0004_search_indexes") as conn:
            # the rows as the store wrote them before the migration (no date keys: the columns do not exist yet)
            old = table(search_value.name, *(column(c) for c in ("resource_type", "resource_id", "param", "system",
                                                                 "value", "low", "high")))
            conn.execute(insert(old), [{"resource_type": r["resourceType"], "resource_id": r["id"], "param": v.param,
                                        "system": v.system, "value": v.value, "low": v.low, "high": v.high}
                                       for r in resources for v in index_values(r)])
        store = Store.open(url)
        try:
            with store.engine.connect() as conn:
                sv = search_value.c
                got = sorted(tuple(row) for row in conn.execute(select(
                    sv.resource_type, sv.resource_id, sv.param, sv.system, sv.value, sv.low, sv.high, sv.date_low,
                    sv.date_high)))
        finally:
            store.close()
    want = sorted(tuple(row.values()) for r in resources for row in index_rows(r["resourceType"], r["id"], r))
    assert got == want
    assert ("Observation", "o1", "code", None, "a", None, None, "2019-03-01T00:00:00", "2019-04-02T23:59:59") in got
    assert ("Patient", "p1", "gender", None, "male", None, None, "1970-01-01T00:00:00", "1970-12-31T23:59:59") in got


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_answers_patient_from_the_subject_rows(kind: str, tmp_path: Path) -> None:
    """Migration 0008 deletes the ``patient`` rows written before it (a copy of the ``subject`` rows that refer to
    a Patient): a search by patient finds the same resources from the subject rows, and a downgrade writes the
    copies again."""
    from fhirbridge.store.search_params import index_rows

    observation = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"coding": [{"code": "a"}]},
                   "subject": {"reference": "Patient/p1"}, "meta": {"versionId": "1",
                                                                   "lastUpdated": "2026-01-01T00:00:00.000Z"}}
    rows = index_rows("Observation", "o1", observation)
    subject = next(r for r in rows if r["param"] == "subject")
    of_group = {**observation, "id": "o2", "subject": {"reference": "Group/g1"}}  # a subject, not a patient
    rows += index_rows("Observation", "o2", of_group)
    with database(kind, tmp_path) as url:
        with migrated_to(url, "0007_lz4_content") as conn:
            conn.execute(stored(observation, 1))
            conn.execute(stored(of_group, 2))
            conn.execute(insert(search_value), [*rows, {**subject, "param": "patient"}])  # as written before 0008
        store = Store.open(url)
        try:
            with store.engine.connect() as conn:
                params = sorted(conn.execute(select(search_value.c.param)).scalars())
            assert params == sorted(r["param"] for r in rows) and "patient" not in params
            for values in ((("Patient", "p1"),), ((None, "p1"),)):
                page = store.search("Observation", [Criterion("patient", values)], 10)
                assert [i for _, i, _ in page.matches] == ["o1"]
            for values in (((None, "p2"),), ((None, "g1"),), (("Group", "g1"),)):
                assert store.search("Observation", [Criterion("patient", values)], 10).matches == []
            missing = store.search("Observation", [Criterion("patient", (True,), "missing")], 10)
            assert [i for _, i, _ in missing.matches] == ["o2"]
            by_subject = store.search("Observation", [Criterion("subject", ((None, "g1"),))], 10)
            assert [i for _, i, _ in by_subject.matches] == ["o2"]
        finally:
            store.close()
        with migrated_to(url, "0007_lz4_content", down=True) as conn:
            again = conn.execute(select(search_value).where(search_value.c.param == "patient")).mappings().all()
    assert [dict(r) for r in again] == [{**subject, "param": "patient"}]
