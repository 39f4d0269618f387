"""Reading FHIR: what fhirbridge writes, what other producers plausibly send (Bundles of every type, bare
resources, NDJSON, server URLs), and malformed input, which gives located issues and exit codes, never a
traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from fhirbridge import api
from fhirbridge.cli import main
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.issue import Severity
from fhirbridge.issues.report import Report

BAD = Path(__file__).parent / "data" / "fhir-bad"
STUDY = "https://fhirbridge.org/fhir/sid/study"
SUBJECT = "https://fhirbridge.org/fhir/sid/subject"


def _read(*paths: Path, **options) -> tuple[object, Report]:
    report = Report()
    data = api.read(list(paths), report, source="fhir", options=ConvertOptions(**options))
    return data, report


def _where(report: Report) -> list[tuple[str, str | None, int | None, str | None]]:
    return [(i.code, Path(i.file).name if i.file else None, i.row, i.target) for i in report.issues]


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory) -> Path:
    """The small study of conftest (2 subjects, every kind of record) as a collection Bundle."""
    from conftest import small_study, write_rows

    folder = tmp_path_factory.mktemp("csv")
    for name, rows in small_study().items():
        write_rows(folder / name, rows)
    out = tmp_path_factory.mktemp("fhir")
    assert api.convert([folder], out).exit_code == 0
    return out / "bundle.json"


def test_computed_classification_is_not_read_back_as_reported(small_bundle):
    bundle = orjson.loads(small_bundle.read_bytes())
    methods = {c["code"] for e in bundle["entry"] for c in e["resource"].get("method", {}).get("coding", [])}
    # exams: computed; SCIM scores: reported, the mobility sub-scores (not in the small export): summed
    assert methods == {"computed-isncsci-2019", "reported", "computed-sum"}
    data, report = _read(small_bundle)
    assert [e.classification for e in data.isncsci_exams] == [None, None]
    assert [s.total for s in data.scim_assessments] == [100, 100]
    assert [i.code for i in report.issues] == ["FB-FHIR-054"]  # the Provenance


@pytest.mark.parametrize("bundle_type", ["transaction", "batch", "searchset"])
def test_bundles_of_every_type_read_the_same(small_bundle, tmp_path, bundle_type):
    expected, _ = _read(small_bundle)
    bundle = orjson.loads(small_bundle.read_bytes())
    bundle["type"] = bundle_type
    for entry in bundle["entry"]:
        if bundle_type == "searchset":
            entry["search"] = {"mode": "match"}
        else:
            entry["request"] = {"method": "PUT", "url": f"{entry['resource']['resourceType']}/"
                                                       f"{entry['resource']['id']}"}
    path = tmp_path / "bundle.json"
    path.write_bytes(orjson.dumps(bundle))
    data, report = _read(path)
    assert data == expected
    assert [i.code for i in report.issues] == ["FB-FHIR-054"]


def test_bare_resources_and_server_urls(tmp_path):
    """A server's resources, one file each, referring to each other relatively and absolutely."""
    base = "https://server.example/fhir"
    resources = {
        "study": {"resourceType": "ResearchStudy", "id": "st", "status": "active",
                  "identifier": [{"system": STUDY, "value": "S9"}]},
        "patient": {"resourceType": "Patient", "id": "pt", "gender": "female", "birthDate": "1980",
                    "identifier": [{"system": f"{SUBJECT}/S9", "value": "101"}],
                    "name": [{"family": "Doe"}]},
        "enrolment": {"resourceType": "ResearchSubject", "id": "rs", "status": "on-study",
                      "identifier": [{"system": f"{SUBJECT}/S9/site", "value": "A"}],
                      "study": {"reference": f"{base}/ResearchStudy/st"},
                      "individual": {"reference": f"{base}/Patient/pt/_history/3"}},
        "event": {"resourceType": "AdverseEvent", "id": "ae", "actuality": "actual", "date": "2020-02-02",
                  "identifier": {"value": "7"}, "event": {"text": "Nausea"},
                  "subject": {"reference": "Patient/pt"}},
    }
    for name, resource in resources.items():
        (tmp_path / f"{name}.json").write_bytes(orjson.dumps(resource))
    data, report = _read(tmp_path)
    assert [(s.study_id, s.subject_id, s.site_id, s.sex, s.birth_date) for s in data.subjects] == [
        ("S9", "101", "A", "female", "1980")]
    assert [(e.ae_id, e.term, e.onset) for e in data.adverse_events] == [("7", "Nausea", "2020-02-02")]
    # the one thing not converted: the patient's name, which the records do not hold
    assert _where(report) == [("FB-FHIR-056", "patient.json", None, "Patient.name")]


