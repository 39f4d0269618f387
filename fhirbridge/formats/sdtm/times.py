"""The one rule for SDTM times: --DTC holds the study's local clock time, without a UTC offset.

Every SDTMIG example writes date-times without an offset, and reviewers compare --DTC across datasets as
text, so a mix of offsets (or of UTC and local times) would put events in the wrong order. The SDTM mapping
names the offset of the study's clock (``timezone``): writing drops it from times at that offset and converts
times at another one (reported, FB-SDTM-026); reading a time without an offset adds it back, so records →
SDTM → records gives the input back whenever its times carry the study's offset. Dates are never changed.
"""

from __future__ import annotations

import datetime as dt
import re

_OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


def _zone(offset: str) -> dt.timezone:
    if offset in ("Z", "+00:00", "-00:00"):
        return dt.UTC
    sign = 1 if offset[0] == "+" else -1
    return dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))


def to_local(iso: str, timezone: str) -> tuple[str, bool]:
    """The --DTC text of a hub date or date-time, and whether its time had to be converted to the study's
    clock (it was at another offset)."""
    if "T" not in iso:
        return iso, False
    found = _OFFSET.search(iso)
    if found is None:
        return iso, False
    offset = found.group(1)
    local = iso[: found.start()]
    if _zone(offset) == _zone(timezone):
        return local, False
    stamp = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(_zone(timezone))
    return stamp.replace(tzinfo=None).isoformat(), True


def from_local(text: str, timezone: str) -> str:
    """The hub date-time of a --DTC value: the study's offset added to a time that has none."""
    if "T" not in text or _OFFSET.search(text):
        return text
    return f"{text}{timezone}"


def before(first: str, second: str) -> bool:
    """Whether ``first`` is before ``second``, compared at the precision both have (local --DTC text)."""
    common = min(len(first), len(second))
    return first[:common] < second[:common]
