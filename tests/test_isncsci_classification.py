"""The ISNCSCI classification engine against the reference algorithm.

(a) the 2019 cases of praxis-isncsci/algorithm must match on every field of ``totals``; (b) properties that hold for
every valid exam; (c) when node and the npm package ``isncsci`` 2.0.6 are installed, a few thousand generated exams
compared with the reference implementation itself.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirbridge.domains.isncsci.classification import classify, decide_ais, explain_ais
from fhirbridge.domains.isncsci.praxis import (
    DAP_KEY,
    VAC_KEY,
    cell_key,
    classification_from_totals,
    exam_from_flat,
    flat_from_exam,
    totals_from_classification,
)
from fhirbridge.domains.isncsci.structure import (
    DERMATOMES,
    LEVEL_INDEX,
    LOWER_MYOTOMES,
    MOTOR_VALUE,
    MYOTOMES,
    NON_KEY_MUSCLE_LEVELS,
    SENSORY_VALUE,
    SIDES,
    UPPER_MYOTOMES,
)
from fhirbridge.records.isncsci import IsncsciClassification, IsncsciExam, IsncsciSide

REPO = Path(__file__).resolve().parents[1]
CASES_PATH = Path(__file__).resolve().parents[2] / "shared/reference/isncsci/praxis-2019-cases.json"
FIELDS = tuple(f.alias for f in IsncsciClassification.model_fields.values())

# Every valid cell value, plain grades first.
MOTOR_VALUES = ["0", "1", "2", "3", "4", "5", "NT", "0*", "1*", "2*", "3*", "4*", "NT*", "0**", "1**", "2**", "3**",
                "4**", "NT**"]  # fmt: skip
SENSORY_VALUES = ["0", "1", "2", "NT", "0*", "1*", "NT*", "0**", "1**", "NT**"]
ANAL = ["Yes", "No", "NT"]


def _load_cases() -> list[dict[str, Any]]:
    if not CASES_PATH.exists():
        return []
    return json.loads(CASES_PATH.read_text(encoding="utf-8"))


CASES = _load_cases()
_NO_CASES = pytest.param(
    None, marks=pytest.mark.skip(reason=f"reference cases not found at {CASES_PATH} (../shared beside the repository)")
)


def _exam(right: IsncsciSide, left: IsncsciSide | None = None, vac: str = "Yes", dap: str = "Yes") -> IsncsciExam:
    return IsncsciExam(study_id="S", subject_id="X", visit="V", right=right, left=left or right, vac=vac, dap=dap)


def _side(motor: str = "5", sensory: str = "2", **cells: str) -> IsncsciSide:
    """A side with every cell set to ``motor``/``sensory`` except those given as ``motor_C5="3"``, ``lt_T4="1"``…"""
    values: dict[str, dict[str, str]] = {
        "motor": dict.fromkeys(MYOTOMES, motor),
        "light_touch": dict.fromkeys(DERMATOMES, sensory),
        "pin_prick": dict.fromkeys(DERMATOMES, sensory),
    }
    names = {"motor": "motor", "lt": "light_touch", "pp": "pin_prick"}
    for key, value in cells.items():
        modality, level = key.split("_", 1)
        values[names[modality]][level.replace("_", "-")] = value
    return IsncsciSide(**values)


# ----------------------------------------------------------------------------------------------------------------
# (a) the reference's 2019 cases
# ----------------------------------------------------------------------------------------------------------------


def test_value_lists_are_the_whole_grammar() -> None:
    assert all(MOTOR_VALUE.fullmatch(v) for v in MOTOR_VALUES) and len(set(MOTOR_VALUES)) == 19
    assert all(SENSORY_VALUE.fullmatch(v) for v in SENSORY_VALUES) and len(set(SENSORY_VALUES)) == 10


def test_reference_cases_are_all_there() -> None:
    if not CASES:
        pytest.skip(f"reference cases not found at {CASES_PATH}")
    assert len(CASES) == 128
    assert len({c["id"] for c in CASES}) == 128


@pytest.mark.parametrize("case", CASES or [_NO_CASES], ids=lambda c: f"case-{c['id']}" if c else "no-cases")
def test_reference_case(case: dict[str, Any]) -> None:
    expected = case["totals"]
    assert set(expected) == set(FIELDS)
    computed = totals_from_classification(classify(exam_from_flat(case)))
    wrong = {k: (v, computed.get(k)) for k, v in expected.items() if computed.get(k) != v}
    assert not wrong, f"case {case['id']}: field: (reference, computed) {wrong}"


@pytest.mark.parametrize("case", CASES or [_NO_CASES], ids=lambda c: f"case-{c['id']}" if c else "no-cases")
def test_flat_layout_round_trip(case: dict[str, Any]) -> None:
    exam = exam_from_flat(case, include_totals=True)
    flat = flat_from_exam(exam)
    exam_keys = {k: v for k, v in case.items() if k in flat}
    assert flat == {k: v for k, v in exam_keys.items() if v != ""}
    assert exam.classification is not None
    assert totals_from_classification(exam.classification) == case["totals"]
    assert explain_ais(exam).startswith(f"AIS {case['totals']['asiaImpairmentScale']} — ")


def test_flat_layout_ignores_stray_keys_and_reads_empty_non_key_muscle_as_none() -> None:
    flat = flat_from_exam(_exam(_side()))
    flat |= {
        "id": 7, "group": "g", "comments": "c", "note": "n", "check": "x", "asiaImpairmentScale": "B*",
        "leftMotor": "C6", "rightSensory": "C5", "totals": {"leftMotor": "INT"},
        "rightLowestNonKeyMuscleWithMotorFunction": "", "leftLowestNonKeyMuscleWithMotorFunction": "L3",
    }  # fmt: skip
    exam = exam_from_flat(flat)
    assert exam.subject_id == "case-7"
    assert exam.classification is None
    assert exam.right.lowest_non_key_muscle is None
    assert exam.left.lowest_non_key_muscle == "L3"
    assert cell_key("left", "pin_prick", "S4-5") == "s4_5LeftPrick"
    assert flat_from_exam(exam)["leftLowestNonKeyMuscleWithMotorFunction"] == "L3"
    assert "rightLowestNonKeyMuscleWithMotorFunction" not in flat_from_exam(exam)
    assert classification_from_totals({"asiaImpairmentScale": "A", "rightUpperMotorContainsNt": False}) == (
        IsncsciClassification(asia_impairment_scale="A")
    )


# ----------------------------------------------------------------------------------------------------------------
# Known answers
# ----------------------------------------------------------------------------------------------------------------


def test_all_normal_exam_is_e_with_level_int() -> None:
    # The reference reports an exam without any deficit as E (the 2019 standards keep E for a prior deficit, but
    # the algorithm does not know the history): every level INT, both ZPPs NA, full scores.
    c = classify(_exam(_side()))
    assert c.asia_impairment_scale == "E"
    assert c.injury_complete == "I"
    assert c.neurological_level_of_injury == "INT"
    assert (c.right_sensory, c.left_sensory, c.right_motor, c.left_motor) == ("INT",) * 4
    assert (c.right_sensory_zpp, c.left_sensory_zpp, c.right_motor_zpp, c.left_motor_zpp) == ("NA",) * 4
    assert (c.upper_motor_total, c.lower_motor_total, c.touch_total, c.prick_total) == ("50", "50", "112", "112")
    assert explain_ais(_exam(_side())).startswith("AIS E — sensation and motor function are normal")


def test_complete_injury_is_a() -> None:
    below_c6 = {f"{m}_{level}": "0" for level in DERMATOMES[5:] for m in ("lt", "pp")}
    side = _side(**below_c6, **{f"motor_{m}": "0" for m in MYOTOMES[2:]})
    c = classify(_exam(side, vac="No", dap="No"))
    assert (c.asia_impairment_scale, c.injury_complete) == ("A", "C")
    assert (c.right_sensory, c.right_motor, c.neurological_level_of_injury) == ("C6", "C6", "C6")
    assert (c.right_sensory_zpp, c.right_motor_zpp) == ("C6", "C6")
    decision = decide_ais(_exam(side, vac="No", dap="No"))
    assert decision.findings[0] == ("A", "no sacral sparing (VAC No, DAP No, S4-5 light touch/pin prick 0, 0, 0, 0)")


def test_nt_makes_totals_not_determinable_and_levels_uncertain() -> None:
    c = classify(_exam(_side(lt_C5="NT")))
    assert c.right_touch_total == c.left_touch_total == c.touch_total == "ND"
    assert c.prick_total == "112"
    assert c.right_sensory == "C4,INT"


# ----------------------------------------------------------------------------------------------------------------
# (b) properties of every valid exam
# ----------------------------------------------------------------------------------------------------------------


@st.composite
def sides(draw: st.DrawFn, *, odd: bool = True) -> IsncsciSide:
    """A side shaped like a real exam (normal down to an injury level, then a zone, then mostly absent), with NT
    and starred cells sprinkled in when ``odd``. The cells come from a Random seeded by hypothesis: drawing the 66
    cells one by one would make generation many times slower for little shrinking benefit."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    cut = draw(st.integers(1, len(DERMATOMES) + 1))
    zone = draw(st.integers(0, 5))
    odd_rate = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0])) if odd else 0.0

    def cell(level: str, motor: bool) -> str:
        grades = ["0", "1", "2", "3", "4", "5"] if motor else ["0", "1", "2"]
        if rng.random() < odd_rate:
            return rng.choice(MOTOR_VALUES if motor else SENSORY_VALUES)
        index = LEVEL_INDEX[level]
        if index < cut:
            return grades[-1]
        if index <= cut + zone:
            return rng.choice(grades)
        return rng.choice(["0", "0", "0", "1"])

    return IsncsciSide(
        motor={m: cell(m, True) for m in MYOTOMES},
        light_touch={d: cell(d, False) for d in DERMATOMES},
        pin_prick={d: cell(d, False) for d in DERMATOMES},
        lowest_non_key_muscle=draw(st.none() | st.sampled_from(NON_KEY_MUSCLE_LEVELS)),
    )


