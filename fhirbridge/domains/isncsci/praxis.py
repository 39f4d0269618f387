"""The flat exam layout of the ISNCSCI reference algorithm (praxis-isncsci/algorithm) and its test cases.

One JSON object per exam with one key per cell: ``<level><Side><Modality>`` where the level is lower case with
``S4-5`` written ``s4_5`` (``c5RightMotor``, ``t2LeftTouch``, ``s4_5LeftPrick``), plus ``analContraction``
(VAC), ``analSensation`` (DAP) and ``right``/``leftLowestNonKeyMuscleWithMotorFunction``. The reference's test
cases also carry ``totals`` (the expected classification, keys as the camelCase aliases of
:class:`IsncsciClassification`) and bookkeeping keys (``id``, ``group``, ``comments``, ``note``, ``check``, and
sometimes stray copies of classification values at the top level); only the exam keys are read, so those are
ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

import orjson

from fhirbridge.domains.isncsci.classification import SideCells, classify, classify_cells, totals_of_cells
from fhirbridge.domains.isncsci.structure import (
    ANAL_VALUES,
    DERMATOMES,
    MOTOR_VALUES,
    MYOTOMES,
    NON_KEY_MUSCLE_LEVELS,
    SENSORY_VALUES,
    SIDES,
    Side,
    cell_code,
)

if TYPE_CHECKING:  # imported where a record is built (exams whose cells are as the worksheet allows need none)
    from fhirbridge.records.isncsci import IsncsciClassification, IsncsciExam, IsncsciSide

__all__ = [
    "DAP_KEY",
    "VAC_KEY",
    "cell_key",
    "classification_from_totals",
    "classify_flat",
    "exam_from_flat",
    "flat_from_exam",
    "non_key_muscle_key",
    "parse_flat_json",
    "totals_flat",
    "totals_from_classification",
]

VAC_KEY: Final = "analContraction"
DAP_KEY: Final = "analSensation"

#: The flat key of one cell: ``cell_key("left", "pin_prick", "S4-5") == "s4_5LeftPrick"`` (the reference's names
#: are also fhirbridge's codes for the cells, so there is one definition of them).
cell_key = cell_code


def non_key_muscle_key(side: Side) -> str:
    """The flat key of a side's lowest non-key muscle with motor function."""
    return f"{side}LowestNonKeyMuscleWithMotorFunction"


_KEYS: Final[dict[Side, dict[str, tuple[tuple[str, str], ...]]]] = {
    side: {
        modality: tuple((level, cell_key(side, modality, level)) for level in levels)
        for modality, levels in (("motor", MYOTOMES), ("light_touch", DERMATOMES), ("pin_prick", DERMATOMES))
    }
    for side in SIDES
}


def _text(value: Any) -> str:
    # The reference's files hold every cell as text; numbers written by other tools are accepted too.
    return value.strip() if isinstance(value, str) else str(value)


def _side(d: Mapping[str, Any], side: Side) -> IsncsciSide:
    from fhirbridge.records.isncsci import IsncsciSide

    keys = _KEYS[side]
    non_key = d.get(non_key_muscle_key(side))
    non_key_level = _text(non_key) if non_key is not None else ""
    return IsncsciSide(
        motor={level: _text(d[key]) for level, key in keys["motor"]},
        light_touch={level: _text(d[key]) for level, key in keys["light_touch"]},
        pin_prick={level: _text(d[key]) for level, key in keys["pin_prick"]},
        lowest_non_key_muscle=non_key_level or None,
    )


def exam_from_flat(
    d: Mapping[str, Any],
    *,
    study_id: str = "praxis",
    subject_id: str | None = None,
    visit: str = "baseline",
    include_totals: bool = False,
) -> IsncsciExam:
    """Read one flat exam. Keys other than the exam's are ignored; a missing cell raises ``KeyError``.

    ``subject_id`` defaults to ``case-<id>`` when the object has an ``id`` (as the reference cases do). With
    ``include_totals`` the case's ``totals`` become the exam's reported classification.
    """
    if subject_id is None:
        subject_id = f"case-{d['id']}" if d.get("id") not in (None, "") else "unknown"
    from fhirbridge.records.isncsci import IsncsciExam

    totals = d.get("totals") if include_totals else None
    return IsncsciExam(
        study_id=study_id,
        subject_id=subject_id,
        visit=visit,
        right=_side(d, "right"),
        left=_side(d, "left"),
        vac=_text(d[VAC_KEY]),  # type: ignore[arg-type]
        dap=_text(d[DAP_KEY]),  # type: ignore[arg-type]
        classification=classification_from_totals(totals) if totals else None,
    )


#: Per side: getters of its light touch, pin prick and motor cells in level order, and its non-key muscle key.
_CELL_GETTERS: Final[tuple[tuple[itemgetter[Any], itemgetter[Any], itemgetter[Any], str], ...]] = tuple(
    (
        itemgetter(*(key for _, key in _KEYS[side]["light_touch"])),
        itemgetter(*(key for _, key in _KEYS[side]["pin_prick"])),
        itemgetter(*(key for _, key in _KEYS[side]["motor"])),
        non_key_muscle_key(side),
    )
    for side in SIDES
)
#: What a lowest non-key muscle key may hold to be read as it is: absent, empty, or a level.
_NON_KEY_AS_IS: Final = frozenset((None, "", *NON_KEY_MUSCLE_LEVELS))


