"""Classifying flat exams without building their records (``classify_flat``) is the validated path, only cheaper.

For every exam, valid or spoiled in any of the ways a file can spoil one, ``classify_flat`` returns what
``classify(exam_from_flat(...))`` returns or raises what it raises, with the same errors; valid exams never build a
record. The ``classify`` command reports the same issues as before, and starts without loading the FHIR layers.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fhirbridge import api
from fhirbridge.domains.isncsci import praxis
from fhirbridge.domains.isncsci.classification import classify
from fhirbridge.domains.isncsci.praxis import (
    DAP_KEY,
    VAC_KEY,
    cell_key,
    classify_flat,
    exam_from_flat,
    parse_flat_json,
    totals_flat,
)
from fhirbridge.domains.isncsci.structure import (
    ANAL_VALUES,
    DERMATOMES,
    MOTOR_VALUE,
    MOTOR_VALUES,
    MYOTOMES,
    NON_KEY_MUSCLE_LEVELS,
    SENSORY_VALUE,
    SENSORY_VALUES,
    SIDES,
    cells,
)
from fhirbridge.records import IsncsciClassification

CELL_KEYS = [cell_key(side, modality, level) for side, modality, level in cells()]
NON_KEY_KEYS = [f"{side}LowestNonKeyMuscleWithMotorFunction" for side in SIDES]

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def flat_exams(draw: st.DrawFn) -> dict[str, Any]:
    """A valid exam in the flat layout: any allowed value in every cell, sometimes a non-key muscle, an id.

    The 132 cells come from a seeded generator (one draw) rather than one draw each, which keeps examples cheap.
    """
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    flat: dict[str, Any] = {}
    for side, modality, level in cells():
        flat[cell_key(side, modality, level)] = rng.choice(_MOTOR if modality == "motor" else _SENSORY)
    for key in NON_KEY_KEYS:
        non_key = draw(st.none() | st.just("") | st.sampled_from(NON_KEY_MUSCLE_LEVELS))
        if non_key is not None or draw(st.booleans()):
            flat[key] = non_key
    flat[VAC_KEY] = draw(st.sampled_from(ANAL_VALUES))
    flat[DAP_KEY] = draw(st.sampled_from(ANAL_VALUES))
    if draw(st.booleans()):
        flat["id"] = draw(st.integers(0, 999) | st.text(max_size=3))
    return flat


_MOTOR, _SENSORY = sorted(MOTOR_VALUES), sorted(SENSORY_VALUES)


#: What a file may hold instead of a valid value: readable after conversion (numbers, spaces) or not at all.
ODD_VALUES = st.one_of(
    st.sampled_from(["", " ", "9", "6", "5*", "2*", "3", "NT***", "nt", "Yes", "C5", "T1", "S4-5", "X", "None"]),
    st.sampled_from(sorted(MOTOR_VALUES | {"Yes", "No", "NT", "C5", "S1"})).map(lambda v: f" {v} "),
    st.integers(-1, 6),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.booleans(),
    st.none(),
    st.lists(st.just("2"), max_size=1),
    st.dictionaries(st.just("v"), st.just("2"), max_size=1),
)


@st.composite
def spoiled_flat_exams(draw: st.DrawFn) -> dict[str, Any]:
    """A valid flat exam with one to three keys removed or given an odd value."""
    flat = draw(flat_exams())
    keys = st.sampled_from([*CELL_KEYS, *NON_KEY_KEYS, VAC_KEY, DAP_KEY])
    for key in draw(st.lists(keys, min_size=1, max_size=3, unique=True)):
        if draw(st.booleans()) and key in flat:
            del flat[key]
        else:
            flat[key] = draw(ODD_VALUES)
    return flat


def _outcome(read: Any) -> tuple[str, Any]:
    """A classification, or the exception it raised with everything that makes it up (the errors reported)."""
    try:
        result = read()
    except KeyError as exc:
        return "KeyError", exc.args
    except ValidationError as exc:
        return "ValidationError", exc.errors(include_url=False, include_context=False)
    if isinstance(result, dict):  # a totals object
        return "classified", result
    assert isinstance(result, IsncsciClassification)
    return "classified", result.model_dump(by_alias=True)


def _same_as_validated(flat: dict[str, Any], subject_id: str | None) -> tuple[str, Any]:
    fast = _outcome(lambda: classify_flat(flat, subject_id=subject_id))
    validated = _outcome(lambda: classify(exam_from_flat(flat, subject_id=subject_id)))
    assert fast == validated
    totals = _outcome(lambda: totals_flat(flat, subject_id=subject_id))
    assert totals == validated
    if totals[0] == "classified":  # the keys in the order the record dumps them, as the command prints them
        assert list(totals[1]) == list(validated[1])
    return fast


@PROPERTY
@given(flat=flat_exams(), subject_id=st.none() | st.sampled_from(["S1", " S1 ", "", " "]))
def test_a_valid_exam_is_classified_as_its_validated_record_is(flat: dict[str, Any], subject_id: str | None) -> None:
    kind, _ = _same_as_validated(flat, subject_id)
    assert kind == ("ValidationError" if subject_id is not None and not subject_id.strip() else "classified")


@PROPERTY
@given(flat=spoiled_flat_exams(), subject_id=st.none() | st.just("S1"))
def test_a_spoiled_exam_gives_the_same_result_or_the_same_errors(flat: dict[str, Any], subject_id: str | None) -> None:
    _same_as_validated(flat, subject_id)


def test_spoiled_cells_raise_what_the_record_reports() -> None:
    """The property above, on examples whose outcome is known, so that it cannot pass by never raising."""
    valid = {key: "2" for key in CELL_KEYS} | {key: "5" for key in CELL_KEYS if key.endswith("Motor")}
    valid |= {VAC_KEY: "Yes", DAP_KEY: "No"}
    assert _same_as_validated(valid, "S1")[0] == "classified"
    assert _same_as_validated({**valid, "c5RightMotor": 5, "s4_5LeftTouch": " 2 "}, "S1")[0] == "classified"
    kind, errors = _same_as_validated({**valid, "c5RightMotor": "5*"}, "S1")
    assert kind == "ValidationError" and errors[0]["loc"] == ("motor", "C5")
    kind, errors = _same_as_validated({**valid, "leftLowestNonKeyMuscleWithMotorFunction": "C4"}, "S1")
    assert kind == "ValidationError" and errors[0]["loc"] == ("lowest_non_key_muscle",)
    assert _same_as_validated({k: v for k, v in valid.items() if k != "t4LeftPrick"}, "S1") == (
        "KeyError", ("t4LeftPrick",))


def test_a_valid_exam_builds_no_record(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a record was built")

    valid = {key: "1" for key in CELL_KEYS} | {VAC_KEY: "No", DAP_KEY: "Yes", NON_KEY_KEYS[0]: "L2", "id": "A"}
    expected = classify(exam_from_flat(valid))
    monkeypatch.setattr(praxis, "exam_from_flat", refuse)
    assert classify_flat(valid) == expected
    with pytest.raises(AssertionError, match="a record was built"):
        classify_flat({**valid, "c5RightMotor": "1 "})


@given(value=st.text(alphabet="012345NT* ", max_size=5))
def test_the_sets_of_cell_values_are_the_cell_grammars(value: str) -> None:
    assert (value in MOTOR_VALUES) == bool(MOTOR_VALUE.fullmatch(value))
    assert (value in SENSORY_VALUES) == bool(SENSORY_VALUE.fullmatch(value))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
JSON_TEXT = st.one_of(
    JSON_VALUES.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.text(alphabet='[]{}",:0123456789-+.eEaNInfity\\u \t\n\ufeff', max_size=30).map(str.encode),
    st.binary(max_size=30),
)


def _parsed(parse: Any, data: bytes) -> Any:
    try:
        return "parsed", parse(data)
    except orjson.JSONDecodeError as exc:
        return "error", str(exc)


@settings(max_examples=300, deadline=None)
@given(data=JSON_TEXT)
def test_a_file_of_exams_is_parsed_as_orjson_parses_it(data: bytes) -> None:
    assert _parsed(parse_flat_json, data) == _parsed(orjson.loads, data)


def test_parsing_shares_the_strings_of_one_character() -> None:
    first, second = parse_flat_json(b'[{"c5RightMotor": "5"}, {"c5RightMotor": "5"}]')
    assert first["c5RightMotor"] is second["c5RightMotor"]


def test_classify_reports_the_same_issues_for_every_kind_of_bad_exam(tmp_path: Path) -> None:
    valid = {key: "2" for key in CELL_KEYS} | {key: "5" for key in CELL_KEYS if key.endswith("Motor")}
    valid |= {VAC_KEY: "Yes", DAP_KEY: "Yes"}
    exams: list[Any] = [
        {**valid, "id": "good"},
        {**valid, "id": "bad-cell", "l2LeftMotor": "6"},
        {k: v for k, v in valid.items() if k != DAP_KEY},
        {**valid, "id": "", "s1RightTouch": 2},
        {**valid, "id": "nk", "rightLowestNonKeyMuscleWithMotorFunction": "T13"},
        "not an exam",
    ]
    path = tmp_path / "exams.json"
    path.write_text(json.dumps(exams), encoding="utf-8")
    results, report = api.classify(path)
    assert [label for label, _ in results] == ["good"]
    totals, totals_report = api.classify_totals(path)
    assert totals == [(label, c.model_dump(by_alias=True)) for label, c in results]
    assert totals_report.issues == report.issues
    found = [(i.code, i.target, i.column, i.message) for i in report.issues]
    assert found == [
        ("FB-ISN-003", "$[1]", None, "motor.L2: Value error, motor value '6' is not one of 0-5, NT, with * or ** on "
                                     "0-4 and NT"),
        ("FB-ISN-003", "$[2]", DAP_KEY, f"exam key {DAP_KEY} is missing"),
        ("FB-ISN-003", "$[3]", None, "subject_id: String should have at least 1 character"),
        ("FB-ISN-003", "$[4]", None, "lowest_non_key_muscle: Value error, lowest non-key muscle level 'T13' is not "
                                     "one of C5 … S1"),
        ("FB-ISN-003", "$[5]", None, "not an exam object"),
    ]
    assert all(i.file == str(path) for i in report.issues)


def test_classify_command_starts_without_the_fhir_layers(tmp_path: Path) -> None:
    """Classifying exams needs the engine and the issue kernel, not FHIR, tables or the service."""
    flat = {key: "2" for key in CELL_KEYS} | {key: "5" for key in CELL_KEYS if key.endswith("Motor")}
    path = tmp_path / "exams.json"
    path.write_text(json.dumps([flat | {VAC_KEY: "Yes", DAP_KEY: "Yes"}]), encoding="utf-8")
    script = (
        "import sys\n"
        "from fhirbridge.cli import main\n"
        "try:\n"
        f"    main(['isncsci', 'classify', '--json', {str(path)!r}])\n"
        "finally:\n"
        "    heavy = ('fhir.', 'fhir_core', 'fhirpathpy', 'pandas', 'sqlalchemy', 'fastapi', 'uvicorn', "
        "'fhirbridge.formats.fhir', 'fhirbridge.service', 'fhirbridge.records', 'lxml')\n"
        "    print(sorted(m for m in sys.modules if m.startswith(heavy)), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)[0]["asiaImpairmentScale"] == "E"
    assert run.stderr.strip() == "[]"


@pytest.mark.parametrize("side", SIDES)
def test_every_cell_of_a_side_is_read_in_level_order(side: str) -> None:
    """Each cell lands where the validated record puts it: a distinct marker per level shows up in the result."""
    flat = {key: "5" if key.endswith("Motor") else "2" for key in CELL_KEYS} | {VAC_KEY: "No", DAP_KEY: "No"}
    for level in (*MYOTOMES, *DERMATOMES):
        for modality in ("motor", "light_touch", "pin_prick"):
            if modality == "motor" and level not in MYOTOMES:
                continue
            spoiled = {**flat, cell_key(side, modality, level): "0" if modality == "motor" else "1"}
            _same_as_validated(spoiled, "S1")


def test_totals_keys_are_the_aliases_of_the_classification_fields_in_order() -> None:
    """Totals are printed without importing the model: its keys, written out, are the model's aliases."""
    from fhirbridge.domains.isncsci import classification
    from fhirbridge.records.isncsci import IsncsciClassification

    fields = IsncsciClassification.model_fields
    assert tuple(f.alias or name for name, f in fields.items()) == classification._ALIASES
    assert classification._empty_model()[1] == tuple(fields)
