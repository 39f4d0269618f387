"""records → FHIR → records is the identity, for JSON, XML and NDJSON and for R4 and R5; the example study's
CSV goes through FHIR and back to the same CSV values."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pytest
from conftest import EXAMPLE, SYNTHETIC_MEDDRA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import study_data

from fhirbridge import api
from fhirbridge.formats.fhir import spoke
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.issue import Severity
from fhirbridge.issues.report import Report
from fhirbridge.records import StudyData

MATRIX = [(fmt, release) for fmt in ("json", "xml", "ndjson") for release in ("R4", "R5")]


def _through_fhir(data: StudyData, fmt: str, release: str) -> tuple[StudyData, Report, Report]:
    options = ConvertOptions(fhir_format=fmt, fhir_version=release)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as folder:
        written = Report()
        spoke.write(data, Path(folder), written, options, {})
        read = Report()
        back = spoke.read([Path(folder)], read, ConvertOptions())
    return back, written, read


def _by_key(records: list) -> list:
    return sorted(records, key=lambda r: r.key())


@pytest.mark.parametrize(("fmt", "release"), MATRIX)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.booleans().flatmap(lambda hierarchy: study_data(meddra_hierarchy=hierarchy)))
def test_records_fhir_records_is_identity(fmt, release, data):
    """With and without the MedDRA levels besides the preferred term (each level there or not)."""
    back, written, read = _through_fhir(data, fmt, release)
    assert [i for i in written.issues if i.severity >= Severity.WARNING] == []
    # the only thing read but not converted is the Provenance of the conversion
    assert [(i.code, i.severity) for i in read.issues] == [("FB-FHIR-054", Severity.INFORMATION)]
    assert read.header["fhir_release"] == {"R4": "4.0.1", "R5": "5.0.0"}[release]
    assert back.count() == data.count()
    for kind in data.count():
        assert _by_key(getattr(back, kind)) == _by_key(getattr(data, kind)), kind


def _with_synthetic_hierarchy(folder: Path) -> Path:
    """The example study with the SYNTHETIC MedDRA hierarchy on every second adverse event (the others keep the
    preferred term only), written as the CSV writer writes it."""
    folder.mkdir()
    for path in EXAMPLE.glob("*.csv"):
        (folder / path.name).write_bytes(path.read_bytes())
    path = folder / "adverse_events.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[::2]:
        row.update(SYNTHETIC_MEDDRA)
    rows[2]["meddra_llt_code"] = rows[2]["meddra_hlgt"] = ""  # a level given by name or by code alone
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.mark.parametrize(("fmt", "release", "hierarchy"), [("json", "R4", False), ("xml", "R5", False),
                                                           ("ndjson", "R4", False), ("xml", "R4", True),
                                                           ("json", "R5", True)])
def test_example_csv_through_fhir_gives_the_input_files_back(tmp_path, fmt, release, hierarchy):
    """CSV → FHIR → CSV writes the example's files again, byte for byte and under the same names
    (``adverse_events.csv``; offsets in ISO 8601 extended format, ``+09:00``); with a MedDRA hierarchy too."""
    source = _with_synthetic_hierarchy(tmp_path / "export") if hierarchy else EXAMPLE
    options = ConvertOptions(fhir_format=fmt, fhir_version=release)  # type: ignore[arg-type]
    assert api.convert([source], tmp_path / "fhir", options=options).exit_code == 0
    report = api.convert([tmp_path / "fhir"], tmp_path / "csv", source="fhir", target="csv")
    assert report.exit_code == 0, [i.message for i in report.issues]
    original = {p.name: p.read_bytes() for p in source.glob("*.csv")}
    if hierarchy:
        assert original["adverse_events.csv"].count(SYNTHETIC_MEDDRA["meddra_soc"].encode()) == 4
    back = {p.name: p.read_bytes() for p in (tmp_path / "csv").glob("*.csv")}
    assert sorted(back) == sorted(original)
    for name, content in original.items():
        assert back[name] == content, name
    assert b"+0900" not in b"".join(back.values())