def _checked_cells(d: Mapping[str, Any]) -> tuple[SideCells, SideCells, str, str] | None:
    """The exam's cells, right side first, then VAC and DAP, when every one is a value the worksheet allows exactly
    as written (what :func:`exam_from_flat` would accept and keep unchanged); None when any is missing, is not text,
    has spaces around it or is not an allowed value."""
    try:
        sides = []
        for lt_of, pp_of, motor_of, non_key_key in _CELL_GETTERS:
            lt, pp, motor = lt_of(d), pp_of(d), motor_of(d)
            non_key = d.get(non_key_key)
            if not (
                SENSORY_VALUES.issuperset(lt)
                and SENSORY_VALUES.issuperset(pp)
                and MOTOR_VALUES.issuperset(motor)
                and non_key in _NON_KEY_AS_IS
            ):
                return None
            sides.append(SideCells(lt, pp, motor, non_key or None))
        vac, dap = d[VAC_KEY], d[DAP_KEY]
        if vac not in ANAL_VALUES or dap not in ANAL_VALUES:
            return None
    except (KeyError, TypeError):  # a missing key; an unhashable value (a list or an object)
        return None
    return sides[0], sides[1], vac, dap


def _classifiable_cells(d: Mapping[str, Any], subject_id: str | None) -> tuple[SideCells, SideCells, str, str] | None:
    """The exam's checked cells when they can be classified without building the record (see
    :func:`classify_flat`); None when the record must be built."""
    if subject_id is not None and not subject_id.strip():
        return None  # the record refuses a blank subject; building it raises that error
    return _checked_cells(d)


def classify_flat(d: Mapping[str, Any], *, subject_id: str | None = None) -> IsncsciClassification:
    """``classify(exam_from_flat(d, subject_id=subject_id))``, with the same result or the same exception.

    A file of exams is mostly exams whose cells are already exactly as the worksheet allows them; those are checked
    against the sets of allowed values and classified without building the record, whose validation costs more
    than the classification itself. Any other exam is read by :func:`exam_from_flat`, which converts what it can
    (numbers, spaces) and raises on what it cannot.
    """
    cells = _classifiable_cells(d, subject_id)
    if cells is None:
        return classify(exam_from_flat(d, subject_id=subject_id))
    return classify_cells(*cells)


def totals_flat(d: Mapping[str, Any], *, subject_id: str | None = None) -> dict[str, str]:
    """``totals_from_classification(classify_flat(d, subject_id=subject_id))`` without the model in between, for
    callers that only print the reference's ``totals`` objects; the same exceptions as :func:`classify_flat`."""
    cells = _classifiable_cells(d, subject_id)
    if cells is None:
        return totals_from_classification(classify(exam_from_flat(d, subject_id=subject_id)))
    return totals_of_cells(*cells)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_flat_json(data: bytes) -> Any:
    """Parse a JSON file of flat exams exactly as orjson does, raising ``orjson.JSONDecodeError`` on invalid JSON.

    Most cells of most exams are one character (``0`` … ``5``). The standard library's parser returns the shared
    string object for those and reuses key strings, where orjson allocates a new string for every value: on a file
    of exams that makes the standard parser the faster one once the exams are classified too (fewer objects to
    allocate, free and walk through; about a tenth of the time of loading and classifying 20,000 exams). Numbers are
    read by orjson; text with ``\\u`` escapes, and whatever the standard parser refuses or would accept unlike
    orjson (NaN, Infinity), is parsed by orjson, so that values and errors are those of any other JSON input.
    """
    if b"\\u" not in data:
        try:
            return json.loads(data.decode("utf-8"), parse_int=orjson.loads, parse_float=orjson.loads,
                              parse_constant=_no_constant)  # fmt: skip
        except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            pass
    return orjson.loads(data)


def flat_from_exam(exam: IsncsciExam) -> dict[str, str]:
    """Write one exam in the flat layout; a lowest non-key muscle key is written only when one is recorded."""
    out: dict[str, str] = {VAC_KEY: exam.vac, DAP_KEY: exam.dap}
    for side_name in SIDES:
        side: IsncsciSide = getattr(exam, side_name)
        keys = _KEYS[side_name]
        for modality in ("motor", "light_touch", "pin_prick"):
            cells: dict[str, str] = getattr(side, modality)
            for level, key in keys[modality]:
                out[key] = cells[level]
        if side.lowest_non_key_muscle is not None:
            out[non_key_muscle_key(side_name)] = side.lowest_non_key_muscle
    return out


def classification_from_totals(totals: Mapping[str, Any]) -> IsncsciClassification:
    """A reference ``totals`` object as a classification (unknown keys, such as ``…ContainsNt``, are dropped)."""
    from fhirbridge.records.isncsci import IsncsciClassification

    fields = IsncsciClassification.model_fields
    known = {f.alias for f in fields.values()} | set(fields)
    return IsncsciClassification.model_validate({k: _text(v) for k, v in totals.items() if k in known})


def totals_from_classification(classification: IsncsciClassification) -> dict[str, str]:
    """A classification as a reference ``totals`` object (camelCase keys; values not given are left out)."""
    return classification.model_dump(by_alias=True, exclude_none=True)
