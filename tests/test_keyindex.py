"""The bundle checks' key index answers as a dict would, across its merges of recent keys into sorted arrays."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhirbridge.formats.fhir.checker import keyindex
from fhirbridge.formats.fhir.checker.keyindex import KeyIndex

KEYS = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=50)
@given(
    st.lists(st.tuples(st.one_of(KEYS, st.integers(-5, 5)), st.integers(0, 2**32 - 1)), max_size=120),
    st.lists(KEYS, max_size=20),
)
def test_answers_as_a_dict(pairs: list[tuple[int, int]], probes: list[int]) -> None:
    """Keys set several times keep their last value, extreme keys included, whether still recent or merged, and
    whatever the size of the bitmap of keys."""
    original = keyindex._SMALLEST_MERGE, keyindex._SMALLEST_BITMAP
    keyindex._SMALLEST_MERGE, keyindex._SMALLEST_BITMAP = 3, 8  # merge every few keys, grow the bitmap often
    try:
        index, model = KeyIndex(), {}
        for key, value in pairs:
            index.set(key, value)
            model[key] = value
        for key in [*model, *probes]:
            assert index.get(key) == model.get(key)
            assert (key in index) == (key in model)
    finally:
        keyindex._SMALLEST_MERGE, keyindex._SMALLEST_BITMAP = original


def test_merged_keys_leave_the_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past a merge the keys are in the sorted arrays, and a key set again replaces its value there."""
    monkeypatch.setattr(keyindex, "_SMALLEST_MERGE", 4)
    index = KeyIndex()
    for key in (40, 10, 30, 20):
        index.set(key, key + 1)
    assert list(index._keys) == [10, 20, 30, 40] and list(index._values) == [11, 21, 31, 41]
    assert not index._recent
    for key in (30, 5, 50, 25):
        index.set(key, 7)
    assert list(index._keys) == [5, 10, 20, 25, 30, 40, 50]
    assert [index.get(k) for k in (5, 10, 25, 30, 40, 50)] == [7, 11, 7, 7, 41, 7]
    assert index.get(35) is None and 35 not in index
