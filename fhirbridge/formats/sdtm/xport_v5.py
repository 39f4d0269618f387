"""The records of a SAS XPORT version 5 file (SAS technical note TS-140), for writing one observation at a time.

pyreadstat (ReadStat) writes XPT only from a whole data frame, and no maintained library appends to one, so
fhirbridge writes the records itself, the way ReadStat does (a test holds the two byte-identical): 80-byte header
records, one 140-byte NAMESTR per variable, then the observations back to back, each record padded with blanks
to 80 bytes. Character values are blank-padded to the variable's width; numbers are 8-byte IBM 370 hexadecimal
floating point, a missing number is ``.`` (0x2E) followed by zeros.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

RECORD = 80
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MISSING = b"\x2e" + bytes(7)
#: ntype, nhfun, nlng, nvar0, nname, nlabel, nform, nfl, nfd, nfj, nfill, niform, nifl, nifd, npos, rest
_NAMESTR = struct.Struct(">hhhh8s40s8shhh2s8shhi52s")


@dataclass(frozen=True)
class Variable:
    """A variable as its NAMESTR record declares it; ``width`` is in bytes (8 for numbers)."""

    name: str
    label: str
    type: Literal["Char", "Num"]
    width: int


def header(name: str, label: str, variables: list[Variable], created: dt.datetime) -> bytes:
    """Everything before the first observation: library, member and descriptor headers, the NAMESTRs."""
    stamp = _timestamp(created)
    records = [
        _header_record("LIBRARY"),
        _text(f"{'SAS':8}{'SAS':8}{'SASLIB':8}{'6.06':8}{'bsd4.2':8}{'':24}{stamp}"),
        _text(stamp),
        _header_record("MEMBER", 0, 0, 0, 160, 0, 140),
        _header_record("DSCRPTR"),
        _text(f"{'SAS':8}{name[:8]:8}{'SASDATA':8}{'6.06':8}{'bsd4.2':8}{'':24}{stamp}"),
        _text(f"{stamp}{'':16}{label[:40]:40}"),
        _header_record("NAMESTR", 0, len(variables)),
    ]
    position = 0
    namestrs = []
    for number, variable in enumerate(variables, start=1):
        namestrs.append(_NAMESTR.pack(
            2 if variable.type == "Char" else 1, 0, variable.width, number, _blank(variable.name, 8),
            _blank(variable.label, 40), b" " * 8, 0, 0, 0 if variable.type == "Char" else 1,  # numbers right-justified
            b"\0\0", b" " * 8, 0, 0, position, bytes(52)))
        position += variable.width
    return b"".join(records) + pad(b"".join(namestrs)) + _header_record("OBS")


def observations(rows: Iterable[tuple[bytes | float | None, ...]], variables: list[Variable]) -> Iterable[bytes]:
    """Each row's bytes: text (already encoded) blank-padded to its width, numbers as IBM floats."""
    widths = [v.width if v.type == "Char" else 0 for v in variables]
    for row in rows:
        yield b"".join(value.ljust(width) if width else ibm_float(value)  # type: ignore[union-attr,arg-type]
                       for value, width in zip(row, widths, strict=True))


def padding(written: int) -> bytes:
    """The blanks that close the last record after ``written`` bytes of observations."""
    return b" " * (-written % RECORD)


def pad(data: bytes) -> bytes:
    return data + padding(len(data))


_IBM_CACHE: dict[float, bytes] = {}


def ibm_float(value: float | None) -> bytes:
    """An IEEE double as an 8-byte IBM 370 float: sign bit, excess-64 power of 16, 56-bit fraction.

    Exact for every double in range (the 53-bit mantissa shifted by at most 3 bits fits the 56-bit fraction);
    as SAS's own conversion does, a value under 2**-260 becomes 0 and one of 2**249 or more the largest IBM
    float. Measurements repeat a few values, so the bytes of each are kept once computed.
    """
    if value is None:
        return _MISSING
    cached = _IBM_CACHE.get(value)
    if cached is not None:
        return cached
    mantissa, exponent = math.frexp(abs(value))  # abs(value) = mantissa * 2**exponent, 0.5 <= mantissa < 1
    sign = 0x80 if math.copysign(1, value) < 0 else 0
    if value == 0 or exponent - 1 < -260:
        encoded = bytes(8)
    elif exponent - 1 > 248:
        encoded = bytes([sign | 0x7F]) + b"\xff" * 7
    else:
        power = -(-exponent // 4)  # the power of 16 whose fraction is in [1/16, 1)
        fraction = int(math.ldexp(mantissa, 56 + exponent - 4 * power))
        encoded = bytes([sign | (power + 64)]) + fraction.to_bytes(7, "big")
    if len(_IBM_CACHE) < 1 << 16:
        _IBM_CACHE[value] = encoded
    return encoded


def _header_record(name: str, *numbers: int) -> bytes:
    counts = "".join(f"{n:05d}" for n in (*numbers, *(0,) * (6 - len(numbers))))
    return _text(f"HEADER RECORD*******{name:8}HEADER RECORD!!!!!!!{counts}")


def _text(text: str) -> bytes:
    return pad(text.encode("ascii"))


def _blank(text: str, size: int) -> bytes:
    return text.encode("utf-8")[:size].ljust(size)


def _timestamp(moment: dt.datetime) -> str:
    return f"{moment.day:02d}{_MONTHS[moment.month - 1]}{moment.year % 100:02d}:{moment:%H:%M:%S}"
