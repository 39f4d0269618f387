"""``fhirbridge convert --from X --to Y`` for every pair of CSV, SDTM and FHIR (JSON, XML, NDJSON; collection
and transaction bundles; R4 and R5): the records read back from the output are the records of the input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fhirbridge import api
from fhirbridge.cli import main
from fhirbridge.domains.isncsci.classification import classify
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.records import IsncsciClassification, StudyData

#: How each input is made from the small CSV study: (format read, options of `convert --to` that wrote it).
SOURCES = {
    "csv": ("csv", []),
    "sdtm": ("sdtm", []),
    "fhir-json": ("fhir", ["--fhir-format", "json"]),
    "fhir-xml-r5": ("fhir", ["--fhir-format", "xml", "--fhir-version", "R5"]),
    "fhir-ndjson": ("fhir", ["--fhir-format", "ndjson"]),
}
CASES = [
    ("csv", "sdtm", []),
    ("csv", "fhir", ["--bundle-type", "transaction"]),
    ("sdtm", "csv", []),
    ("sdtm", "fhir", ["--fhir-format", "ndjson", "--fhir-version", "R5"]),
    ("fhir-json", "csv", []),
    ("fhir-json", "sdtm", ["--sdtm-format", "dataset-json"]),
    ("fhir-xml-r5", "csv", []),
    ("fhir-xml-r5", "fhir", ["--fhir-format", "json"]),
    ("fhir-ndjson", "sdtm", []),
    ("fhir-ndjson", "fhir", ["--fhir-format", "xml", "--bundle-type", "transaction"]),
]


def _convert(source: str, target: str, inputs: Path, out: Path, options: list[str]) -> dict:
    result = CliRunner().invoke(main, ["convert", "--from", source, "--to", target, *options, str(inputs), "-o",
                                       str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _records(fmt: str, folder: Path, options: list[str]) -> StudyData:
    sdtm_format = options[options.index("--sdtm-format") + 1] if "--sdtm-format" in options else "csv"
    report = Report()
    data = api.read([folder], report, source=fmt, options=ConvertOptions(sdtm_format=sdtm_format))  # type: ignore[arg-type]
    return data


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    from conftest import small_study, write_rows

    folder = tmp_path_factory.mktemp("csv")
    for name, rows in small_study().items():
        write_rows(folder / name, rows)
    made = {"csv": folder}
    for name, (fmt, options) in SOURCES.items():
        if name != "csv":
            made[name] = tmp_path_factory.mktemp(name)
            _convert("csv", fmt, folder, made[name], options)
    return made


@pytest.mark.parametrize(("source", "target", "options"), CASES, ids=[f"{s}-to-{t}" for s, t, _ in CASES])
def test_every_pair_of_formats_converts_without_loss(inputs, tmp_path, source, target, options):
    expected = _records("csv", inputs["csv"], [])
    if target == "csv":  # the CSV layout has no column saying a classification was derived: it reads as reported
        columns = {p.removeprefix("classification.") for p in load_csv_layout().files["isncsci"].columns}
        for exam in expected.isncsci_exams:
            computed = classify(exam).model_dump()
            exam.classification = IsncsciClassification(**{k: v for k, v in computed.items() if k in columns})
    fmt = SOURCES[source][0]
    report = _convert(fmt, target, inputs[source], tmp_path, options)
    assert report["outputs"]
    back = _records(target, tmp_path, options)
    for kind in expected.count():
        assert sorted(getattr(back, kind), key=lambda r: r.key()) == getattr(expected, kind), kind


def test_ndjson_has_no_transaction(inputs, tmp_path):
    result = CliRunner().invoke(main, ["convert", "--to", "fhir", "--fhir-format", "ndjson", "--bundle-type",
                                       "transaction", str(inputs["csv"]), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "NDJSON" in result.output
