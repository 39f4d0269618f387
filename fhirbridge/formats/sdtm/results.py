"""How a hub result becomes the result variables of a findings row, and back: one convention for all of them.

* a plain value: --ORRES and --STRESC hold it, --STRESN its number when it is a whole number;
* a value the domain lists in ``not_done_values`` (the worksheet's ``NT``, not testable): no result,
  --STAT ``NOT DONE`` and --REASND the reason (``NOT TESTABLE``);
* a single value flagged ``*`` or ``**`` (ISNCSCI: impairment from a non-SCI condition): the value without
  its flag in --ORRES, --STRESC and --STRESN, and the flag in the domain's ``result_flag`` qualifier (SUPP--,
  IDVAR --SEQ); ``NT*`` is a NOT DONE row with the flag;
* several possible values (``B,C,D``, ``C5*,C6``, from the ISNCSCI rules when a value is not testable): the
  listing as the rules give it, flags included, in --ORRES and --STRESC, and no --STRESN; ``ND`` (not
  determinable) and ``NA`` (not applicable) are results, not NOT DONE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FLAGGED = re.compile(r"([^,*]+)(\*{1,2})")


@dataclass(frozen=True)
class Result:
    """The result variables of one findings row (by their derivation names) and its flag, if any."""

    orres: str | None
    stresc: str | None
    stresn: int | None
    stat: str | None
    reasnd: str | None
    flag: str | None


def split(text: str | None, not_done: dict[str, str], flags: bool) -> Result:
    """The result variables of a hub result (``None``: not given, a NOT DONE row without a reason); ``flags``
    says whether the domain has a qualifier for the ``*`` / ``**`` flags (elsewhere a star is text)."""
    if text is None:
        return Result(None, None, None, "NOT DONE", None, None)
    found = _FLAGGED.fullmatch(text) if flags else None
    value, flag = (found.group(1), found.group(2)) if found else (text, None)
    if value in not_done:
        return Result(None, None, None, "NOT DONE", not_done[value], flag)
    return Result(value, value, _whole_number(value), None, None, flag)


def join(orres: str | None, stat: str | None, reasnd: str | None, flag: str | None,
         not_done: dict[str, str]) -> str | None:
    """The hub result of a row's variables: the inverse of ``split``."""
    reasons = {reason: hub for hub, reason in not_done.items()}
    value = reasons.get(reasnd or "") if stat == "NOT DONE" else orres
    if value is None:
        return None
    return f"{value}{flag or ''}"


def _whole_number(text: str) -> int | None:
    """``isdecimal``, not ``isdigit``: ``²`` is a digit that ``int`` refuses."""
    return int(text) if text.isdecimal() else None
