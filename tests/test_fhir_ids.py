"""Resource ids are UUIDv5 of fhirbridge's namespace and the record's kind and key, however they are computed."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from fhirbridge.formats.fhir.context import ID_NAMESPACE, FhirContext, resource_ids

parts = st.text(min_size=0, max_size=12)


@settings(max_examples=60)
@given(st.text(min_size=1, max_size=12), st.lists(parts, max_size=4), parts)
def test_ids_are_uuid5_of_kind_and_key(kind: str, key: list[str], last: str) -> None:
    expected = str(uuid.uuid5(ID_NAMESPACE, "|".join((kind, *key, last))))
    assert FhirContext.resource_id(kind, *key, last) == expected
    assert resource_ids(kind, *key)(last) == expected  # the shared prefix hashed once
