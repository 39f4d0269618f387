"""``fhirbridge layout show / init / from-redcap / check``: what a data manager runs to write a site's layout."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import EXAMPLE

from fhirbridge.cli import main
from fhirbridge.formats.csv.reader import read_csv
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.mapping.loader import bundled

EXAMPLES = EXAMPLE.parents[1]


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def _reads_as_the_default_export(folder: Path, layout: Path) -> None:
    report = Report()
    data = read_csv([folder], load_csv_layout(layout), report)
    assert report.issues == []
    default = read_csv([EXAMPLE], load_csv_layout(), Report())
    for kind in default.count():
        assert getattr(data, kind) == getattr(default, kind), kind


def test_show_prints_the_default_layout() -> None:
    result = run("layout", "show")
    assert result.exit_code == 0
    assert result.output == bundled("csv-default.yaml").read_text(encoding="utf-8")


def test_show_names_the_shipped_layouts_when_asked_for_another() -> None:
    result = run("layout", "show", "sapporo")
    assert result.exit_code == 2
    assert "no shipped layout 'sapporo'; shipped: default" in result.output


def test_init_drafts_a_layout_that_reads_a_long_export(tmp_path: Path) -> None:
    """Delimiter, date formats, the three kinds of the one long file: all from the files; the study id, which the
    long file lacks, and the site's time zone are what the person fills in."""
    draft = tmp_path / "site.yaml"
    result = run("layout", "init", "-o", str(draft), *sorted(str(p) for p in (EXAMPLES / "long").glob("*.csv")))
    assert result.exit_code == 0, result.output
    text = draft.read_text(encoding="utf-8")
    assert 'delimiter: ";"' in text
    assert 'date_formats: ["%d.%m.%Y"]' in text and 'datetime_formats: ["%d.%m.%Y %H:%M"]' in text
    assert text.count("file: visits.csv") == 3  # subjects, exams and SCIM-III from one file
    assert "# FILL IN: no study_id column; write your study's id in constants" in text
    draft.write_text(text.replace("YOUR-STUDY", "HONMOU2021").replace("timezone: Z", 'timezone: "+09:00"'),
                     encoding="utf-8")
    _reads_as_the_default_export(EXAMPLES / "long", draft)


def test_init_drafts_a_layout_that_reads_a_wide_export(tmp_path: Path) -> None:
    """Columns named per visit (``ais_v1``) become file specs with visits; the person names the visits."""
    draft = tmp_path / "site.yaml"
    result = run("layout", "init", "-o", str(draft), *sorted(str(p) for p in (EXAMPLES / "wide").glob("*.csv")))
    assert result.exit_code == 0, result.output
    text = draft.read_text(encoding="utf-8")
    assert "    visits: {V1: v1, V2: v2, V3: v3}\n" in text and "    visits: {V1: v1, V3: v3}\n" in text
    assert '      template: "{side}_{level}_{modality}_{visit}"\n' in text
    assert "not matched to a field" not in text  # every column of the wide file is known
    named = text.replace("YOUR-STUDY", "HONMOU2021").replace("timezone: Z", 'timezone: "+09:00"')
    for token, visit in (("V1", "BASELINE"), ("V2", "DAY1"), ("V3", "MONTH6")):
        named = named.replace(f"{token}: {token.lower()}", f"{visit}: {token.lower()}")
    draft.write_text(named, encoding="utf-8")
    _reads_as_the_default_export(EXAMPLES / "wide", draft)


def test_init_lists_unknown_columns_and_values(tmp_path: Path) -> None:
    export = tmp_path / "patients.csv"
    export.write_bytes("subject_id\tsite\tgender\tdob\tshoe_size\nP1\t01\tM\t31/12/1970\t42\nP2\t01\tX\t01/02/1980\t\n"
                       .encode("cp1252"))
    result = run("layout", "init", str(export))
    assert result.exit_code == 0, result.output
    assert "patients.csv: utf-8, delimiter '\\t'" in result.output
    assert 'date_formats: ["%d/%m/%Y"]' in result.output
    assert "      birth_date: {column: dob, type: date, optional: true}" in result.output
    assert "      #   shoe_size  (e.g. '42')" in result.output
    assert "# FILL IN: the export has 'X', which this map lacks" in result.output


