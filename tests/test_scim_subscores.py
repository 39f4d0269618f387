"""SCIM-III: the mobility subscale's two sub-scores (room and toilet 0-10, indoors and outdoors 0-30) are computed,
checked and written; the instrument is recorded, and SCIM-IV or SCIM-SR are refused rather than read as SCIM-III."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from fhirbridge import api
from fhirbridge.checks.scim import check_assessment
from fhirbridge.domains.scim import ITEMS, SUBSCALES, SUBSCORES, subscore_sums
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.records import ScimAssessment

SCIM = load_fhir_mapping().systems["scim"]


def _assessment(**changes) -> ScimAssessment:
    items = {key: max(item.allowed) for key, item in ITEMS.items()}
    items.update(changes.pop("items", {}))
    return ScimAssessment(study_id="S1", subject_id="001", visit="BASELINE", items=items, **changes)


def test_the_sub_scores_partition_the_mobility_subscale():
    assert [s.items for s in SUBSCORES.values()] == [("9", "10", "11"), ("12", "13", "14", "15", "16", "17")]
    assert [s.maximum for s in SUBSCORES.values()] == [10, 30]
    mobility = {key for key, item in ITEMS.items() if item.subscale == "mobility"}
    assert set().union(*(s.items for s in SUBSCORES.values())) == mobility
    sums = subscore_sums({**{k: max(i.allowed) for k, i in ITEMS.items()}, "9": 2, "14": None})
    assert sums == {"mobility_room_toilet": 6, "mobility_indoors_outdoors": None}
    assert sum(s.maximum for s in SUBSCORES.values()) == SUBSCALES["mobility"].maximum


def test_a_reported_sub_score_is_checked_against_its_items():
    assert check_assessment(_assessment(mobility_room_toilet=10, mobility_indoors_outdoors=30)) == []
    [issue] = check_assessment(_assessment(items={"10": 0}, mobility_room_toilet=10))
    assert (issue.code, issue.value, issue.expected) == ("FB-SCIM-001", 10, "8")
    assert "Mobility in room and toilet" in issue.message
    with pytest.raises(ValidationError, match="less than or equal to 10"):
        _assessment(mobility_room_toilet=11)


@pytest.mark.parametrize(("given", "message"), [("SCIM-IV", "SCIM-IV .* has other items"),
                                                ("SCIM SR", "self-reported"), ("FIM", "not SCIM-III")])
def test_other_instruments_are_refused(given, message):
    with pytest.raises(ValidationError, match=message):
        _assessment(instrument=given)
    assert _assessment(instrument="SCIM-III").instrument == "SCIM-III"


def test_sub_scores_are_written_summed_when_not_reported(study_dir, tmp_path):
    api.convert([study_dir()], tmp_path)
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    scores = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        coding = resource.get("code", {}).get("coding", [{}])[0]
        if coding.get("system") == SCIM and coding["code"].startswith("mobility-"):
            scores.setdefault(coding["code"], []).append((resource["valueInteger"],
                                                          resource["method"]["coding"][0]["code"]))
    assert scores == {"mobility-room-toilet": [(10, "computed-sum")] * 2,
                      "mobility-indoors-outdoors": [(30, "computed-sum")] * 2}
    data = api.read([tmp_path / "bundle.json"], Report(), source="fhir")
    assert {(a.mobility_room_toilet, a.mobility_indoors_outdoors) for a in data.scim_assessments} == {(None, None)}


def test_a_scim_iv_export_is_refused_with_its_row_and_column(study_dir):
    def change(tables: dict) -> None:
        for row in tables["scim.csv"]:
            row["instrument"] = "SCIM-IV"

    report = api.validate([study_dir(change)])
    refused = [i for i in report.issues if i.file and i.file.endswith("scim.csv") and "SCIM-IV" in i.message]
    assert [(i.row, i.column) for i in refused] == [(2, "instrument"), (3, "instrument")]
    assert all(i.severity >= i.severity.ERROR for i in refused)
    assert report.stats["records"]["scim_assessments"] == 0


def test_a_scim_iv_qs_dataset_is_refused(study_dir, tmp_path):
    api.convert([study_dir()], tmp_path / "sdtm", target="sdtm")
    qs = tmp_path / "sdtm" / "qs.csv"
    assert qs.read_text().count(",SCIM-III,") > 0
    qs.write_text(qs.read_text().replace(",SCIM-III,", ",SCIM-IV,"))
    report = Report()
    data = api.read([tmp_path / "sdtm"], report, source="sdtm")
    assert data.scim_assessments == []
    assert any("SCIM-IV" in i.message and i.severity >= i.severity.ERROR for i in report.issues)
