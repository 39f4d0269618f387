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


def subscale_sums(items: dict[str, int | None]) -> dict[str, int | None]:
    """Each subscale's sum, or None where one of its items is missing."""
    sums: dict[str, int | None] = {}
    for key in SUBSCALES:
        scores = [items.get(i.item) for i in ITEMS.values() if i.subscale == key]
        sums[key] = None if any(s is None for s in scores) else sum(s for s in scores if s is not None)
    return sums
