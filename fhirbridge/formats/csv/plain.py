"""Records of plain CSV rows made without pydantic's per-cell validators.

An ISNCSCI exam is 132 worksheet cells, each with its own validator in the record model, and a SCIM-III
assessment 19 items: validating them cell by cell was about half of the time spent reading a CSV export. Here a
row's values are tested against the same grammars in one pass (a set of allowed values per cell, the date and
score checks the models use), and when *everything* passes the record is made with ``model_construct``: the
record ``model_validate`` would have made, field for field (same values, same order, same fields set).

Anything else (a bad cell, an unexpected field, text with spaces around it, a value of another type) gives
None, and the caller validates the row with the model as before: every problem is reported by the model's own
validators, with the same messages. These builders only ever accept less than the models do;
``tests/test_csv_plain.py`` compares both on generated rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from fhirbridge.domains.isncsci.structure import (
    ANAL_VALUES,
    DERMATOMES,
    MOTOR_VALUES,
    MYOTOMES,
    NON_KEY_MUSCLE_LEVELS,
    SENSORY_VALUES,
)
from fhirbridge.domains.scim import INSTRUMENT, ITEMS, SUBSCALES, SUBSCORES, TOTAL_MAXIMUM
from fhirbridge.records.dates import check_date
from fhirbridge.records.isncsci import IsncsciClassification, IsncsciExam, IsncsciSide, classification_problem
from fhirbridge.records.scim import ScimAssessment
from fhirbridge.records.source import SourceLocation

#: A builder: the values of a row (nested dicts, as ``rows.read_record`` makes them) and the row's source, to a
#: record, or None when the model must validate them.
Plain = Callable[[dict[str, Any], SourceLocation], Any]

_KEYS = ("study_id", "subject_id", "visit")


class _Maker:
    """``model_construct`` of one model, without its search through aliases and defaults for each record: the
    same ``__dict__`` (every field, in the model's order, a default where none is given) and fields set."""

    def __init__(self, model: type[BaseModel]) -> None:
        if model.__pydantic_post_init__ or model.__pydantic_root_model__ or model.model_config.get("extra") == "allow":
            raise TypeError(f"{model.__name__}: model_construct does more than this")
        self.model = model
        self.defaults: dict[str, Any] = {}
        for name, field in model.model_fields.items():
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            if not isinstance(default, str | int | None):  # shared by every record made: immutable only
                raise TypeError(f"{model.__name__}.{name}: a default that is not immutable")
            self.defaults[name] = default

    def __call__(self, given: dict[str, Any]) -> Any:
        """The model of ``given`` (every required field given, every value valid)."""
        made = self.model.__new__(self.model)
        fields = {name: given.get(name, default) for name, default in self.defaults.items()}
        object.__setattr__(made, "__dict__", fields)
        object.__setattr__(made, "__pydantic_fields_set__", set(given))
        object.__setattr__(made, "__pydantic_extra__", None)
        object.__setattr__(made, "__pydantic_private__", None)
        return made


def _text(value: Any) -> bool:
    """A non-empty text the model keeps as it is (``str_strip_whitespace`` would change one with spaces)."""
    return type(value) is str and value != "" and value == value.strip()


def _optional_text(value: Any) -> bool:
    return value is None or (type(value) is str and value == value.strip())


def _date(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is not str or value != value.strip():
        return False
    try:
        check_date(value)
    except ValueError:
        return False
    return True


# ISNCSCI exams ---------------------------------------------------------------------------------------------

_EXAM_FIELDS = frozenset(IsncsciExam.model_fields)
_SIDE_FIELDS = frozenset(IsncsciSide.model_fields)
_CLASSIFICATION_FIELDS = frozenset(IsncsciClassification.model_fields)
_MYOTOMES, _DERMATOMES = frozenset(MYOTOMES), frozenset(DERMATOMES)
_NON_KEY = frozenset(NON_KEY_MUSCLE_LEVELS)
_exam, _side_model, _classification_model = _Maker(IsncsciExam), _Maker(IsncsciSide), _Maker(IsncsciClassification)


def _classified(field: str, value: str) -> bool:
    """A classification value passes (``classification_problem`` keeps its answers)."""
    return classification_problem(field, value) is None


def _cells(
    values: Any, levels: tuple[str, ...], every: frozenset[str], allowed: frozenset[str]
) -> dict[str, str] | None:
    """The cells of one modality in the order of its levels, when each level is there once with a valid value."""
    if type(values) is not dict:
        return None
    if tuple(values) != levels:  # read in another order (or not every level): in order, as the model makes it
        if len(values) != len(levels) or values.keys() != every:
            return None
        values = {level: values[level] for level in levels}
    # a value equal to an allowed text is that text: only str values come from reading (never a subclass)
    return values if allowed.issuperset(values.values()) else None


def _side(values: Any) -> IsncsciSide | None:
    if type(values) is not dict or not values.keys() <= _SIDE_FIELDS:
        return None
    motor = _cells(values.get("motor"), MYOTOMES, _MYOTOMES, MOTOR_VALUES)
    touch = _cells(values.get("light_touch"), DERMATOMES, _DERMATOMES, SENSORY_VALUES)
    prick = _cells(values.get("pin_prick"), DERMATOMES, _DERMATOMES, SENSORY_VALUES)
    if motor is None or touch is None or prick is None:
        return None
    fields: dict[str, Any] = {"motor": motor, "light_touch": touch, "pin_prick": prick}
    if "lowest_non_key_muscle" in values:
        lowest = values["lowest_non_key_muscle"]
        if lowest is not None and (type(lowest) is not str or lowest not in _NON_KEY):
            return None
        fields["lowest_non_key_muscle"] = lowest
    return _side_model(fields)


def _classification(values: Any) -> IsncsciClassification | bool | None:
    """The classification (None when no value is given, as the exam's model makes it); False when the model
    must validate it."""
    if type(values) is not dict or not values.keys() <= _CLASSIFICATION_FIELDS:
        return False
    given = False
    for field, value in values.items():
        if value is None:
            continue
        if type(value) is not str or not _classified(field, value):
            return False
        given = True
    return _classification_model(values) if given else None


def isncsci_exam(values: dict[str, Any], source: SourceLocation) -> IsncsciExam | None:
    """``IsncsciExam.model_validate({**values, "source": source})`` when the values all pass, else None."""
    if not values.keys() <= _EXAM_FIELDS or "source" in values:
        return None
    if not all(_text(values.get(key)) for key in _KEYS):
        return None
    if not (
        _date(values.get("exam_date"))
        and _optional_text(values.get("examiner"))
        and _optional_text(values.get("non_sci_condition"))
    ):
        return None
    vac, dap = values.get("vac"), values.get("dap")
    if type(vac) is not str or vac not in ANAL_VALUES or type(dap) is not str or dap not in ANAL_VALUES:
        return None
    right, left = _side(values.get("right")), _side(values.get("left"))
    if right is None or left is None:
        return None
    fields = {**values, "source": source, "right": right, "left": left}
    if "classification" in values:
        classification = _classification(values["classification"])
        if classification is False:
            return None
        fields["classification"] = classification
    return _exam(fields)  # type: ignore[no-any-return]


# SCIM-III assessments --------------------------------------------------------------------------------------

_SCIM_FIELDS = frozenset(ScimAssessment.model_fields)
_scim = _Maker(ScimAssessment)
_ALLOWED = {key: frozenset(item.allowed) for key, item in ITEMS.items()}
_MAXIMA = {
    **{key: subscale.maximum for key, subscale in SUBSCALES.items()},
    **{key: subscore.maximum for key, subscore in SUBSCORES.items()},
    "total": TOTAL_MAXIMUM,
}


def scim_assessment(values: dict[str, Any], source: SourceLocation) -> ScimAssessment | None:
    """``ScimAssessment.model_validate({**values, "source": source})`` when the values all pass, else None."""
    if not values.keys() <= _SCIM_FIELDS or "source" in values:
        return None
    if not all(_text(values.get(key)) for key in _KEYS) or not _date(values.get("assessment_date")):
        return None
    if values.get("instrument", INSTRUMENT) != INSTRUMENT or type(values.get("instrument", INSTRUMENT)) is not str:
        return None
    items = values.get("items")
    if type(items) is not dict or not items.keys() <= _ALLOWED.keys():
        return None
    for key, score in items.items():
        if score is not None and (type(score) is not int or score not in _ALLOWED[key]):
            return None
    for key, maximum in _MAXIMA.items():
        score = values.get(key)
        if score is not None and (type(score) is not int or not 0 <= score <= maximum):
            return None
    return _scim({**values, "source": source, "items": {key: items.get(key) for key in ITEMS}})  # type: ignore[no-any-return]


#: The builders, by record kind of the CSV layout.
BUILDERS: dict[str, Plain] = {"isncsci_exam": isncsci_exam, "scim_assessment": scim_assessment}
