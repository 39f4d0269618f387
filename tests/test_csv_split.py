"""A CSV record is split into the cells ``csv.reader`` gives, whether it takes the short way (no quote, no line
break inside) or not."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhirbridge.formats.csv.chunks import split_record

#: characters that make a difference to a CSV parser, and a few that do not
RECORDS = st.text(alphabet=[",", ";", "\t", '"', "\r", "\n", " ", "a", "é", "\x00"], max_size=12)


def by_csv_reader(text: str, delimiter: str) -> list[str] | str:
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True), [])
    except csv.Error as exc:
        return f"csv.Error: {exc}"


def by_split_record(text: str, delimiter: str) -> list[str] | str:
    try:
        return split_record(text.encode("utf-8"), "utf-8", delimiter)
    except csv.Error as exc:
        return f"csv.Error: {exc}"


@given(RECORDS, st.sampled_from([",", ";", "\t"]))
def test_any_record_is_split_as_csv_reader_splits_it(text: str, delimiter: str) -> None:
    assert by_split_record(text, delimiter) == by_csv_reader(text, delimiter)


@pytest.mark.parametrize(
    "text",
    ["a,b\r\n", "a,b\n", "a,b", "a,b\r", "\r\n", "\n", "", " , \n", 'a,"b,c"\n', "a\rb,c\n", 'a,"b\nc"\r\n'],
)
def test_records_of_every_kind_are_split_as_csv_reader_splits_them(text: str) -> None:
    assert by_split_record(text, ",") == by_csv_reader(text, ",")


def test_a_record_longer_than_a_field_may_be_fails_as_with_csv_reader() -> None:
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(8)
        assert by_split_record("a,123456789\n", ",") == by_csv_reader("a,123456789\n", ",")
        assert by_split_record("a,123456789\n", ",").startswith("csv.Error")
    finally:
        csv.field_size_limit(limit)