def test_ndjson_reads_resources_in_any_order(small_bundle, tmp_path):
    """A bulk export: one file per resource type, read in file-name order (events before their Patients)."""
    expected, _ = _read(small_bundle)
    bundle = orjson.loads(small_bundle.read_bytes())
    by_type: dict[str, list[bytes]] = {}
    for entry in reversed(bundle["entry"]):
        text = orjson.dumps(entry["resource"]).replace(b"urn:uuid:", b"")  # bare ids: refer by id only
        by_type.setdefault(entry["resource"]["resourceType"], []).append(text)
    for rtype, lines in by_type.items():
        (tmp_path / f"{rtype}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    data, report = _read(tmp_path)
    for kind in expected.count():
        assert sorted(getattr(data, kind), key=lambda r: r.key()) == getattr(expected, kind), kind
    assert [i.code for i in report.issues] == ["FB-FHIR-054"]


@pytest.mark.parametrize(("name", "expected", "exit_code"), [
    ("truncated.json", [("FB-IO-006", "truncated.json", None, None)], 2),
    ("malformed.xml", [("FB-FHIR-050", "malformed.xml", None, None)], 2),
    ("doctype-entity.xml", [("FB-FHIR-051", "doctype-entity.xml", None, None)], 2),
    ("entry-without-resource.json", [("FB-FHIR-053", "entry-without-resource.json", None, f"Bundle.entry[{i}]")
                                     for i in range(3)], 1),
    ("wrong-resource-type.json", [
        ("FB-FHIR-052", "wrong-resource-type.json", None, "Bundle.entry[0].resource.resourceType"),
        ("FB-FHIR-052", "wrong-resource-type.json", None, "Bundle.entry[1].resource.resourceType")], 1),
    ("r5-labelled-r4.json", [("FB-FHIR-057", "r5-labelled-r4.json", None, "Bundle.entry[0].resource")], 1),
    ("unknown-code-and-type.json", [
        ("FB-FHIR-054", "unknown-code-and-type.json", None, "Bundle.entry[1].resource"),
        ("FB-FHIR-055", "unknown-code-and-type.json", None, "Bundle.entry[0].resource.code"),
        ("FB-IO-009", "unknown-code-and-type.json", None, None)], 2),  # no record at all: never "valid"
    ("malformed-line.ndjson", [("FB-IO-007", "malformed-line.ndjson", 4, None),
                               ("FB-FHIR-052", "malformed-line.ndjson", 5, None),
                               ("FB-FHIR-060", "malformed-line.ndjson", 6, "Patient")], 1),
])
def test_malformed_input_gives_located_issues_and_exit_codes(tmp_path, name, expected, exit_code):
    result = CliRunner().invoke(main, ["convert", "--from", "fhir", "--to", "csv", str(BAD / name), "-o",
                                       str(tmp_path / "out"), "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    report = json.loads(result.output)
    found = [(i["code"], Path(i["file"]).name if "file" in i else None, i.get("row"), i.get("target"))
             for i in report["issues"]]
    assert found == expected
    assert result.exit_code == exit_code


def test_good_lines_of_a_broken_ndjson_file_are_converted():
    data, _ = _read(BAD / "malformed-line.ndjson")
    assert [(s.subject_id, s.site_id) for s in data.subjects] == [("001", "01")]
    assert [s.study_id for s in data.studies] == ["S1"]


def test_a_doctype_is_refused_before_anything_is_expanded_or_fetched():
    _, report = _read(BAD / "doctype-entity.xml")
    [issue] = report.issues
    assert issue.severity is Severity.FATAL and "DOCTYPE" in issue.message
    assert "root:" not in issue.message and "lol" not in issue.message


def test_r4_labelled_input_with_r5_resources_is_reported_per_resource(tmp_path):
    api.convert([Path(__file__).resolve().parents[1] / "examples" / "honmou2021" / "csv"], tmp_path / "r5",
                options=ConvertOptions(fhir_version="R5"))
    data, report = _read(tmp_path / "r5", fhir_version="R4")
    mismatched = [i for i in report.issues if i.code == "FB-FHIR-057"]
    assert {i.value for i in mismatched} == {"AdverseEvent", "Procedure", "ResearchStudy", "ResearchSubject"}
    assert all(i.target.startswith("Bundle.entry[") and "R5" in i.message for i in mismatched)
    # the product has no element only R5 defines, but R5's productCategory is a Coding, not R4's code
    products = [i for i in report.issues if i.code == "FB-FHIR-015"]
    assert len(products) == 13 and all(i.target.endswith(".resource.productCategory") for i in products)
    assert data.subjects == [] and data.adverse_events == []  # without their enrolment, nothing is converted
    assert report.exit_code == 1


@pytest.mark.parametrize(("release", "fhir_format"), [("R4", "json"), ("R5", "json"), ("R4", "xml"), ("R5", "xml")])
def test_writing_and_reading_fhir_never_imports_the_models(tmp_path, release, fhir_format):
    """fhir.resources is the tests' oracle only: writing FHIR JSON or XML (element order included), validating it
    and converting it to CSV (release detection included) take everything from the checker's definitions."""
    from conftest import EXAMPLE

    bundle, out = tmp_path / "fhir" / f"bundle.{fhir_format}", tmp_path / "csv"
    script = (
        "import sys\n"
        "from fhirbridge import api\n"
        "from fhirbridge.formats.options import ConvertOptions\n"
        "from pathlib import Path\n"
        f"options = ConvertOptions(fhir_version={release!r}, fhir_format={fhir_format!r})\n"
        f"written = api.convert([Path({str(EXAMPLE)!r})], Path({str(tmp_path / 'fhir')!r}), options=options)\n"
        "assert written.exit_code == 0\n"
        f"bundle = Path({str(bundle)!r})\n"
        "assert api.validate([bundle], source='fhir').exit_code == 0\n"
        f"assert api.convert([bundle], Path({str(out)!r}), source='fhir', target='csv').exit_code == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('fhir.')))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    assert (out / "subjects.csv").is_file()
