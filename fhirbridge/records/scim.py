"""A SCIM-III assessment: the 19 item scores and the subscale and total scores reported with them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, field_validator
from typing_extensions import TypedDict

from fhirbridge.domains.scim import (
    INSTRUMENT,
    ITEMS,
    OTHER_INSTRUMENTS,
    SUBSCALES,
    SUBSCORES,
    TOTAL_MAXIMUM,
    ScimItem,
)
from fhirbridge.records.base import SubjectRecord
from fhirbridge.records.dates import IsoDate


def _allowed(item: ScimItem) -> Callable[[int | None], int | None]:
    def check(score: int | None) -> int | None:
        if score is not None and score not in item.allowed:
            allowed = ", ".join(map(str, item.allowed))
            raise ValueError(f"item {item.item} ({item.title}) score {score} is not one of {allowed}")
        return score

    return check


# One key per item, each with its own allowed values, so that an error names the item (``items.6``).
ScimItems = TypedDict(  # type: ignore[misc]
    "ScimItems",
    {key: NotRequired[Annotated[int | None, AfterValidator(_allowed(item))]] for key, item in ITEMS.items()},
)
ScimItems.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]


class ScimAssessment(SubjectRecord):
    """Item scores are keyed by item number (``1``, ``2A`` … ``17``); a missing item is ``None``. Subscales,
    the mobility sub-scores and the total are those the site reported (None where it reported none)."""

    visit: str = Field(min_length=1)
    assessment_date: IsoDate | None = None
    items: ScimItems
    self_care: int | None = Field(default=None, ge=0, le=SUBSCALES["self_care"].maximum)
    respiration_sphincter: int | None = Field(default=None, ge=0, le=SUBSCALES["respiration_sphincter"].maximum)
    mobility: int | None = Field(default=None, ge=0, le=SUBSCALES["mobility"].maximum)
    total: int | None = Field(default=None, ge=0, le=TOTAL_MAXIMUM)
    mobility_room_toilet: int | None = Field(default=None, ge=0, le=SUBSCORES["mobility_room_toilet"].maximum)
    mobility_indoors_outdoors: int | None = Field(default=None, ge=0,
                                                  le=SUBSCORES["mobility_indoors_outdoors"].maximum)
    #: the instrument of the form; SCIM-IV, SCIM-SR and others are refused, never read as SCIM-III
    instrument: Literal["SCIM-III"] = INSTRUMENT

    @field_validator("instrument", mode="before")
    @classmethod
    def _scim_iii_only(cls, value: object) -> object:
        other = OTHER_INSTRUMENTS.get(str(value).strip().upper().replace(" ", "-"))
        if other is not None:
            raise ValueError(f"{value} is not SCIM-III: {other}; fhirbridge reads SCIM-III only, and would "
                             "misread its scores")
        if value != INSTRUMENT:
            raise ValueError(f"instrument {value!r} is not {INSTRUMENT}, the only instrument fhirbridge reads")
        return value

    @field_validator("items")
    @classmethod
    def _every_item(cls, items: dict[str, int | None]) -> dict[str, int | None]:
        return {key: items.get(key) for key in ITEMS}

    def key(self) -> tuple[str, ...]:
        return (self.study_id, self.subject_id, self.visit)
