"""`fhirbridge isncsci classify`: the reference's flat JSON layout and CSV exports, in input order."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import EXAMPLE, SHARED

from fhirbridge.cli import main

CASES = SHARED / "reference" / "isncsci" / "praxis-2019-cases.json"


@pytest.mark.skipif(not CASES.exists(), reason=f"reference cases not found at {CASES} (../shared is absent)")
def test_classify_json_prints_the_reference_totals_in_order():
    result = CliRunner().invoke(main, ["isncsci", "classify", "--json", str(CASES)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    cases = json.loads(CASES.read_text())
    assert len(printed) == len(cases) == 128
    for case, totals in zip(cases, printed, strict=True):
        assert set(totals) == set(case["totals"])
        assert totals == case["totals"], case["id"]


def test_classify_csv_export():
    result = CliRunner().invoke(main, ["isncsci", "classify", str(EXAMPLE)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 39
    assert lines[0].startswith("001/BASELINE: AIS A,")
    assert lines[-1].startswith("013/MONTH6: AIS D,")


def test_classify_reports_a_broken_exam_and_classifies_the_rest(tmp_path):
    good = {f"{lv}{side}{mod}": ("5" if mod == "Motor" else "2")
            for side in ("Right", "Left")
            for mod, levels in (("Motor", ["c5", "c6", "c7", "c8", "t1", "l2", "l3", "l4", "l5", "s1"]),
                                ("Touch", None), ("Prick", None))
            for lv in (levels or ["c2", "c3", "c4", "c5", "c6", "c7", "c8", "t1", "t2", "t3", "t4", "t5", "t6",
                                  "t7", "t8", "t9", "t10", "t11", "t12", "l1", "l2", "l3", "l4", "l5", "s1", "s2",
                                  "s3", "s4_5"])}
    good.update(analContraction="Yes", analSensation="Yes")
    broken = {**good, "c5RightMotor": "9"}
    missing = {k: v for k, v in good.items() if k != "t4LeftPrick"}
    path = tmp_path / "exams.json"
    path.write_text(json.dumps([good, broken, missing]))
    result = CliRunner().invoke(main, ["isncsci", "classify", "--json", str(path)])
    assert result.exit_code == 1
    printed = json.loads(result.stdout)
    assert len(printed) == 1 and printed[0]["asiaImpairmentScale"] == "E"
    assert "$[1]" in result.stderr and "'9'" in result.stderr
    assert "$[2]" in result.stderr and "t4LeftPrick" in result.stderr


def test_classify_sdtm_export_gives_the_same_answers_as_the_csv_export():
    sdtm = EXAMPLE.parent / "sdtm"
    from_csv = CliRunner().invoke(main, ["isncsci", "classify", "--json", str(EXAMPLE)])
    from_sdtm = CliRunner().invoke(main, ["isncsci", "classify", "--json", "--from", "sdtm", str(sdtm)])
    assert from_csv.exit_code == from_sdtm.exit_code == 0, from_sdtm.output
    assert len(json.loads(from_csv.stdout)) == 39
    assert json.loads(from_sdtm.stdout) == json.loads(from_csv.stdout)
