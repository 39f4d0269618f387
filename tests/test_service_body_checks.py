"""The checks of a parsed body (nesting, NUL characters) say the same whether or not they are given the JSON text
it was parsed from (with the text, strings are not looked at unless it holds a ``\\u0000`` escape)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from fhirbridge.service.limits import LimitExceeded, Limits, check_parsed, text_depth

_LIMITS = Limits(max_depth=6)
#: strings with brackets, quotes and backslashes: the nesting is read from the text, where strings must not count
_TEXT = st.text(alphabet=st.sampled_from(["a", "\x00", "\\", "u", "0", '"', "é", "{", "}", "[", "]"]), max_size=6)
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-1000, 1000) | _TEXT,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
                     max_leaves=30)


def _verdict(document: Any, raw: bytes | None) -> str | None:
    try:
        check_parsed(document, _LIMITS, raw=raw)
    except LimitExceeded as exc:
        return exc.issue.code
    return None


@given(_JSON, st.sampled_from([None, 1]))
def test_the_json_text_changes_no_verdict(document: Any, indent: int | None) -> None:
    raw = orjson.dumps(document) if indent is None else json.dumps(document, indent=indent).encode()
    assert _verdict(orjson.loads(raw), raw) == _verdict(orjson.loads(raw), None)


def test_nesting_is_read_from_the_text_without_its_strings() -> None:
    assert text_depth(b'{"a":[{"b":"[[[{{{"},[]],"c":"\\\\"}', 64) == 3
    assert text_depth(b'"{[\\\\\\"]}"', 64) == 0  # an escaped backslash, then an escaped quote
    assert text_depth(b"[" * 70 + b"]" * 70, 64) == 65  # counting stops past the limit


def test_a_nul_escape_and_a_deep_nesting_are_refused_with_the_text() -> None:
    nul = b'{"resourceType":"Patient","id":"a\\u0000b"}'
    assert _verdict(orjson.loads(nul), nul) == "FB-FHIR-001"
    escaped_backslash = b'{"resourceType":"Patient","id":"a\\\\u0000b"}'  # the text \u0000, not a NUL
    assert _verdict(orjson.loads(escaped_backslash), escaped_backslash) is None
    deep = b'{"a":' + b"[" * 7 + b"]" * 7 + b"}"
    assert _verdict(orjson.loads(deep), deep) == "FB-REST-008"
    assert _verdict(orjson.loads(b'"text"'), b'"text"') is None
