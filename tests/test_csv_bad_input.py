"""Bad CSV input is reported with file, row and column; the good rows still convert."""

from __future__ import annotations

import json
from pathlib import Path

from fhirbridge import api
from fhirbridge.issues.issue import Issue, Severity


def _convert(folder: Path, tmp_path: Path):
    report = api.convert([folder], tmp_path / "out")
    bundle = json.loads((tmp_path / "out" / "bundle.json").read_text()) if report.outputs else None
    return report, bundle


def _only(report, code: str) -> Issue:
    found = [i for i in report.issues if i.code == code]
    assert len(found) == 1, [i.model_dump() for i in report.issues]
    return found[0]


def _patients(bundle) -> set[str]:
    return {e["resource"]["identifier"][0]["value"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Patient"}


def _exams(bundle) -> int:
    return sum(1 for e in bundle["entry"] if e["resource"].get("code", {}).get("coding", [{}])[0].get("code")
               == "isncsci-exam")


def test_clean_small_study_converts_without_errors(study_dir, tmp_path):
    report, bundle = _convert(study_dir(), tmp_path)
    assert report.exit_code == 0, report.to_dict()["issues"]
    assert _patients(bundle) == {"001", "002"}
    assert _exams(bundle) == 2


def test_ais_grade_f_is_reported_and_other_rows_convert(study_dir, tmp_path):
    def spoil(t):
        t["isncsci.csv"][1]["ais"] = "F"
    report, bundle = _convert(study_dir(spoil), tmp_path)
    issue = _only(report, "FB-CSV-003")
    assert (Path(issue.file).name, issue.row, issue.column, issue.value) == ("isncsci.csv", 3, "ais", "F")
    assert "AIS" in issue.message or "grade" in issue.message
    assert report.exit_code == 1
    assert _exams(bundle) == 1  # the good exam row still converted


def test_motor_score_seven(study_dir, tmp_path):
    def spoil(t):
        t["isncsci.csv"][0]["l_l3_motor"] = "7"
    report, bundle = _convert(study_dir(spoil), tmp_path)
    issue = _only(report, "FB-CSV-003")
    assert (Path(issue.file).name, issue.row, issue.column, issue.value) == ("isncsci.csv", 2, "l_l3_motor", "7")
    assert "'7'" in issue.message
    assert report.exit_code == 1
    assert _exams(bundle) == 1


def test_impossible_date(study_dir, tmp_path):
    def spoil(t):
        t["subjects.csv"][1]["injury_date"] = "2019-02-30"
    report, bundle = _convert(study_dir(spoil), tmp_path)
    issue = _only(report, "FB-CSV-005")
    assert (Path(issue.file).name, issue.row, issue.column) == ("subjects.csv", 3, "injury_date")
    assert "day is out of range" in issue.message
    # subject 002 is not converted, so its records are reported as pointing at an unknown subject
    assert _patients(bundle) == {"001"}
    # FB-ISN-006: the small study's exams are all normal (AIS E) at the subject's first exam
    assert {i.code for i in report.issues if i.severity >= Severity.WARNING} == {"FB-CSV-005", "FB-REF-001",
                                                                               "FB-ISN-006"}
    assert report.exit_code == 1


def test_missing_column_rejects_the_file_only(study_dir, tmp_path):
    def spoil(t):
        for row in t["scim.csv"]:
            del row["scim_06_bladder"]
    report, bundle = _convert(study_dir(spoil), tmp_path)
    issue = _only(report, "FB-CSV-001")
    assert (Path(issue.file).name, issue.row, issue.column) == ("scim.csv", 1, "scim_06_bladder")
    assert report.exit_code == 1
    assert _patients(bundle) == {"001", "002"}
    assert not any(e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "panel"
                   for e in bundle["entry"])


def test_latin1_file_with_bom_is_read_and_flagged(study_dir, tmp_path):
    folder = study_dir()
    ae = folder / "adverse_events.csv"
    text = ae.read_text(encoding="utf-8").replace("Fever", "Übelkeit")
    ae.write_bytes(b"\xef\xbb\xbf" + text.encode("cp1252"))
    report, bundle = _convert(folder, tmp_path)
    issue = _only(report, "FB-IO-003")
    assert Path(issue.file).name == "adverse_events.csv" and issue.value == "cp1252"
    assert report.exit_code == 0  # a warning: the data were read correctly
    events = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent"]
    assert events[0]["event"]["text"] == "Übelkeit"
    assert events[0]["identifier"]["value"] == "ae/S1/001/1"  # the BOM did not spoil the first header


def test_empty_file_is_fatal_but_the_rest_converts(study_dir, tmp_path):
    folder = study_dir()
    (folder / "scim.csv").write_bytes(b"")
    report, bundle = _convert(folder, tmp_path)
    issue = _only(report, "FB-IO-002")
    assert (Path(issue.file).name, issue.row) == ("scim.csv", 1)
    assert report.exit_code == 2
    assert _patients(bundle) == {"001", "002"}


def test_unmapped_code_and_unused_column(study_dir, tmp_path):
    def spoil(t):
        t["subjects.csv"][0]["sex"] = "X"
        for row in t["subjects.csv"]:
            row["comments"] = "free text"
    report, _ = _convert(study_dir(spoil), tmp_path)
    unmapped = _only(report, "FB-CSV-004")
    assert (unmapped.row, unmapped.column, unmapped.value) == (2, "sex", "X")
    assert "M" in unmapped.expected and "F" in unmapped.expected
    unused = _only(report, "FB-CSV-002")
    assert (unused.row, unused.column) == (1, "comments")


def test_row_with_wrong_number_of_fields(study_dir, tmp_path):
    folder = study_dir()
    path = folder / "harvest.csv"
    path.write_text(path.read_text() + "S1,002,2,2019-02-06\n")
    report, _ = _convert(folder, tmp_path)
    issue = _only(report, "FB-CSV-006")
    assert (issue.row, issue.value) == (4, 4)


def test_duplicate_record(study_dir, tmp_path):
    def spoil(t):
        t["scim.csv"].append(dict(t["scim.csv"][0]))
    report, _ = _convert(study_dir(spoil), tmp_path)
    issue = _only(report, "FB-CSV-007")
    assert issue.row == 4


def test_missing_input_path_is_fatal(tmp_path):
    report = api.validate([tmp_path / "nowhere"])
    assert _only(report, "FB-IO-001").file.endswith("nowhere")
    assert report.exit_code == 2


def test_a_utf16_export_with_a_byte_order_mark_is_read(study_dir, tmp_path):
    folder = study_dir()
    subjects = folder / "subjects.csv"
    subjects.write_bytes(subjects.read_text(encoding="utf-8").encode("utf-16"))  # BOM first, as Excel writes it
    report, bundle = _convert(folder, tmp_path)
    note = _only(report, "FB-IO-003")
    assert (note.file, note.value, note.severity) == (str(subjects), "utf-16", Severity.WARNING)
    assert report.exit_code == 0 and _patients(bundle) == {"001", "002"}  # no subject lost


def test_a_file_its_byte_order_mark_does_not_describe_names_the_encoding(study_dir, tmp_path):
    folder = study_dir()
    (folder / "subjects.csv").write_bytes(b"\xff\xfes\x00u\x00b")  # UTF-16 LE mark, then an odd byte out
    report, _ = _convert(folder, tmp_path)
    issue = _only(report, "FB-IO-004")
    assert issue.severity == Severity.FATAL and "cannot decode as utf-16" in issue.message
    assert report.exit_code == 2


def test_an_unterminated_quote_says_where_reading_stopped(study_dir, tmp_path):
    folder = study_dir()
    scim = folder / "scim.csv"
    lines = scim.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace(",", ',"', 1)  # row 2 opens a quote that never closes
    scim.write_text("".join(lines), encoding="utf-8")
    report, _ = _convert(folder, tmp_path)
    issue = _only(report, "FB-IO-004")
    assert (issue.file, issue.row, issue.severity) == (str(scim), 2, Severity.FATAL)
    assert "reading stopped at row 2: 2 lines (rows 2 to 3) were not read" in issue.message
    assert report.exit_code == 2  # never "valid" with rows lost


def test_a_field_over_128_kib_says_where_reading_stopped(study_dir, tmp_path):
    def spoil(tables):
        tables["harvest.csv"][0]["body_site"] = "x" * (129 << 10)

    report, _ = _convert(study_dir(spoil), tmp_path)
    issue = _only(report, "FB-IO-004")
    assert issue.row == 2 and "a field over 128 KiB" in issue.message and "rows 2 to 3" in issue.message
    assert report.exit_code == 2


def test_many_unknown_columns_are_one_issue_per_file(study_dir, tmp_path):
    def spoil(tables):
        for row in tables["harvest.csv"]:
            row.update({f"extra_{n}": "" for n in range(5000)})

    report, _ = _convert(study_dir(spoil), tmp_path)
    issue = _only(report, "FB-CSV-002")
    assert (issue.column, issue.value) == ("extra_0", 5000)
    assert issue.message.startswith("5,000 columns are not used by the layout ('extra_0', 'extra_1',")
    assert report.exit_code == 0
