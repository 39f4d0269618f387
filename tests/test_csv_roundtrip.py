"""records → CSV → records is the identity, for the default layout and for a site's own layout."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from conftest import EXAMPLE
from hypothesis import HealthCheck, given, settings
from strategies import study_data

from fhirbridge import api
from fhirbridge.formats.csv.reader import read_csv
from fhirbridge.formats.csv.writer import write_csv
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.mapping.loader import MappingError
from fhirbridge.records import AdverseEvent

SITE_LAYOUT = Path(__file__).parent / "data" / "site-layout.yaml"


def _round_trip(data, layout):
    with tempfile.TemporaryDirectory() as folder:
        write_csv(data, layout, Path(folder))
        report = Report()
        back = read_csv([Path(folder)], layout, report)
    assert report.issues == []
    return back


@pytest.mark.parametrize("layout_path", [None, SITE_LAYOUT], ids=["default", "site"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=study_data(meddra_hierarchy=True))
def test_records_csv_records_is_identity(layout_path, data):
    layout = load_csv_layout(layout_path)
    if layout_path is not None:  # the site's layout has no MedDRA hierarchy columns (the writer says so)
        blank = {f: None for f in AdverseEvent.model_fields if f.startswith("meddra_") and f not in (
            "meddra_code", "meddra_term")}
        data.adverse_events = [e.model_copy(update=blank) for e in data.adverse_events]
    back = _round_trip(data, layout)
    assert back.count() == data.count()
    for kind in data.count():
        assert getattr(back, kind) == getattr(data, kind), kind


def _strip_volatile(bundle: dict) -> dict:
    entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Provenance"]
    for entry in entries:
        entry["resource"]["meta"].pop("source", None)
    return {**bundle, "entry": entries}


def test_a_site_layout_needs_only_a_yaml_file(study_dir, tmp_path):
    """The same study exported in a site's own layout converts to the same FHIR as the default layout."""
    default_folder = study_dir(lambda t: t["study.csv"][0].update(sponsor=""))  # the site has no sponsor column
    report = Report()
    data = read_csv([default_folder], load_csv_layout(), report)
    site_folder = tmp_path / "site"
    issues: list = []
    files = write_csv(data, load_csv_layout(SITE_LAYOUT), site_folder, issues)
    assert issues == []
    assert {f.name for f in files} == {"PROTOCOL.csv", "PATIENTS.csv", "BMA.csv", "INFUSION.csv", "ASIA.csv",
                                       "SCIM.csv", "AE.csv"}
    assert "MS_R_C5;" in (site_folder / "ASIA.csv").read_text().splitlines()[0] + ";"

    default_report = api.convert([default_folder], tmp_path / "a")
    site_report = api.convert([site_folder], tmp_path / "b", options=ConvertOptions(csv_mapping=SITE_LAYOUT))
    assert default_report.exit_code == site_report.exit_code == 0
    a = json.loads((tmp_path / "a" / "bundle.json").read_text())
    b = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert _strip_volatile(a) == _strip_volatile(b)


def test_values_without_a_column_are_reported_when_writing(study_dir, tmp_path):
    data = read_csv([study_dir()], load_csv_layout(), Report())
    issues: list = []
    write_csv(data, load_csv_layout(SITE_LAYOUT), tmp_path, issues)
    assert [(i.code, Path(i.file).name, i.row, i.value) for i in issues] == [
        ("FB-CSV-009", "PROTOCOL.csv", 2, "Test")
    ]
    assert "sponsor" in issues[0].message


def test_site_layout_reads_day_first_dates_and_local_times(tmp_path):
    layout = load_csv_layout(SITE_LAYOUT)
    (tmp_path / "INFUSION.csv").write_text(
        "PROTOCOL;PATNO;INF_NO;INF_START;INF_END;PRODUCT;LOT;CELLS;CELLS_KG;INF_ML\n"
        "S1;001;1;25/02/2019 10:00:00;-;MSC;L1;1e8;1.6e6;40\n", encoding="utf-8")
    report = Report()
    data = read_csv([tmp_path / "INFUSION.csv"], layout, report)
    assert report.issues == []
    assert data.infusions[0].start == "2019-02-25T10:00:00+09:00"
    assert data.infusions[0].end is None


@pytest.mark.parametrize(("text", "key"), [
    ("spec: fhirbridge/csv-layout\nversion: '1'\nname: x\ndate_formats: ['%Y']\nfiles:\n  s:\n    file: a.csv\n"
     "    record: subject\n    columns: {sexx: SEX}\n", "files.s: sexx: Subject has no field 'sexx'"),
    ("spec: fhirbridge/csv-layout\nversion: '1'\nname: x\ndate_formats: ['%Y']\nfiles:\n  s:\n    file: a.csv\n"
     "    record: subject\n    columns: {sex: {column: SEX, values: nomap}}\n",
     "files.s.columns.sex: unknown value map 'nomap'"),
    ("spec: fhirbridge/csv-layout\nversion: '1'\nname: x\ndate_formats: ['%Y']\nfiles:\n  s:\n    file: a.csv\n"
     "    record: patient\n    columns: {}\n", "files.s.record"),
    ("spec: [unclosed\n", "not valid YAML"),
])
def test_bad_layout_is_rejected_naming_file_and_key(tmp_path, text, key):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(MappingError) as caught:
        load_csv_layout(path)
    assert str(path) in str(caught.value)
    assert key in str(caught.value)


def test_the_isncsci_file_starts_with_its_identifiers(tmp_path):
    """Identifiers and the reported classification come before the 132 worksheet cells."""
    report = Report()
    data = read_csv([EXAMPLE], load_csv_layout(), report)
    write_csv(data, load_csv_layout(), tmp_path)
    header = (tmp_path / "isncsci.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:3] == ["study_id", "subject_id", "visit"]
    assert header.index("ais") < header.index("r_c5_motor")
