"""JSON numbers kept as written: FHIR decimals carry their precision in their digits (``1.50`` is not ``1.5``).

orjson reads every number with a fraction or exponent as a float, which loses the trailing zeros. A body whose
numbers would not come back as written is read again with the standard library, each such number becoming a
``Decimal`` float that remembers its text; writing puts that text back. The values still behave as floats, so
the validator and the search index see what they saw before.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

#: A JSON number with a fraction or exponent (may match inside strings too: then the body is only read twice).
_FRACTIONAL = re.compile(rb"[0-9](?:\.[0-9]+)?[eE]|\.[0-9]*0(?![0-9])|[0-9]{16}")


class Decimal(float):
    """A float that writes back as the text it was read from."""

    __slots__ = ("text",)

    def __new__(cls, text: str) -> Decimal:
        value = super().__new__(cls, text)
        value.text = text
        return value


def _fragment(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def loads(body: bytes | str, parsed: Any = None) -> Any:
    """The JSON document with its decimals as written; ``parsed`` (orjson's reading of it) is returned as it is
    when no number in the body would lose its form."""
    raw = body.encode() if isinstance(body, str) else body
    if not _FRACTIONAL.search(raw):
        return orjson.loads(raw) if parsed is None else parsed
    try:
        return json.loads(raw, parse_float=Decimal)
    except RecursionError:  # nested deeper than Python recurses: keep orjson's reading
        return orjson.loads(raw) if parsed is None else parsed


def dumps(value: Any, option: int | None = None) -> bytes:
    """orjson's JSON, with decimals as they were read."""
    return orjson.dumps(value, default=_fragment, option=option)
