"""Layout spec errors say what to write; the shapes a layout describes as data (shared files, row filters, REDCap
checkboxes) read as documented; minute-precision date-times write and read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE, write_rows
from hypothesis import example, given
from hypothesis import strategies as st

from fhirbridge import api
from fhirbridge.formats.csv.reader import read_csv
from fhirbridge.formats.csv.writer import NotRepresentable, write_csv
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.report import Report
from fhirbridge.layouts.draft import q
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.mapping.date_formats import suggest
from fhirbridge.mapping.loader import MappingError, bundled, read_yaml
from fhirbridge.records import AdverseEvent

DEFAULT = bundled("csv-default.yaml").read_text(encoding="utf-8")


def _layout(tmp_path: Path, text: str):
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return load_csv_layout(path)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(MappingError) as caught:
        _layout(tmp_path, text)
    return str(caught.value)


# -- errors that say what to write -----------------------------------------------------------------------------


def test_a_spreadsheet_date_format_is_refused_with_its_strftime_spelling(tmp_path: Path) -> None:
    message = _error(tmp_path, DEFAULT.replace('date_formats: ["%Y-%m-%d", "%Y-%m", "%Y"]',
                                               'date_formats: ["dd/mm/yyyy"]'))
    assert "date_formats: bad date format 'dd/mm/yyyy'" in message
    assert "did you mean %d/%m/%Y?" in message


@pytest.mark.parametrize(("written", "meant"), [
    ("dd/mm/yyyy", "%d/%m/%Y"), ("yyyy-mm-dd", "%Y-%m-%d"), ("DD.MM.YYYY HH:mm", "%d.%m.%Y %H:%M"),
    ("mm/dd/yy", "%m/%d/%y"), ("%Y-%m-%d", None)])
def test_suggestions_for_spreadsheet_formats(written: str, meant: str | None) -> None:
    assert suggest(written) == meant


@pytest.mark.parametrize(("fmt", "why"), [("%d/%m/%Q", "unknown directive %Q"), ("%d/%m", "it has no year directive")])
def test_formats_that_read_no_date_are_refused_at_load(tmp_path: Path, fmt: str, why: str) -> None:
    message = _error(tmp_path, DEFAULT.replace('"%Y-%m-%d %H:%M"]', f'"%Y-%m-%d %H:%M", "{fmt}"]'))
    assert f"datetime_formats: bad date format {fmt!r}: {why}" in message


def test_an_unknown_field_lists_the_valid_ones_nearest_first(tmp_path: Path) -> None:
    message = _error(tmp_path, DEFAULT.replace("birth_date: {column: birth_date", "birthdate: {column: birth_date"))
    assert "Subject has no field 'birthdate'; its fields are, nearest first: birth_date, " in message
    listed = message.split("nearest first: ")[1].split(", ")
    assert {"age", "sex", "site_id", "injury_level"} <= set(listed)


@pytest.mark.parametrize(("written", "instead", "message"), [
    ("items.17:", "items.18:", "'items' has no member '18'; its members are, nearest first: 1, "),
    ("{column: sex, values: sex}", "{column: sex, values: sexe}",
     "unknown value map 'sexe'; the layout's value maps are, nearest first: sex, "),
    ('file: "subjects*.csv"', 'file: "study*.csv"',
     "a study file holds only the study; it shares its file pattern with subjects"),
    ("exam_date: {column: exam_date,", 'exam_date: {column: "date_{visit}",',
     "has {visit}, but the file spec has no visits"),
], ids=["scim-item", "value-map", "shared-study-file", "visit-template"])
def test_other_spec_errors_say_what_is_wrong(tmp_path: Path, written: str, instead: str, message: str) -> None:
    assert message in _error(tmp_path, DEFAULT.replace(written, instead))


def test_value_map_codes_are_taken_as_written(tmp_path: Path) -> None:
    """YAML reads 1 as a number and no as false; a layout's codes are the export's text, as written."""
    layout = _layout(tmp_path, DEFAULT.replace("sex: {M: male, F: female, O: other, U: unknown}",
                                               "sex: {1: male, 2: female, 01: other, no: unknown}"))
    assert layout.value_maps["sex"] == {"1": "male", "2": "female", "01": "other", "no": "unknown"}
    assert layout.value_maps["yes_no"] == {"Y": True, "N": False}  # values keep their YAML types


def test_a_file_with_another_delimiter_gets_one_hint_not_a_missing_column_each(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    text = (EXAMPLE / "subjects.csv").read_text(encoding="utf-8").replace(",", ";")
    (folder / "subjects.csv").write_text(text, encoding="utf-8")
    report = Report()
    data = read_csv([folder], load_csv_layout(), report)
    assert data.subjects == []
    (issue,) = report.issues
    assert issue.code == "FB-CSV-001"
    assert "the file looks ';'-separated; write delimiter: \";\" in the layout 'default'" in issue.message


# -- minute-precision date-times --------------------------------------------------------------------------------


def test_minute_precision_date_times_write_and_read_back(tmp_path: Path) -> None:
    layout = _layout(tmp_path, DEFAULT.replace(
        'datetime_formats: ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", '
        '"%Y-%m-%d %H:%M"]', 'datetime_formats: ["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M%z"]').replace(
        'timezone: "Z"', 'timezone: "+09:00"'))
    data = read_csv([EXAMPLE], load_csv_layout(), Report())
    write_csv(data, layout, tmp_path / "out")
    assert "31/07/2013 10:45," in (tmp_path / "out" / "infusion.csv").read_text(encoding="utf-8")
    report = Report()
    back = read_csv([tmp_path / "out"], layout, report)
    assert report.issues == []
    assert back.infusions == data.infusions and back.adverse_events == data.adverse_events
    data.adverse_events[0] = data.adverse_events[0].model_copy(update={"onset": "2013-07-31T17:40:30+09:00"})
    with pytest.raises(NotRepresentable, match="2013-07-31T17:40:30"):  # seconds the layout cannot write
        write_csv(data, layout, tmp_path / "seconds")


def test_a_layout_reading_one_file_for_several_kinds_is_not_written(tmp_path: Path) -> None:
    wide = EXAMPLE.parents[1] / "wide" / "layout.yaml"
    with pytest.raises(MappingError, match="writes CSV only in layouts with one file per kind"):
        write_csv(read_csv([EXAMPLE], load_csv_layout(), Report()), load_csv_layout(wide), tmp_path)
    report = api.convert([EXAMPLE], tmp_path / "out", target="csv", options=ConvertOptions(csv_mapping=wide))
    assert [i.code for i in report.issues] == ["FB-MAP-001"] and report.exit_code == 2
    assert "writes CSV only in layouts with one file per kind" in report.issues[0].message
    assert not (tmp_path / "out").exists()


# -- shapes ----------------------------------------------------------------------------------------------------

AE_LAYOUT = """spec: fhirbridge/csv-layout
version: "1.0"
name: redcap-like
date_formats: ["%Y-%m-%d"]
datetime_formats: ["%Y-%m-%d %H:%M"]
ignore_columns: ["*_complete"]
value_maps:
  criteria: {1: death, 2: hospitalization, a: other_medically_important}
  yesno: {1: true, 0: false}
