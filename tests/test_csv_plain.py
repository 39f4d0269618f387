"""The CSV reader's plain builders (``formats/csv/plain.py``) make exactly the record the model validates, and
refuse (give None, so that the model reports the problem) whatever the model refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from fhirbridge.domains.isncsci.structure import DERMATOMES, MYOTOMES
from fhirbridge.domains.scim import ITEMS
from fhirbridge.formats.csv.plain import isncsci_exam, scim_assessment
from fhirbridge.records import IsncsciExam, ScimAssessment, SourceLocation

SOURCE = SourceLocation(file="isncsci.csv", row=7, columns={"visit": "visit"})
#: Texts a cell may hold after reading: valid and invalid ones, other types, spaces, missing.
ODD = [
    "5",
    "5*",
    "4**",
    "NT",
    "NT*",
    "2",
    "1*",
    "3",
    "6",
    "",
    " 3",
    "3 ",
    "nt",
    "A",
    "B,C",
    "C5",
    "C5,C6*",
    "NA",
    "ND",
    "INT",
    "25",
    "26",
    "113",
    "2020-02-30",
    "2020-02",
    " 2020",
    "x",
    None,
    3,
    3.0,
    True,
    "Yes",
    "No",
    "T5",
]


def _exam() -> dict[str, Any]:
    side = {
        "motor": dict.fromkeys(MYOTOMES, "5"),
        "light_touch": dict.fromkeys(DERMATOMES, "2"),
        "pin_prick": dict.fromkeys(DERMATOMES, "2"),
        "lowest_non_key_muscle": None,
    }
    return {
        "study_id": "S1",
        "subject_id": "001",
        "visit": "V1",
        "exam_date": "2020-01-02",
        "examiner": "Dr A",
        "vac": "Yes",
        "dap": "No",
        "right": copy.deepcopy(side),
        "left": copy.deepcopy(side),
        "classification": {"asia_impairment_scale": "D", "upper_motor_total": "50", "right_motor_zpp": None},
    }


def _scim() -> dict[str, Any]:
    return {
        "study_id": "S1",
        "subject_id": "001",
        "visit": "V1",
        "assessment_date": "2020-01",
        "items": {key: max(item.allowed) for key, item in ITEMS.items()},
        "self_care": 20,
        "total": 100,
    }


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any, drop: bool) -> None:
    for part in path[:-1]:
        values = values.setdefault(part, {}) if isinstance(values, dict) else {}
    if not isinstance(values, dict):
        return
    if drop:
        values.pop(path[-1], None)
    else:
        values[path[-1]] = value


_EXAM_PATHS = [
    ("study_id",),
    ("subject_id",),
    ("visit",),
    ("exam_date",),
    ("examiner",),
    ("non_sci_condition",),
    ("vac",),
    ("dap",),
    ("right", "motor", "C5"),
    ("left", "motor", "S1"),
    ("right", "light_touch", "C2"),
    ("left", "pin_prick", "S4-5"),
    ("right", "motor", "T6"),
    ("right", "lowest_non_key_muscle"),
    ("left", "elsewhere"),
    ("classification",),
    ("classification", "asia_impairment_scale"),
    ("classification", "upper_motor_total"),
    ("classification", "right_motor_zpp"),
    ("classification", "neurological_level_of_injury"),
    ("classification", "asiaImpairmentScale"),
    ("extra",),
    ("source",),
    ("right",),
]
_SCIM_PATHS = [
    ("study_id",),
    ("visit",),
    ("assessment_date",),
    ("items", "1"),
    ("items", "2A"),
    ("items", "17"),
    ("items", "18"),
    ("items",),
    ("self_care",),
    ("mobility",),
    ("total",),
    ("mobility_room_toilet",),
    ("instrument",),
    ("extra",),
]

changes = st.lists(
    st.tuples(st.integers(0, 100), st.sampled_from([*ODD, 0, 1, 4, 20, 41, "SCIM-III", "SCIM-IV", {}]), st.booleans()),
    max_size=3,
)


def _dumped(record: BaseModel) -> Any:
    """Everything that tells two records apart: values, field order, fields set, nested models' types."""
    out = {"type": type(record).__name__, "set": sorted(record.model_fields_set), "order": list(record.__dict__)}
    for name, value in record.__dict__.items():
        out[name] = (
            _dumped(value)
            if isinstance(value, BaseModel)
            else list(value.items())
            if isinstance(value, dict)
            else value
        )  # a dict's order too
    return out


def _same_as_model(model: type[BaseModel], plain: Any, values: dict[str, Any]) -> bool:
    """Whether the plain builder accepted ``values``; fails when it disagrees with the model."""
    made = plain(copy.deepcopy(values), SOURCE)
    try:
        expected = model.model_validate({**copy.deepcopy(values), "source": SOURCE})
    except ValidationError:
        assert made is None, f"the plain builder accepted what the model refuses: {values}"
        return False
    if made is None:
        return False
    assert _dumped(made) == _dumped(expected)
    assert made.source is SOURCE and made == expected
    return True


@settings(max_examples=100)
@given(changes)
def test_plain_exam_is_the_model_exam(edits: list[tuple[int, Any, bool]]) -> None:
    values = _exam()
    for where, value, drop in edits:
        _set(values, _EXAM_PATHS[where % len(_EXAM_PATHS)], value, drop)
    _same_as_model(IsncsciExam, isncsci_exam, values)


@settings(max_examples=60)
@given(changes)
def test_plain_scim_is_the_model_scim(edits: list[tuple[int, Any, bool]]) -> None:
    values = _scim()
    for where, value, drop in edits:
        _set(values, _SCIM_PATHS[where % len(_SCIM_PATHS)], value, drop)
    _same_as_model(ScimAssessment, scim_assessment, values)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"classification": {"asia_impairment_scale": None}},  # no value given: the model makes it None
        {"classification": {}},
        {"exam_date": None, "examiner": None},
    ],
)
def test_plain_builders_take_valid_rows(change: dict[str, Any]) -> None:
    """Valid rows do go the plain way (the property tests above would also pass if it refused everything)."""
    assert _same_as_model(IsncsciExam, isncsci_exam, {**_exam(), **change})
    reordered = _exam()  # cells read in another order than the levels': the record has them in the levels' order
    reordered["left"]["motor"] = dict(reversed(reordered["left"]["motor"].items()))
    assert _same_as_model(IsncsciExam, isncsci_exam, {**reordered, **change})
    assert _same_as_model(ScimAssessment, scim_assessment, {**_scim(), "instrument": "SCIM-III"})
    assert _same_as_model(ScimAssessment, scim_assessment, {**_scim(), "items": {"1": 0, "2A": None}})