def exams(*, odd: bool = True) -> st.SearchStrategy[IsncsciExam]:
    anal = st.sampled_from(ANAL if odd else ["Yes", "No"])
    return st.builds(
        IsncsciExam,
        study_id=st.just("S"),
        subject_id=st.just("X"),
        visit=st.just("V"),
        right=sides(odd=odd),
        left=sides(odd=odd),
        vac=anal,
        dap=anal,
    )


@st.composite
def any_sides(draw: st.DrawFn) -> IsncsciSide:
    """Any combination of valid cell values at all, however implausible."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    return IsncsciSide(
        motor={m: rng.choice(MOTOR_VALUES) for m in MYOTOMES},
        light_touch={d: rng.choice(SENSORY_VALUES) for d in DERMATOMES},
        pin_prick={d: rng.choice(SENSORY_VALUES) for d in DERMATOMES},
        lowest_non_key_muscle=draw(st.none() | st.sampled_from(NON_KEY_MUSCLE_LEVELS)),
    )


PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _levels(value: str) -> list[int]:
    """Positions of a listed level result (``C5,C6*,INT``), INT after S4-5; fails on an unknown level."""
    return [len(LEVEL_INDEX) if p.rstrip("*") == "INT" else LEVEL_INDEX[p.rstrip("*")] for p in value.split(",")]


@PROPERTY
@given(exam=exams() | st.builds(IsncsciExam, study_id=st.just("S"), subject_id=st.just("X"), visit=st.just("V"),
                                right=any_sides(), left=any_sides(), vac=st.sampled_from(ANAL),
                                dap=st.sampled_from(ANAL)))  # fmt: skip
def test_classify_never_raises_and_fills_every_field_in_the_hub_grammar(exam: IsncsciExam) -> None:
    c = classify(exam)
    dumped = c.model_dump()
    assert all(isinstance(v, str) and v for v in dumped.values()), dumped
    # The hub's own validator accepts what the engine computes.
    assert IsncsciClassification.model_validate(dumped) == c
    decision = decide_ais(exam)
    assert decision.grade == c.asia_impairment_scale
    assert explain_ais(exam).startswith(f"AIS {c.asia_impairment_scale} — ")


@PROPERTY
@given(exam=exams())
def test_levels_are_known_levels_or_int_in_order(exam: IsncsciExam) -> None:
    c = classify(exam)
    for value in (c.right_sensory, c.left_sensory, c.right_motor, c.left_motor, c.neurological_level_of_injury):
        positions = _levels(value)
        assert positions == sorted(set(positions)), value
    for value in (c.right_sensory_zpp, c.left_sensory_zpp, c.right_motor_zpp, c.left_motor_zpp):
        listed = value.split(",")
        assert "NA" not in listed[1:], value
        positions = [LEVEL_INDEX[p.rstrip("*")] for p in listed if p != "NA"]
        assert positions == sorted(set(positions)), value
    if exam.vac == "Yes":
        assert c.right_motor_zpp == c.left_motor_zpp == "NA"
    if exam.dap == "Yes":
        assert c.right_sensory_zpp == c.left_sensory_zpp == "NA"


def _points(values: list[str]) -> str:
    if any(v.startswith("NT") for v in values):
        return "ND"
    return str(sum(int(v.rstrip("*")) for v in values))


@PROPERTY
@given(exam=exams())
def test_totals_are_sums_of_the_cells(exam: IsncsciExam) -> None:
    c = classify(exam)
    r, lft = exam.right, exam.left
    upper = [[s.motor[m] for m in UPPER_MYOTOMES] for s in (r, lft)]
    lower = [[s.motor[m] for m in LOWER_MYOTOMES] for s in (r, lft)]
    assert c.right_upper_motor_total == _points(upper[0])
    assert c.left_lower_motor_total == _points(lower[1])
    assert c.right_motor_total == _points(upper[0] + lower[0])
    assert c.left_motor_total == _points(upper[1] + lower[1])
    assert c.upper_motor_total == _points(upper[0] + upper[1])
    assert c.lower_motor_total == _points(lower[0] + lower[1])
    assert c.right_touch_total == _points(list(r.light_touch.values()))
    assert c.touch_total == _points([*r.light_touch.values(), *lft.light_touch.values()])
    assert c.left_prick_total == _points(list(lft.pin_prick.values()))
    assert c.prick_total == _points([*r.pin_prick.values(), *lft.pin_prick.values()])


@PROPERTY
@given(exam=exams(odd=False))
def test_without_nt_or_stars_ais_a_iff_complete_and_nothing_is_starred(exam: IsncsciExam) -> None:
    c = classify(exam)
    assert (c.asia_impairment_scale == "A") == (c.injury_complete == "C")
    assert c.injury_complete in ("C", "I")
    assert all("*" not in v and "ND" not in v for v in c.model_dump().values())
    if c.right_upper_motor_total != "ND":
        assert int(c.right_motor_total) == int(c.right_upper_motor_total) + int(c.right_lower_motor_total)


@PROPERTY
@given(level=st.sampled_from(DERMATOMES), value=st.sampled_from(["0**", "1**"]), modality=st.sampled_from(["lt", "pp"]))
def test_normal_exam_with_a_cell_considered_normal_is_e_star(level: str, value: str, modality: str) -> None:
    # In the reference a double star means "impaired for a reason other than the SCI, consider normal": the exam
    # stays E, flagged with * because it relies on that cell (the reference's case 28).
    c = classify(_exam(_side(**{f"{modality}_{level.replace('-', '_')}": value})))
    assert c.asia_impairment_scale == "E*"
    assert c.neurological_level_of_injury == "INT*"


def test_a_cell_considered_not_normal_counts_as_impaired() -> None:
    # A single star means "consider not normal": 1* at C6 ends the sensory level at C5 like a 1 would.
    c = classify(_exam(_side(lt_C6="1*"), _side()))
    assert c.right_sensory == "C5"
    assert c.asia_impairment_scale == "D"


# ----------------------------------------------------------------------------------------------------------------
# (c) the reference implementation itself (npm package isncsci 2.0.6), when installed
# ----------------------------------------------------------------------------------------------------------------

_ORACLE_JS = r"""
const { ISNCSCI } = require(process.argv[2]);
const motor = %(motor)s, derm = %(derm)s;
const side = (c, s) => {
  const o = { motor: {}, lightTouch: {}, pinPrick: {} };
  for (const m of motor) o.motor[m] = c[m.toLowerCase() + s + 'Motor'];
  for (const d of derm) {
    const k = d.toLowerCase();
    o.lightTouch[d] = c[k + s + 'Touch'];
    o.pinPrick[d] = c[k + s + 'Prick'];
  }
  const nk = c[s.toLowerCase() + 'LowestNonKeyMuscleWithMotorFunction'];
  if (nk) o.lowestNonKeyMuscleWithMotorFunction = nk;
  return o;
};
let buf = '';
process.stdin.on('data', d => buf += d);
process.stdin.on('end', () => {
  const out = JSON.parse(buf).map(c => {
    const r = new ISNCSCI({ right: side(c, 'Right'), left: side(c, 'Left'),
                            voluntaryAnalContraction: c.analContraction, deepAnalPressure: c.analSensation });
    const k = r.classification, t = r.totals, lv = k.neurologicalLevels, z = k.zoneOfPartialPreservations;
    return {
      rightUpperMotorTotal: t.right.upperExtremity, leftUpperMotorTotal: t.left.upperExtremity,
      rightLowerMotorTotal: t.right.lowerExtremity, leftLowerMotorTotal: t.left.lowerExtremity,
      rightTouchTotal: t.right.lightTouch, leftTouchTotal: t.left.lightTouch,
      rightPrickTotal: t.right.pinPrick, leftPrickTotal: t.left.pinPrick,
      rightMotorTotal: t.right.motor, leftMotorTotal: t.left.motor,
      upperMotorTotal: t.upperExtremity, lowerMotorTotal: t.lowerExtremity,
      touchTotal: t.lightTouch, prickTotal: t.pinPrick,
      rightSensory: lv.sensoryRight, leftSensory: lv.sensoryLeft, rightMotor: lv.motorRight, leftMotor: lv.motorLeft,
      neurologicalLevelOfInjury: k.neurologicalLevelOfInjury,
      rightSensoryZpp: z.sensoryRight, leftSensoryZpp: z.sensoryLeft,
      rightMotorZpp: z.motorRight, leftMotorZpp: z.motorLeft,
      asiaImpairmentScale: k.ASIAImpairmentScale, injuryComplete: k.injuryComplete,
    };
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def _reference_package() -> Path | None:
    """The installed npm package ``isncsci``: $ISNCSCI_REFERENCE (the package folder or a node_modules folder),
    the repository's git-ignored node_modules/, or whatever node itself resolves."""
    candidates = []
    if os.environ.get("ISNCSCI_REFERENCE"):
        given_path = Path(os.environ["ISNCSCI_REFERENCE"])
        candidates += [given_path / "node_modules" / "isncsci", given_path / "isncsci", given_path]
    candidates.append(REPO / "node_modules" / "isncsci")
    for candidate in candidates:
        manifest = candidate / "package.json"
        if manifest.exists() and json.loads(manifest.read_text(encoding="utf-8")).get("name") == "isncsci":
            return candidate
    node = shutil.which("node")
    if node:
        found = subprocess.run([node, "-p", "require.resolve('isncsci/package.json')"], cwd=REPO,
                               capture_output=True, text=True, check=False)  # fmt: skip
        if found.returncode == 0:
            return Path(found.stdout.strip()).parent
    return None


def _reference_exam(rng: random.Random) -> dict[str, str]:
    """A random exam in the flat layout: shaped like a real one (complete, sensory incomplete, normal) or any
    mixture of values, with NT and stars at a random rate."""
    mode = rng.choice(["random", "complete", "sensory", "normal", "shaped"])
    odd = rng.choice([0.0, 0.0, 0.02, 0.1, 0.3, 1.0])
    first = rng.randrange(1, len(DERMATOMES) + 2)
    flat: dict[str, str] = {}
    for side in SIDES:
        cut = first if rng.random() < 0.5 else max(1, first + rng.randint(-3, 3))
        zone = rng.randint(0, 4)

        def cell(level: str, motor: bool, cut: int = cut, zone: int = zone) -> str:
            i = LEVEL_INDEX[level]
            grades = ["0", "1", "2", "3", "4", "5"] if motor else ["0", "1", "2"]
            if rng.random() < odd:
                return rng.choice(MOTOR_VALUES if motor else SENSORY_VALUES)
            if mode == "random":
                return rng.choice(grades)
            if mode == "normal" or i < cut:
                return grades[-1]
            if i <= cut + zone:
                return rng.choice(grades)
            if mode == "sensory" and not motor and rng.random() < 0.5:
                return rng.choice(["1", "2"])
            return "0" if mode != "shaped" else rng.choice(["0", "0", *grades])

        for m in MYOTOMES:
            flat[cell_key(side, "motor", m)] = cell(m, True)
        for d in DERMATOMES:
            flat[cell_key(side, "light_touch", d)] = cell(d, False)
            flat[cell_key(side, "pin_prick", d)] = cell(d, False)
        if rng.random() < 0.3:
            flat[f"{side}LowestNonKeyMuscleWithMotorFunction"] = rng.choice(NON_KEY_MUSCLE_LEVELS)
    complete = mode == "complete"
    flat[VAC_KEY] = rng.choice(["No", "No", "NT"] if complete else ANAL)
    flat[DAP_KEY] = rng.choice(["No", "No", "NT"] if complete else ANAL)
    return flat


def test_matches_the_reference_implementation(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot run the reference implementation")
    package = _reference_package()
    if package is None:
        pytest.skip("npm package isncsci not found: `npm install isncsci@2.0.6` in a temporary folder and set "
                    "ISNCSCI_REFERENCE to its node_modules/isncsci")  # fmt: skip
    version = json.loads((package / "package.json").read_text(encoding="utf-8")).get("version")
    if version != "2.0.6":
        pytest.skip(f"npm package isncsci {version} found at {package}; the engine follows 2.0.6")

    rng = random.Random(20190)
    flats = [_reference_exam(rng) for _ in range(4000)] + [flat_from_exam(exam_from_flat(c)) for c in CASES]
    script = tmp_path / "oracle.js"
    script.write_text(_ORACLE_JS % {"motor": json.dumps(MYOTOMES), "derm": json.dumps(
        [d.replace("-", "_") for d in DERMATOMES])}, encoding="utf-8")  # fmt: skip
    run = subprocess.run([node, str(script), str(package.resolve())], input=json.dumps(flats),
                         capture_output=True, text=True, check=True, timeout=600)  # fmt: skip
    reference = json.loads(run.stdout)
    assert len(reference) == len(flats)

    mismatches = []
    for flat, expected in zip(flats, reference, strict=True):
        computed = totals_from_classification(classify(exam_from_flat(flat, subject_id="X")))
        wrong = {k: (v, computed.get(k)) for k, v in expected.items() if computed.get(k) != v}
        if wrong:
            mismatches.append((flat, wrong))
    assert not mismatches, f"{len(mismatches)} of {len(flats)} exams differ, first: {mismatches[0]}"
