"""The ISNCSCI exam as recorded on the worksheet, and its classification."""

from __future__ import annotations

import functools
import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from fhirbridge.domains.isncsci.structure import (
    DERMATOMES,
    LEVELS,
    MOTOR_VALUE,
    MYOTOMES,
    NON_KEY_MUSCLE_LEVELS,
    SENSORY_VALUE,
    AnalValue,
)
from fhirbridge.records.base import SubjectRecord
from fhirbridge.records.dates import IsoDate


def _cell(pattern: re.Pattern[str], what: str, allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{what} value {value!r} is not one of {allowed}")
        return value

    return AfterValidator(check)


MotorCell = Annotated[str, _cell(MOTOR_VALUE, "motor", "0-5, NT, with * or ** on 0-4 and NT")]
SensoryCell = Annotated[str, _cell(SENSORY_VALUE, "sensory", "0-2, NT, with * or ** on 0, 1 and NT")]


def _complete(values: dict[str, str], levels: tuple[str, ...], what: str) -> dict[str, str]:
    unknown = set(values) - set(levels)
    if unknown:
        raise ValueError(f"unknown {what} level(s): {', '.join(sorted(unknown))}")
    missing = [level for level in levels if level not in values]
    if missing:
        raise ValueError(f"{what} value(s) missing for {', '.join(missing)}")
    return {level: values[level] for level in levels}


class IsncsciSide(BaseModel):
    """One side of the worksheet: 10 key muscles, 28 dermatomes twice, and the lowest non-key muscle."""

    model_config = ConfigDict(extra="forbid")

    motor: dict[str, MotorCell]
    light_touch: dict[str, SensoryCell]
    pin_prick: dict[str, SensoryCell]
    lowest_non_key_muscle: str | None = None

    @field_validator("motor")
    @classmethod
    def _motor(cls, v: dict[str, str]) -> dict[str, str]:
        return _complete(v, MYOTOMES, "motor")

    @field_validator("light_touch")
    @classmethod
    def _light_touch(cls, v: dict[str, str]) -> dict[str, str]:
        return _complete(v, DERMATOMES, "light touch")

    @field_validator("pin_prick")
    @classmethod
    def _pin_prick(cls, v: dict[str, str]) -> dict[str, str]:
        return _complete(v, DERMATOMES, "pin prick")

    @field_validator("lowest_non_key_muscle")
    @classmethod
    def _non_key(cls, v: str | None) -> str | None:
        if v is not None and v not in NON_KEY_MUSCLE_LEVELS:
            raise ValueError(f"lowest non-key muscle level {v!r} is not one of C5 … S1")
        return v


_LEVEL = "|".join(re.escape(level) for level in LEVELS)


def _listing(token: str) -> re.Pattern[str]:
    return re.compile(rf"(?:{token})\*?(?:,(?:{token})\*?)*")


_CLASSIFICATION_GRAMMAR: dict[str, tuple[re.Pattern[str], str]] = {
    "ais": (_listing("[A-E]|ND"), "an AIS grade (A-E, or several such as B,C, or ND)"),
    "complete": (_listing("[CI]|ND"), "C (complete) or I (incomplete)"),
    "level": (_listing(f"{_LEVEL}|INT|ND"), "a neurological level (C1 … S4-5, INT or ND)"),
    "zpp": (_listing(f"{_LEVEL}|NA|ND"), "a zone of partial preservation (a level, NA or ND)"),
    "total": (re.compile(r"(?:\d{1,3}|ND)\*?"), "a score (a whole number or ND)"),
}
_TOTAL_MAXIMA = {
    "right_upper_motor_total": 25, "left_upper_motor_total": 25, "right_lower_motor_total": 25,
    "left_lower_motor_total": 25, "right_motor_total": 50, "left_motor_total": 50, "upper_motor_total": 50,
    "lower_motor_total": 50, "right_touch_total": 56, "left_touch_total": 56, "touch_total": 112,
    "right_prick_total": 56, "left_prick_total": 56, "prick_total": 112,
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def classification_problem(field: str, value: str) -> str | None:
    """What is wrong with one value of a classification field (None if nothing): the grammar of its kind (an AIS
    grade, a level, a zone, a score) and a score's maximum. Also what the FHIR checker holds any Observation coded
    as an ISNCSCI value to, whoever wrote it. Kept per
    (field, value): a study's classification values are few distinct ones, met again on every exam."""
    grammar, what = _CLASSIFICATION_GRAMMAR[_kind(field)]
    if not grammar.fullmatch(value):
        return f"{value!r} is not {what}"
    maximum = _TOTAL_MAXIMA.get(field)
    if maximum is not None and value.rstrip("*").isdecimal() and int(value.rstrip("*")) > maximum:
        return f"{value} is more than the maximum of {maximum}"
    return None


def _kind(field: str) -> str:
    if field == "asia_impairment_scale":
        return "ais"
    if field == "injury_complete":
        return "complete"
    if field.endswith("_zpp"):
        return "zpp"
    return "total" if field.endswith("_total") else "level"


class IsncsciClassification(BaseModel):
    """The classification of one exam, as reported by a site or as computed.

    Values are text because the 2019 rules allow answers that are not single values: ``ND`` (not
    determinable), several possibilities (``B,C,D``, ``C5,C6``), a ``*`` where a non-SCI impairment was
    considered, and ``NA`` for a zone of partial preservation that does not apply. Field names follow the
    reference algorithm's ``totals`` object (camelCase aliases).
    """

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    asia_impairment_scale: str | None = None
    injury_complete: str | None = None
    neurological_level_of_injury: str | None = None
    right_sensory: str | None = None
    left_sensory: str | None = None
    right_motor: str | None = None
    left_motor: str | None = None
    right_sensory_zpp: str | None = None
    left_sensory_zpp: str | None = None
    right_motor_zpp: str | None = None
    left_motor_zpp: str | None = None
    right_upper_motor_total: str | None = None
    left_upper_motor_total: str | None = None
    right_lower_motor_total: str | None = None
    left_lower_motor_total: str | None = None
    right_motor_total: str | None = None
    left_motor_total: str | None = None
    upper_motor_total: str | None = None
    lower_motor_total: str | None = None
    right_touch_total: str | None = None
    left_touch_total: str | None = None
    touch_total: str | None = None
    right_prick_total: str | None = None
    left_prick_total: str | None = None
    prick_total: str | None = None

    @field_validator("*")
    @classmethod
    def _grammar(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        problem = classification_problem(info.field_name or "", value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def present(self) -> dict[str, str]:
        """The values that were given, by field name."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class IsncsciExam(SubjectRecord):
    """One ISNCSCI examination: the raw worksheet and, when the site reported one, its classification."""

    visit: str = Field(min_length=1)
    exam_date: IsoDate | None = None
    examiner: str | None = None
    right: IsncsciSide
    left: IsncsciSide
    vac: AnalValue
    dap: AnalValue
    classification: IsncsciClassification | None = None
    #: why values are marked `*`: the non-SCI condition the examiner considered (free text, as on the worksheet)
    non_sci_condition: str | None = None

    @model_validator(mode="after")
    def _no_empty_classification(self) -> IsncsciExam:
        if self.classification is not None and not self.classification.present():
            self.classification = None
        return self

    def key(self) -> tuple[str, ...]:
        return (self.study_id, self.subject_id, self.visit)

    def cell(self, side: str, modality: str, level: str) -> str:
        """One worksheet value, e.g. ``cell("right", "motor", "C5")``."""
        return getattr(getattr(self, side), modality)[level]
