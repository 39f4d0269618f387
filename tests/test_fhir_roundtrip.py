"""records → FHIR → records is the identity, for JSON, XML and NDJSON and for R4 and R5; the example study's
CSV goes through FHIR and back to the same CSV values."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import EXAMPLE
from hypothesis import HealthCheck, given, settings
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
@given(data=study_data())
def test_records_fhir_records_is_identity(fmt, release, data):
    back, written, read = _through_fhir(data, fmt, release)
    assert [i for i in written.issues if i.severity >= Severity.WARNING] == []
    # the only thing read but not converted is the Provenance of the conversion
    assert [(i.code, i.severity) for i in read.issues] == [("FB-FHIR-054", Severity.INFORMATION)]
    assert read.header["fhir_release"] == {"R4": "4.0.1", "R5": "5.0.0"}[release]
    assert back.count() == data.count()
    for kind in data.count():
        assert _by_key(getattr(back, kind)) == _by_key(getattr(data, kind)), kind


@pytest.mark.parametrize(("fmt", "release"), [("json", "R4"), ("xml", "R5"), ("ndjson", "R4")])
def test_example_csv_through_fhir_gives_the_input_files_back(tmp_path, fmt, release):
    """CSV → FHIR → CSV writes the example's files again, byte for byte and under the same names
    (``adverse_events.csv``; offsets in ISO 8601 extended format, ``+09:00``)."""
    options = ConvertOptions(fhir_format=fmt, fhir_version=release)  # type: ignore[arg-type]
    assert api.convert([EXAMPLE], tmp_path / "fhir", options=options).exit_code == 0
    report = api.convert([tmp_path / "fhir"], tmp_path / "csv", source="fhir", target="csv")
    assert report.exit_code == 0, [i.message for i in report.issues]
    original = {p.name: p.read_bytes() for p in EXAMPLE.glob("*.csv")}
    back = {p.name: p.read_bytes() for p in (tmp_path / "csv").glob("*.csv")}
    assert sorted(back) == sorted(original)
    for name, content in original.items():
        assert back[name] == content, name
    assert b"+0900" not in b"".join(back.values())
