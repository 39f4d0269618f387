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

#: A JSON number with a fraction or an exponent, or an integer of 19 digits or more (beyond 64 bits, which orjson
#: reads as a float), after the ``:``, ``[`` or ``,`` that precede a value and before the ``,``, ``]`` or ``}`` that
#: follow one. It may match inside a string too: that costs a second reading at most. (A UUID's ``3e4`` is not
#: followed by one of those: ``urn:uuid:1e10e357-…`` made every bundle of ``urn:uuid:`` fullUrls read twice.)
_NUMBER = re.compile(rb"[:\[,]\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)(?=\s*[,\]}])")


class Decimal(float):
    """A float that writes back as the text it was read from."""

    __slots__ = ("text",)

    def __new__(cls, text: str) -> Decimal:
        value = super().__new__(cls, text)
        value.text = text
        return value


def _kept(number: bytes) -> bool:
    """Whether orjson writes the number back as it is written."""
    if number.lstrip(b"-").isdigit():
        return len(number.lstrip(b"-")) < 19
    try:
        return orjson.dumps(float(number)) == number
    except OverflowError:
        return False


def _integer(text: str) -> int | Decimal:
    """An integer, unless it exceeds 64 bits (orjson reads those as floats): then it too keeps its text."""
    value = int(text)
    return value if -(2**63) <= value < 2**64 else Decimal(text)


def _fragment(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def loads(body: bytes | str, parsed: Any = None) -> Any:
    """The JSON document with its decimals as written; ``parsed`` (orjson's reading of it) is returned as it is
    when no number in the body would lose its form."""
    raw = body.encode() if isinstance(body, str) else body
    if parsed is not None and orjson.dumps(parsed) == raw:  # written back byte for byte: every number kept its
        return parsed                                       # form (a tenth of the time of the scan below)
    if all(_kept(match.group(1)) for match in _NUMBER.finditer(raw)):
        return orjson.loads(raw) if parsed is None else parsed
    try:
        return json.loads(raw, parse_float=Decimal, parse_int=_integer)
    except RecursionError:  # nested deeper than Python recurses: keep orjson's reading
        return orjson.loads(raw) if parsed is None else parsed


def dumps(value: Any, option: int | None = None) -> bytes:
    """orjson's JSON, with decimals as they were read."""
    return orjson.dumps(value, default=_fragment, option=option)
