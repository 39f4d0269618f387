"""Bad SDTM input gives located issues (dataset file, row, variable, USUBJID, --SEQ) and the right exit code,
never a traceback."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from fhirbridge.cli import main
from fhirbridge.formats.sdtm import dataset_json
from fhirbridge.inputs import Source
from fhirbridge.mapping.loader import MappingError
from fhirbridge.mapping.sdtm_mapping import load_sdtm_mapping


def _edit(path: Path, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows = change(rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _validate(folder: Path) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(main, ["validate", "--as", "sdtm", "--format", "json", str(folder)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.output)["issues"]


def _located(issues: list[dict], code: str) -> list[tuple]:
    return [(Path(i["file"]).name, i.get("row"), i.get("column"), i.get("subject"), i.get("record"))
            for i in issues if i["code"] == code]


def test_the_valid_study_validates(sdtm_dir):
    code, issues = _validate(sdtm_dir())
    assert code == 0
    # the classifications computed from the raw exams, and AIS E (all normal) at each subject's first exam; the
    # events coded to MedDRA preferred terms only; and what the default mapping leaves to a study's own mapping: its
    # phase, planned size and criteria (TI)
    assert {i["code"] for i in issues} == {"FB-ISN-002", "FB-ISN-006", "FB-SDTM-021", "FB-SDTM-023"}
    assert {i["value"] for i in issues if i["code"] == "FB-SDTM-023"} == {"TPHASE", "PLANSUB", "TI"}


def test_unknown_domain_is_reported_and_not_converted(sdtm_dir):
    folder = sdtm_dir()
    (folder / "xx.csv").write_text("STUDYID,DOMAIN,USUBJID,XXSEQ\nS1,XX,S1-001,1\n", encoding="utf-8")
    code, issues = _validate(folder)
    assert code == 1
    assert _located(issues, "FB-SDTM-002") == [("xx.csv", None, None, None, None)]


def test_missing_usubjid_column_is_reported_at_the_variable(sdtm_dir):
    folder = sdtm_dir()
    _edit(folder / "ae.csv", lambda rows: [{k: v for k, v in r.items() if k != "USUBJID"} for r in rows])
    code, issues = _validate(folder)
    assert code == 1
    assert _located(issues, "FB-SDTM-003") == [("ae.csv", None, "USUBJID", None, None)]


def test_duplicate_seq_is_reported_at_the_second_row(sdtm_dir):
    folder = sdtm_dir()
    _edit(folder / "ae.csv", lambda rows: [rows[0], {**rows[0], "AESPID": "2"}])
    code, issues = _validate(folder)
    assert code == 1
    assert _located(issues, "FB-SDTM-008") == [("ae.csv", 3, "AESEQ", "S1-001", "1")]


def test_value_outside_controlled_terminology(sdtm_dir):
    folder = sdtm_dir()
    _edit(folder / "ae.csv", lambda rows: [{**rows[0], "AESEV": "VERY BAD"}])
    code, issues = _validate(folder)
    assert code == 1
    assert _located(issues, "FB-SDTM-006") == [("ae.csv", 2, "AESEV", "S1-001", "1")]
    bad = next(i for i in issues if i["code"] == "FB-SDTM-006")
    assert bad["value"] == "VERY BAD" and "MILD" in bad["expected"]
    assert [i for i in issues if i["code"] == "FB-SDTM-012"] == []  # one issue per bad cell


def test_date_not_in_iso_8601(sdtm_dir):
    folder = sdtm_dir()
    _edit(folder / "ae.csv", lambda rows: [{**rows[0], "AESTDTC": "31/12/2020"}])
    code, issues = _validate(folder)
    assert code == 1
    assert _located(issues, "FB-SDTM-007") == [("ae.csv", 2, "AESTDTC", "S1-001", "1")]


def test_end_before_start_and_subject_not_in_dm(sdtm_dir):
    folder = sdtm_dir()
    _edit(folder / "ae.csv", lambda rows: [{**rows[0], "AEENDTC": "2019-01-01"},
                                          {**rows[0], "USUBJID": "S1-999", "AESPID": "9"}])
    code, issues = _validate(folder)
    assert code == 1
    assert _located(issues, "FB-SDTM-010") == [("ae.csv", 2, "AEENDTC", "S1-001", "1")]
    assert _located(issues, "FB-SDTM-009") == [("ae.csv", 3, "USUBJID", "S1-999", "1")]


def test_unknown_test_code_in_a_findings_domain(sdtm_dir):
    folder = sdtm_dir()
    _edit(folder / "qs.csv", lambda rows: [{**rows[0], "QSTESTCD": "SCIM99"}, *rows[1:]])
    code, issues = _validate(folder)
    assert code == 1
    assert _located(issues, "FB-SDTM-015") == [("qs.csv", 2, "QSTESTCD", "S1-001", "1")]


def test_truncated_xpt_is_unreadable_input(sdtm_dir):
    folder = sdtm_dir("xpt")
    data = (folder / "ae.xpt").read_bytes()
    (folder / "ae.xpt").write_bytes(data[: len(data) // 2])
    code, issues = _validate(folder)
    assert code == 2
    assert _located(issues, "FB-SDTM-001") == [("ae.xpt", None, None, None, None)]


@pytest.mark.parametrize(("fmt", "spoil"), [
    ("dataset-json", lambda p: p.write_text('{"columns": [', encoding="utf-8")),
    ("dataset-xml", lambda p: p.write_text("<ODM><ClinicalData>", encoding="utf-8")),
])
def test_broken_json_and_xml_are_unreadable_input(sdtm_dir, fmt, spoil):
    folder = sdtm_dir(fmt)
    target = next(p for p in sorted(folder.iterdir()) if p.stem == "ae")
    spoil(target)
    code, issues = _validate(folder)
    assert code == 2
    assert [Path(i["file"]).name for i in issues if i["code"] == "FB-SDTM-001"] == [target.name]


def test_convert_from_sdtm_to_csv_with_bad_input_writes_the_good_records(sdtm_dir, tmp_path):
    folder = sdtm_dir()
    _edit(folder / "ae.csv", lambda rows: [{**rows[0], "AESEV": "VERY BAD"}])
    result = CliRunner().invoke(main, ["convert", "--from", "sdtm", "--to", "csv", str(folder), "-o",
                                       str(tmp_path / "csv")])
    assert result.exit_code == 1
    assert (tmp_path / "csv" / "subjects.csv").exists()
    assert not (tmp_path / "csv" / "adverse_events.csv").exists()


def test_bad_mapping_spec_names_file_and_key(tmp_path):
    text = (Path(load_sdtm_mapping().path or "").read_text(encoding="utf-8")
            .replace("AESEV: {label: Severity/Intensity, core: Perm, field: severity, codelist: AESEV,",
                     "AESEV: {label: Severity/Intensity, core: Perm, field: severity, codelist: NOPE,"))
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_sdtm_mapping(path)
    assert str(path) in str(caught.value)
    assert "domains.AE.variables.AESEV: unknown codelist 'NOPE'" in str(caught.value)


def test_a_cut_xpt_file_is_an_error_naming_the_file(sdtm_dir):
    folder = sdtm_dir("xpt")
    ae, dm = folder / "ae.xpt", folder / "dm.xpt"
    ae.write_bytes(ae.read_bytes()[:-100])  # the last row cut short
    dm.write_bytes(dm.read_bytes()[:1000])  # the header cut off: pyreadstat alone reads 0 rows, without a word
    code, issues = _validate(folder)
    assert code == 2
    cut = {Path(i["file"]).name: i["message"] for i in issues if i["code"] == "FB-SDTM-001"}
    assert set(cut) == {"ae.xpt", "dm.xpt"} and "cut short" in cut["ae.xpt"], cut


def test_a_short_or_null_dataset_json_row_is_reported_and_the_others_kept(sdtm_dir):
    folder = sdtm_dir("dataset-json")
    path = folder / "qs.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    total = len(document["rows"])
    document["rows"][1] = document["rows"][1][:3]
    document["rows"][2] = None
    path.write_text(json.dumps(document), encoding="utf-8")
    code, issues = _validate(folder)
    assert code == 1
    assert _located(issues, "FB-SDTM-031") == [("qs.json", 2, None, None, None), ("qs.json", 3, None, None, None)]
    assert not [i for i in issues if i["severity"] == "fatal"]
    kept: list = []
    dataset = dataset_json.read(Source(path), kept)
    assert len(dataset.rows) == total - 2 and dataset.row_numbers[:2] == [1, 4] and len(kept) == 2
