"""Upgrading a store made before the REST API: the search index is rebuilt for every parameter, deletions can be
recorded, and the data is otherwise untouched."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select
from test_service_support import database

from fhirbridge.store import Store, connect_engine
from fhirbridge.store.database import MIGRATIONS
from fhirbridge.store.schema import resource, search_value
from fhirbridge.store.search_query import Criterion


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_rebuilds_the_search_index(kind: str, tmp_path: Path) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-05-01",
               "meta": {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00.000Z"}}
    with database(kind, tmp_path) as url:
        engine = connect_engine(url)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            conn.execute(insert(resource).values(resource_type="Patient", id="p1", version_id=1, position=1,
                                                 last_updated="2026-01-01T00:00:00.000Z", content_hash="x",
                                                 content=orjson.dumps(patient).decode()))
            conn.commit()
        engine.dispose()
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
