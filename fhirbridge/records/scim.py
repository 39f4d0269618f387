"""A SCIM-III assessment: the 19 item scores and the subscale and total scores reported with them."""

from __future__ import annotations

from pydantic import Field, field_validator

from fhirbridge.domains.scim import ITEMS, SUBSCALES, TOTAL_MAXIMUM
from fhirbridge.records.base import SubjectRecord
from fhirbridge.records.dates import IsoDate


class ScimAssessment(SubjectRecord):
    """Item scores are keyed by item number (``1``, ``2A`` … ``17``); a missing item is ``None``."""

    visit: str = Field(min_length=1)
    assessment_date: IsoDate | None = None
    items: dict[str, int | None]
    self_care: int | None = Field(default=None, ge=0, le=SUBSCALES["self_care"].maximum)
    respiration_sphincter: int | None = Field(default=None, ge=0, le=SUBSCALES["respiration_sphincter"].maximum)
    mobility: int | None = Field(default=None, ge=0, le=SUBSCALES["mobility"].maximum)
    total: int | None = Field(default=None, ge=0, le=TOTAL_MAXIMUM)

    @field_validator("items")
    @classmethod
    def _allowed(cls, items: dict[str, int | None]) -> dict[str, int | None]:
        unknown = set(items) - set(ITEMS)
        if unknown:
            raise ValueError(f"unknown SCIM-III item(s): {', '.join(sorted(unknown))}")
        for key, score in items.items():
            if score is not None and score not in ITEMS[key].allowed:
                allowed = ", ".join(map(str, ITEMS[key].allowed))
                raise ValueError(f"item {key} ({ITEMS[key].title}) score {score} is not one of {allowed}")
        return {key: items.get(key) for key in ITEMS}

    def key(self) -> tuple[str, ...]:
        return (self.study_id, self.subject_id, self.visit)
