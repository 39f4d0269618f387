"""SCIM-III (Spinal Cord Independence Measure, version III; Itzkovich et al. 2007).

19 items in three subscales. Several items do not score 0..n in steps of one (respiration 0-10 in steps
of two, bladder 0/3/6/9/11/13/15, ...), so each item lists its allowed values exactly as the form does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class ScimItem:
    item: str
    title: str
    subscale: str
    allowed: tuple[int, ...]


@dataclass(frozen=True)
class ScimSubscale:
    key: str
    title: str
    maximum: int


SUBSCALES: Final[dict[str, ScimSubscale]] = {
    s.key: s
    for s in (
        ScimSubscale("self_care", "Self-care", 20),
        ScimSubscale("respiration_sphincter", "Respiration and sphincter management", 40),
        ScimSubscale("mobility", "Mobility", 40),
    )
}
TOTAL_MAXIMUM: Final = 100


def _r(top: int) -> tuple[int, ...]:
    return tuple(range(top + 1))


ITEMS: Final[dict[str, ScimItem]] = {
    i.item: i
    for i in (
        ScimItem("1", "Feeding", "self_care", _r(3)),
        ScimItem("2A", "Bathing, upper body", "self_care", _r(3)),
        ScimItem("2B", "Bathing, lower body", "self_care", _r(3)),
        ScimItem("3A", "Dressing, upper body", "self_care", _r(4)),
        ScimItem("3B", "Dressing, lower body", "self_care", _r(4)),
        ScimItem("4", "Grooming", "self_care", _r(3)),
        ScimItem("5", "Respiration", "respiration_sphincter", (0, 2, 4, 6, 8, 10)),
        ScimItem("6", "Sphincter management, bladder", "respiration_sphincter", (0, 3, 6, 9, 11, 13, 15)),
        ScimItem("7", "Sphincter management, bowel", "respiration_sphincter", (0, 5, 8, 10)),
        ScimItem("8", "Use of toilet", "respiration_sphincter", (0, 1, 2, 4, 5)),
        ScimItem("9", "Mobility in bed and action to prevent pressure sores", "mobility", (0, 2, 4, 6)),
        ScimItem("10", "Transfers: bed-wheelchair", "mobility", _r(2)),
        ScimItem("11", "Transfers: wheelchair-toilet-tub", "mobility", _r(2)),
        ScimItem("12", "Mobility indoors", "mobility", _r(8)),
        ScimItem("13", "Mobility for moderate distances (10-100 m)", "mobility", _r(8)),
        ScimItem("14", "Mobility outdoors (more than 100 m)", "mobility", _r(8)),
        ScimItem("15", "Stair management", "mobility", _r(3)),
        ScimItem("16", "Transfers: wheelchair-car", "mobility", _r(2)),
        ScimItem("17", "Transfers: ground-wheelchair", "mobility", _r(1)),
    )
}

# The form's subscale maxima are the sums of their items' maxima; a mistyped table would break this.
assert all(
    sum(max(i.allowed) for i in ITEMS.values() if i.subscale == s.key) == s.maximum for s in SUBSCALES.values()
)


@dataclass(frozen=True)
class ScimSubscore:
    """A part of a subscale that SCIM-III reports on its own: the mobility subscale's two parts."""

    key: str
    title: str
    subscale: str
    items: tuple[str, ...]
    maximum: int


#: The mobility subscale in two parts, as the SCIM-III form scores them: room and toilet (items 9-11, 0-10), and
#: indoors and outdoors on even surface (items 12-17, 0-30).
SUBSCORES: Final[dict[str, ScimSubscore]] = {
    s.key: s
    for s in (
        ScimSubscore("mobility_room_toilet", "Mobility in room and toilet", "mobility", ("9", "10", "11"), 10),
        ScimSubscore("mobility_indoors_outdoors", "Mobility indoors and outdoors", "mobility",
                     ("12", "13", "14", "15", "16", "17"), 30),
    )
}
assert all(sum(max(ITEMS[i].allowed) for i in s.items) == s.maximum for s in SUBSCORES.values())
assert sum(s.maximum for s in SUBSCORES.values()) == SUBSCALES["mobility"].maximum

#: The instrument fhirbridge reads, and others of the family that are not it (other items, other scores).
INSTRUMENT: Final = "SCIM-III"
OTHER_INSTRUMENTS: Final[dict[str, str]] = {
    "SCIM-IV": "SCIM-IV (2021) has other items and scores",
    "SCIM-SR": "SCIM-SR is the self-reported version, with its own items",
    "SCIM-II": "SCIM-II is the earlier version, with other items",
}


def _summed(keys: tuple[str, ...], items: dict[str, int | None]) -> int | None:
    scores = [items.get(key) for key in keys]
    return None if any(s is None for s in scores) else sum(s for s in scores if s is not None)


def subscale_sums(items: dict[str, int | None]) -> dict[str, int | None]:
    """Each subscale's sum, or None where one of its items is missing."""
    return {key: _summed(tuple(i.item for i in ITEMS.values() if i.subscale == key), items) for key in SUBSCALES}


def subscore_sums(items: dict[str, int | None]) -> dict[str, int | None]:
    """Each sub-score's sum (mobility in two parts), or None where one of its items is missing."""
    return {key: _summed(s.items, items) for key, s in SUBSCORES.items()}


def score_titles() -> dict[str, str]:
    """Every score reported beside the items (subscales, sub-scores, total), by record field, in form order."""
    titles = {key: s.title for key, s in SUBSCALES.items()}
    titles.update({key: s.title for key, s in SUBSCORES.items()})
    titles["total"] = "Total score"
    return titles


def score_maxima() -> dict[str, int]:
    """The maximum of every score reported beside the items, by record field."""
    return {**{k: s.maximum for k, s in SUBSCALES.items()}, **{k: s.maximum for k, s in SUBSCORES.items()},
            "total": TOTAL_MAXIMUM}
