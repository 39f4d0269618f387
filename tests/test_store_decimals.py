"""Decimals read and written by the store keep the form they were written in; other JSON is orjson's."""

from __future__ import annotations

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from fhirbridge.store.decimals import dumps, loads

_DIGITS = st.text("0123456789", min_size=1, max_size=20)
#: JSON numbers; the integer -0 is left out: JSON readers give the integer 0, and FHIR gives it no other meaning.
NUMBERS = st.builds(lambda sign, whole, fraction, exponent: f"{sign}{int(whole)}{fraction}{exponent}",
                    st.sampled_from(["", "-"]), _DIGITS,
                    st.one_of(st.just(""), _DIGITS.map(lambda d: f".{d}")),
                    st.one_of(st.just(""), st.integers(-20, 20).map(lambda e: f"e{e}"))).filter(lambda n: n != "-0")


@given(numbers=st.lists(NUMBERS, min_size=1, max_size=5), text=st.text(max_size=20))
@example(numbers=["1.50", "0.10", "1e2", "12345678901234567.5"], text="3e4-1.50,")
@example(numbers=["0.000001", "123456789012345678901234"], text="")
def test_numbers_come_back_as_written(numbers: list[str], text: str) -> None:
    document = f'{{"text":{orjson.dumps(text).decode()},"values":[{",".join(numbers)}]}}'.encode()
    parsed = orjson.loads(document)
    assert dumps(loads(document, parsed)) == document
    assert loads(document, parsed) == parsed  # the same values, as floats and ints


def test_a_document_without_lossy_numbers_is_not_read_again() -> None:
    document = b'{"id":"6f1f7c3c-8d2a-4c55-9a51-0d0f3a6f9e01","value":1.5,"count":10}'
    parsed = orjson.loads(document)
    assert loads(document, parsed) is parsed


def test_a_number_inside_a_uuid_does_not_make_a_document_read_again() -> None:
    # pretty-printed (so not orjson's own text): the scan of numbers decides; 1e10 follows a ':' in the string
    document = b'{"fullUrl": "urn:uuid:1e10e357-fc98-50df-997d-9487545cec8a", "values": [1.5, 2]}'
    parsed = orjson.loads(document)
    assert loads(document, parsed) is parsed
    lossy = b'{"fullUrl": "urn:uuid:1e10e357-fc98-50df-997d-9487545cec8a", "values": [1.50, 2]}'
    assert dumps(loads(lossy, orjson.loads(lossy))) == lossy.replace(b": ", b":").replace(b", ", b",")