files:
  events:
    file: "records*.csv"
    record: adverse_event
    where: {form: [ae, AE]}
    constants: {study_id: S1}
    columns:
      subject_id: record_id
      ae_id: instance
      term: term
      onset: {column: onset, type: datetime}
      serious: {column: serious, type: bool, values: yesno}
      serious_criteria: {column: crit, type: checkboxes, values: criteria, optional: true}
  subjects:
    file: "records*.csv"
    record: subject
    constants: {study_id: S1, site_id: "01"}
    columns:
      subject_id: record_id
      sex: sex
"""


def test_checkboxes_row_filters_and_blank_rows_of_a_shared_file(tmp_path: Path) -> None:
    rows = [
        {"record_id": "1", "form": "", "instance": "", "sex": "male", "term": "", "onset": "", "serious": "",
         "crit___1": "", "crit___2": "", "crit___a": "", "ae_complete": ""},
        {"record_id": "1", "form": "ae", "instance": "1", "sex": "", "term": "Fever", "onset": "2020-01-02 10:00",
         "serious": "1", "crit___1": "0", "crit___2": "1", "crit___a": "1", "ae_complete": "2"},
        {"record_id": "1", "form": "AE", "instance": "2", "sex": "", "term": "Nausea", "onset": "2020-01-03 10:00",
         "serious": "0", "crit___1": "Unchecked", "crit___2": "Unchecked", "crit___a": "Unchecked",
         "ae_complete": "2"},
        {"record_id": "1", "form": "other", "instance": "1", "sex": "", "term": "Not an AE", "onset": "x",
         "serious": "x", "crit___1": "", "crit___2": "", "crit___a": "", "ae_complete": ""},
        {"record_id": "1", "form": "ae", "instance": "4", "sex": "", "term": "", "onset": "", "serious": "",
         "crit___1": "0", "crit___2": "0", "crit___a": "0", "ae_complete": "0"},  # an id alone: no record
        {"record_id": "1", "form": "ae", "instance": "3", "sex": "", "term": "Bad box", "onset": "2020-01-04 10:00",
         "serious": "1", "crit___1": "maybe", "crit___2": "", "crit___a": "", "ae_complete": ""},
    ]
    write_rows(tmp_path / "records_1.csv", rows)
    report = Report()
    data = read_csv([tmp_path / "records_1.csv"], _layout(tmp_path, AE_LAYOUT), report)
    assert [(s.subject_id, s.sex) for s in data.subjects] == [("1", "male")]  # the AE rows hold no subject
    assert data.adverse_events == [
        AdverseEvent(study_id="S1", subject_id="1", ae_id="1", term="Fever", onset="2020-01-02T10:00:00Z",
                     serious=True, serious_criteria=["hospitalization", "other_medically_important"]),
        AdverseEvent(study_id="S1", subject_id="1", ae_id="2", term="Nausea", onset="2020-01-03T10:00:00Z",
                     serious=False),
    ]
    assert data.adverse_events[0].source is not None
    assert data.adverse_events[0].source.column("serious_criteria") == "crit___1"
    (issue,) = report.issues  # the filtered-out row is not read; the bad checkbox is reported where it is
    assert (issue.code, issue.row, issue.column) == ("FB-CSV-003", 7, "crit___1")
    assert "'maybe' is not a checkbox state" in issue.message


@given(st.text(max_size=30), st.text(max_size=10))
@example(text="no", value="1")
@example(text="- x", value="a: b")
@example(text="\u2028", value="\x7f")
def test_drafted_yaml_reads_back_the_text_written(tmp_path_factory: pytest.TempPathFactory, text: str,
                                                  value: str) -> None:
    """What a draft writes as a key or a value reads back as that very text, however YAML would take it plain."""
    path = tmp_path_factory.mktemp("yaml") / "draft.yaml"
    path.write_text(f"map:\n  {q(text)}: {q(value)}\n", encoding="utf-8")
    assert read_yaml(path, keys_as_written=True) == {"map": {text: value}}


def test_a_row_filter_on_a_column_the_file_lacks_is_reported(tmp_path: Path) -> None:
    write_rows(tmp_path / "records_1.csv", [{"record_id": "1", "sex": "male", "instance": "1", "term": "Fever",
                                             "onset": "2020-01-02 10:00", "serious": "1"}])
    report = Report()
    data = read_csv([tmp_path / "records_1.csv"], _layout(tmp_path, AE_LAYOUT), report)
    assert data.adverse_events == [] and len(data.subjects) == 1
    assert [(i.code, i.column, i.message) for i in report.issues] == [
        ("FB-CSV-001", "form", "required column 'form' is missing; no adverse_event is read from the file")]


def test_a_redcap_export_with_label_headers_gets_one_hint(tmp_path: Path) -> None:
    (tmp_path / "records_1.csv").write_text("Record ID,Event Name,Sex,Adverse event\n1,Baseline,Male,\n",
                                            encoding="utf-8")
    report = Report()
    read_csv([tmp_path / "records_1.csv"], _layout(tmp_path, AE_LAYOUT), report)
    (issue,) = report.issues
    assert issue.code == "FB-CSV-001"
    assert "export the records with the variable names as column headers" in issue.message
