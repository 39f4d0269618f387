"""ISO 8601 date types shared by every record.

Records keep dates as ISO 8601 text rather than ``datetime`` objects because SDTM and FHIR both allow
partial dates (``2019``, ``2019-03``) and a round trip must not invent a day. A time of day, when
present, is always complete (seconds and UTC offset), as FHIR requires; readers add the offset their
mapping spec declares.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator

_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})")


def check_date(value: str) -> str:
    """Accept YYYY, YYYY-MM or YYYY-MM-DD naming a real calendar date."""
    match = _DATE.fullmatch(value)
    if not match:
        raise ValueError(f"{value!r} is not an ISO 8601 date (YYYY, YYYY-MM or YYYY-MM-DD)")
    year, month, day = match.groups()
    try:
        dt.date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise ValueError(f"{value!r} is not a real calendar date") from None
    return value


def check_datetime(value: str) -> str:
    """Accept a (partial) date, or a full date with a time of day and an optional offset."""
    if "T" not in value:
        return check_date(value)
    match = _DATETIME.fullmatch(value)
    if not match:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time (YYYY-MM-DDThh:mm:ss with a UTC offset)")
    check_date(match.group(1))
    hour, minute, second = int(match.group(2)), int(match.group(3)), int(match.group(4))
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{value!r} has an impossible time of day")
    return value


IsoDate = Annotated[str, AfterValidator(check_date)]
IsoDateTime = Annotated[str, AfterValidator(check_datetime)]


def date_part(value: str | None) -> str | None:
    """The date of a date-time, for comparisons between records of different precision."""
    return value.split("T", 1)[0] if value else None