def test_from_redcap_writes_the_example_layout(tmp_path: Path) -> None:
    project = EXAMPLES / "redcap" / "project"
    out = tmp_path / "site.yaml"
    result = run("layout", "from-redcap", str(project / "data_dictionary.csv"), "--events", str(project / "events.csv"),
                 "--study-id", "HONMOU2021", "--timezone", "+09:00", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == (EXAMPLES / "redcap" / "layout.yaml").read_text(encoding="utf-8")


def test_from_redcap_without_events_or_study_says_what_to_fill_in() -> None:
    result = run("layout", "from-redcap", str(EXAMPLES / "redcap" / "project" / "data_dictionary.csv"))
    assert result.exit_code == 0, result.output
    assert "FILL IN: constants: {study_id: YOUR-STUDY}" in result.output
    assert "give --events to map events to visits" in result.output
    assert "timezone: REDCap times have no UTC offset" in result.output


def test_from_redcap_refuses_a_file_that_is_no_dictionary() -> None:
    result = run("layout", "from-redcap", str(EXAMPLE / "subjects.csv"))
    assert result.exit_code == 2
    assert "not a REDCap data dictionary" in result.output


def test_check_shows_the_columns_each_field_reads(tmp_path: Path) -> None:
    result = run("layout", "check", str(EXAMPLES / "wide" / "layout.yaml"), str(EXAMPLES / "wide"))
    assert result.exit_code == 0, result.output
    # subject_id, the 24 other exam columns of the default layout and the 132 cells; the wide file holds them for
    # 3 exams, with 8 subject, 5 harvest, 12 infusion and 2 x 27 SCIM-III columns
    assert "  isncsci: isncsci_exam from wide*.csv, 157 fields, visits BASELINE (v1), DAY1 (v2), MONTH6 (v3)" in \
        result.output
    assert "wide.csv: 547 columns, read by subjects, harvests, infusions, isncsci, scim" in result.output
    assert "  isncsci (isncsci_exam of visit DAY1):\n    subject_id <- subject_id\n    exam_date <- exam_date_v2" in \
        result.output
    assert "    132 ISNCSCI cells <- r_c5_motor_v3 … l_s45_pp_v3" in result.output
    assert "not read" not in result.output


def test_check_reports_unused_and_missing_columns(tmp_path: Path) -> None:
    (tmp_path / "subjects.csv").write_text("study_id,site_id,subject_id,birth_date,shoe_size\n", encoding="utf-8")
    result = run("layout", "check", str(bundled("csv-default.yaml")), str(tmp_path))
    assert result.exit_code == 1
    assert "  not read (1): shoe_size" in result.output
    assert "required column 'sex' is missing" in result.output


def test_check_refuses_a_bad_spec_with_what_to_write(tmp_path: Path) -> None:
    spec = tmp_path / "site.yaml"
    spec.write_text(bundled("csv-default.yaml").read_text(encoding="utf-8").replace(
        '["%Y-%m-%d", "%Y-%m", "%Y"]', '["dd/mm/yyyy"]'), encoding="utf-8")
    result = run("layout", "check", str(spec))
    assert result.exit_code == 2
    assert "did you mean %d/%m/%Y?" in result.output


def _dictionary(tmp_path: Path, rows: str) -> Path:
    """A REDCap data dictionary of these rows (name, form, type, label, choices, validation)."""
    dictionary = tmp_path / "dictionary.csv"
    dictionary.write_text("Variable / Field Name,Form Name,Field Type,Field Label,\"Choices, Calculations, OR Slider "
                          "Labels\",Text Validation Type OR Show Slider Number\n" + rows, encoding="utf-8")
    return dictionary


def test_from_redcap_leaves_what_it_cannot_match_to_the_person(tmp_path: Path) -> None:
    dictionary = _dictionary(tmp_path, (
        "study_no,enrolment,text,Study number,,\n"
        "gender,enrolment,radio,Gender,\"1, Male | 2, Female | 3, Intersex\",\n"
        "dob,enrolment,text,Date of birth,,date_mdy\n"

        "injury_date,enrolment,text,Date of injury,,date_dmy\n"
        "q1,quality_of_life,radio,How do you feel?,\"1, Well | 2, Not well\",\n"))
    result = run("layout", "from-redcap", str(dictionary), "--study-id", "S1")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "      subject_id: study_no\n" in text  # the dictionary's first field is the record id
    assert '    "1": male\n    Male: male\n    "2": female\n    Female: female\n' in text
    assert "    # FILL IN: 3: ?   (Intersex) no fhirbridge value matched; one of female, male, other, unknown" in text
    assert "  # instrument quality_of_life: no kind of record matched; its columns are not read:\n" \
           "  #   q1  (radio: How do you feel?)" in text
    assert "# FILL IN: site_id is required and no column matched it" in text
    assert "write site_id: redcap_data_access_group" in text
    assert 'date_formats: ["%Y-%m-%d"]' in text  # day-first and month-first fields: only Y-M-D is read
    assert "# date formats: both day-first and month-first fields; only Y-M-D dates are read" in text


def test_from_redcap_matches_the_clinical_fields_under_their_other_names(tmp_path: Path) -> None:
    """The procedure an adverse event relates to, the cells' processing and source harvest, the SCIM version:
    matched by the other names of mappings/column-names.yaml, the choices by their labels."""
    dictionary = _dictionary(tmp_path, (
        "record_id,infusion,text,Record ID,,\n"
        "inf_start,infusion,text,Start,,datetime_ymd\n"
        "inf_product,infusion,text,Product,,\n"
        "inf_processing_method,infusion,text,How the cells were processed,,\n"
        "source_harvest,infusion,text,Harvest,,\n"
        "ae_term,ae,text,Adverse event,,\n"
        "ae_onset,ae,text,Onset,,date_ymd\n"
        "ae_relationship_to_procedure,ae,radio,Related to,\"1, Infusion | 2, Harvest | 3, Both\",\n"
        "scim_date,scim,text,Date,,date_ymd\n"
        "scim_version,scim,text,SCIM version,,\n"
        "scim_01_feeding,scim,text,Feeding,,integer\n"))
    result = run("layout", "from-redcap", str(dictionary), "--study-id", "S1")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "      processing: {column: inf_processing_method, optional: true}\n" in text
    assert "      harvest_id: {column: source_harvest, optional: true}\n" in text
    assert "      related_procedure: {column: ae_relationship_to_procedure, optional: true, values: " \
           "ae_relationship_to_procedure}\n" in text
    assert '    "1": infusion\n    Infusion: infusion\n    "2": harvest\n' in text
    assert "      instrument: {column: scim_version, optional: true}\n" in text
    assert "not matched to a field" not in text


def test_init_says_when_day_first_and_month_first_both_read_the_dates(tmp_path: Path) -> None:
    export = tmp_path / "ae.csv"
    export.write_text("study_id,subject_id,ae_id,term,onset_date,serious\nS,1,1,Fever,03/04/2020 10:00,N\n"
                      "S,1,2,Rash,05/06/2020 11:30,N\n", encoding="utf-8")
    result = run("layout", "init", str(export))
    assert result.exit_code == 0, result.output
    assert 'datetime_formats: ["%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M"]' in result.output
    assert "# FILL IN: date-time values read as day first and as month first alike" in result.output
    assert "# timezone: the times carry no UTC offset" in result.output
