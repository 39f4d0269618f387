"""Study and Subject: who the other records belong to."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fhirbridge.domains.isncsci.structure import LEVELS
from fhirbridge.records.base import Record, SubjectRecord
from fhirbridge.records.dates import IsoDate

Sex = Literal["male", "female", "other", "unknown"]


class Study(Record):
    """The trial or registry: identifiers, title, the single treatment arm and where it ran."""

    study_id: str = Field(min_length=1)
    title: str | None = None
    registry_id: str | None = None
    sponsor: str | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    arm_code: str | None = None
    arm: str | None = None
    status: Literal["active", "completed", "withdrawn", "closed"] = "completed"

    def key(self) -> tuple[str, ...]:
        return (self.study_id,)


class Subject(SubjectRecord):
    """A participant: identifiers, demographics and the spinal cord injury that qualified them."""

    site_id: str = Field(min_length=1)
    sex: Sex
    birth_date: IsoDate | None = None
    age: int | None = Field(default=None, ge=0, le=130)
    injury_date: IsoDate | None = None
    injury_level: str | None = None
    enrolment_date: IsoDate | None = None

    @model_validator(mode="after")
    def _known_level(self) -> Subject:
        if self.injury_level is not None and self.injury_level not in LEVELS:
            raise ValueError(f"injury level {self.injury_level!r} is not a neurological level (C1 … S4-5)")
        return self

    def key(self) -> tuple[str, ...]:
        return (self.study_id, self.subject_id)

    @property
    def usubjid(self) -> str:
        """The unique subject identifier across studies (SDTM USUBJID)."""
        return f"{self.study_id}-{self.subject_id}"
