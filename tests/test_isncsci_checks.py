"""The ISNCSCI checks a clinician would ask for: a reported value among the possibilities the exam leaves open is
a warning (not an error), a non-key muscle named where no key muscle is, AIS E at a subject's first exam, and
values marked * without the non-SCI condition behind them; the condition itself travels through every format."""

from __future__ import annotations

import json

from fhirbridge import api
from fhirbridge.checks.isncsci import check_exam, check_first_exams, check_worksheet
from fhirbridge.domains.isncsci.classification import classify
from fhirbridge.domains.isncsci.structure import DERMATOMES, LEVEL_INDEX, MYOTOMES, SIDES
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.records import IsncsciClassification, IsncsciExam


def _exam(below: str = "C6", *, visit: str = "BASELINE", date: str = "2019-02-24", vac: str = "No",
          dap: str = "NT", **changes) -> IsncsciExam:
    """A cervical injury: everything below ``below`` absent, the sacral segments as given."""
    def value(level: str, normal: str) -> str:
        return normal if LEVEL_INDEX[level] <= LEVEL_INDEX[below] else "0"

    side = {"motor": {lv: value(lv, "5") for lv in MYOTOMES},
            "light_touch": {lv: value(lv, "2") for lv in DERMATOMES},
            "pin_prick": {lv: value(lv, "2") for lv in DERMATOMES}}
    return IsncsciExam(study_id="S1", subject_id="001", visit=visit, exam_date=date, right=side, left=side,
                       vac=vac, dap=dap, **changes)


def test_a_value_among_the_possibilities_is_a_warning_and_one_outside_an_error():
    exam = _exam()
    computed = classify(exam).asia_impairment_scale
    assert computed is not None and set(computed.split(",")) == {"A", "B"}  # DAP not testable: A or B
    for reported, code in (("A", "FB-ISN-004"), ("B", "FB-ISN-004"), ("C", "FB-ISN-001")):
        spoken = exam.model_copy(update={"classification": IsncsciClassification(asia_impairment_scale=reported)})
        _, issues = check_exam(spoken)
        assert [i.code for i in issues] == [code], reported
        assert issues[0].value == reported and issues[0].expected == computed
    whole = exam.model_copy(update={"classification": IsncsciClassification(asia_impairment_scale="B,A")})
    assert check_exam(whole)[1] == []


def test_a_non_key_muscle_where_no_key_muscle_is_warns():
    for level, expected in (("T5", ["FB-ISN-005"]), ("L1", ["FB-ISN-005"]), ("T1", []), ("L2", [])):
        exam = _exam(vac="Yes", dap="Yes")
        exam.right.lowest_non_key_muscle = level
        assert [i.code for i in check_worksheet(exam)] == expected, level
    exam = _exam(vac="Yes", dap="Yes")
    exam.left.lowest_non_key_muscle = "T8"
    [issue] = check_worksheet(exam)
    assert issue.value == "T8" and "left lowest non-key muscle named at T8" in issue.message


def test_ais_e_at_the_first_exam_warns_but_not_later():
    first, later = _exam(date="2019-01-01", visit="BASELINE"), _exam(date="2019-07-01", visit="MONTH6")
    # the later exam is listed first: the first exam is the earliest by date
    assert check_first_exams([(later, "E"), (first, "D")]) == []
    [issue] = check_first_exams([(later, "D"), (first, "E")])
    assert (issue.code, issue.record) == ("FB-ISN-006", "BASELINE")
    other = first.model_copy(update={"subject_id": "002"})
    assert [i.subject for i in check_first_exams([(first, "E"), (other, "E")])] == ["001", "002"]


def test_starred_values_without_their_reason_are_noted():
    exam = _exam(vac="Yes", dap="Yes")
    for side in SIDES:
        getattr(exam, side).motor["C5"] = "4*"
    [issue] = check_worksheet(exam)
    assert issue.code == "FB-ISN-007" and "2 value(s)" in issue.message
    assert check_worksheet(exam.model_copy(update={"non_sci_condition": "Left brachial plexus injury"})) == []


def test_the_first_exam_check_runs_on_a_study(study_dir):
    """In the small study every exam is normal (AIS E) and the first of its subject: both are queried."""
    report = api.validate([study_dir()])
    assert sorted(i.subject for i in report.issues if i.code == "FB-ISN-006") == ["001", "002"]


def test_the_non_sci_condition_goes_through_csv_fhir_and_sdtm(study_dir, tmp_path):
    reason = "Right ulnar nerve injury (not SCI)"

    def change(tables: dict) -> None:
        row = tables["isncsci.csv"][0]
        row.update(r_c8_motor="3*", non_sci_condition=reason)
        for other in tables["isncsci.csv"][1:]:
            other["non_sci_condition"] = ""

    folder = study_dir(change)
    report = api.convert([folder], tmp_path / "fhir")
    bundle = json.loads((tmp_path / "fhir" / "bundle.json").read_text())
    system = load_fhir_mapping().systems["isncsci"]
    found = [c["valueString"] for e in bundle["entry"] for c in e["resource"].get("component", [])
             if c["code"]["coding"][0] == {"system": system, "code": "nonSciCondition",
                                           "display": "Non-SCI condition behind values marked *"}]
    assert found == [reason]
    assert not [i for i in report.issues if i.code == "FB-ISN-007"]
    back = Report()
    data = api.read([tmp_path / "fhir" / "bundle.json"], back, source="fhir")
    assert [e.non_sci_condition for e in data.isncsci_exams] == [reason, None], back.issues
    api.convert([folder], tmp_path / "sdtm", target="sdtm")
    assert reason in (tmp_path / "sdtm" / "suppnv.csv").read_text()
    data = api.read([tmp_path / "sdtm"], Report(), source="sdtm")
    assert [e.non_sci_condition for e in data.isncsci_exams] == [reason, None]
    api.convert([tmp_path / "sdtm"], tmp_path / "csv", source="sdtm", target="csv")
    assert reason in (tmp_path / "csv" / "isncsci.csv").read_text()
