"""$validate, $convert and the exports of a running service give what the CLI gives for the same input."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import EXAMPLE_SDTM_MAPPING
from test_service_support import EXAMPLE, REPO, Service, example_transaction_bytes, exported, running

import fhirbridge
from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.report import build_report

FHIR = {"Content-Type": "application/fhir+json"}
MESSY = REPO / "examples" / "messy"
SDTM_EXAMPLE = REPO / "examples" / "honmou2021" / "sdtm"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A server holding the whole example study."""
    tmp = tmp_path_factory.mktemp("operations")
    # the example's SDTM mapping (its clock and design), as the server's operator sets it
    with running(str(tmp / "db.sqlite"), tmp, {"FHIRBRIDGE_SDTM_MAPPING": str(EXAMPLE_SDTM_MAPPING)}) as svc:
        with svc.client() as client:
            svc.ingested = client.post("/", content=example_transaction_bytes(), headers=FHIR)  # type: ignore[attr-defined]
        yield svc


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with service.client() as c:
        yield c


def test_the_example_study_ingests_whole(service: Service) -> None:
    response = service.ingested  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert len(entries) == 971 + 14 and {e["response"]["status"] for e in entries} == {"201 Created"}


def _files(folder: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (p.name, p.read_bytes(), "text/csv")) for p in sorted(folder.glob("*.csv"))]


def _codes(outcome: dict[str, Any]) -> set[str]:
    return {i["details"]["coding"][0]["code"] for i in outcome["issue"] if "details" in i}


def test_validate_uploaded_csv_reports_what_the_cli_reports(client: httpx.Client) -> None:
    response = client.post("/$validate", files=_files(MESSY))
    cli = api.validate([MESSY], source="csv")
    assert response.status_code == 200
    assert response.headers["x-fhirbridge-exit-code"] == str(cli.exit_code) == "1"
    outcome = response.json()
    assert _codes(outcome) == {i.code for i in cli.issues}
    assert any("subjects.csv, row" in i.get("diagnostics", "") for i in outcome["issue"])
    assert str(MESSY) not in response.text  # no server paths


def test_validate_a_zip_of_the_example_is_valid(client: httpx.Client) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(EXAMPLE.glob("*.csv")):
            archive.write(path, f"export/{path.name}")
    response = client.post("/$validate?from=csv", content=buffer.getvalue(),
                           headers={"Content-Type": "application/zip"})
    assert response.status_code == 200
    assert response.headers["x-fhirbridge-exit-code"] == "0"


def test_issues_name_zip_members_and_the_request_body_as_sent(client: httpx.Client) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(MESSY.glob("*.csv")):
            archive.write(path, f"site-01/{path.name}")
    zipped = client.post("/$validate?from=csv", content=buffer.getvalue(), headers={"Content-Type": "application/zip"})
    assert _codes(zipped.json()) == {i.code for i in api.validate([MESSY], source="csv").issues}
    assert any(i.get("diagnostics", "").startswith("site-01/subjects.csv, row") for i in zipped.json()["issue"])
    body = client.post("/$validate", json={"resourceType": "Patient", "gender": "sometimes"}, headers=FHIR)
    errors = [i["diagnostics"] for i in body.json()["issue"] if i["severity"] == "error"]
    assert errors and all(d.startswith("request body") for d in errors)


def test_validate_a_fhir_resource(client: httpx.Client) -> None:
    bad = client.post("/$validate", json={"resourceType": "Patient", "gender": "sometimes"}, headers=FHIR)
    assert bad.status_code == 200
    assert bad.headers["x-fhirbridge-exit-code"] == "1"
    assert any(i["severity"] == "error" for i in bad.json()["issue"])
    good = client.post("/$validate", json={"resourceType": "Patient", "gender": "female"}, headers=FHIR)
    assert all(i["severity"] in ("information", "warning") for i in good.json()["issue"])


def test_zip_members_may_not_leave_the_upload_folder(client: httpx.Client) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../escape.csv", "a,b\n")
    response = client.post("/$validate", content=buffer.getvalue(), headers={"Content-Type": "application/zip"})
    assert response.status_code == 400
    assert _codes(response.json()) == {"FB-SRV-032"}


def test_convert_to_fhir_gives_the_cli_bundle_and_its_outcome(client: httpx.Client, tmp_path: Path) -> None:
    response = client.post("/$convert?from=csv&to=fhir", files=_files(EXAMPLE))
    assert response.status_code == 200
    parameters = response.json()
    assert parameters["resourceType"] == "Parameters"
    returned = next(p["resource"] for p in parameters["parameter"] if p["name"] == "return")
    outcome = next(p["resource"] for p in parameters["parameter"] if p["name"] == "outcome")
    assert outcome["resourceType"] == "OperationOutcome"
    cli = api.convert([EXAMPLE], tmp_path)
    expected = orjson.loads((tmp_path / "bundle.json").read_bytes())

    def stable(bundle: dict[str, Any]) -> list[Any]:
        return [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Provenance"]

    assert stable(returned) == stable(expected)
    assert response.headers["x-fhirbridge-exit-code"] == str(cli.exit_code)


def test_convert_to_tables_gives_a_zip_with_the_report(client: httpx.Client, tmp_path: Path) -> None:
    response = client.post("/$convert?from=csv&to=csv", files=_files(EXAMPLE))
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    api.convert([EXAMPLE], tmp_path, target="csv")
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = set(archive.namelist())
        assert {"report.json", "OperationOutcome.json"} <= names
        for path in tmp_path.glob("*.csv"):
            assert archive.read(path.name) == path.read_bytes()
        report = orjson.loads(archive.read("report.json"))
    assert report["exit_code"] == 0


def test_convert_a_fhir_body_to_tables(client: httpx.Client, tmp_path: Path) -> None:
    body = example_transaction_bytes()
    response = client.post("/$convert?from=fhir&to=csv", content=body, headers=FHIR)
    assert response.status_code == 200, response.text
    expected = fhirbridge.convert(orjson.loads(body), tmp_path, source="fhir", target="csv")
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for path in map(Path, expected.outputs):
            assert archive.read(path.name) == path.read_bytes()
        report = orjson.loads(archive.read("report.json"))
    assert report["exit_code"] == expected.exit_code
    assert {i["file"] for i in report["issues"] if i.get("file")} <= {"request body", *(
        Path(p).name for p in expected.outputs)}
    refused = client.post("/$convert?from=csv&to=csv", content=body, headers=FHIR)
    assert refused.status_code == 415


def test_convert_refuses_unknown_formats_and_options(client: httpx.Client) -> None:
    unknown = client.post("/$convert?from=csv&to=pdf", files=_files(EXAMPLE))
    assert unknown.status_code == 400 and _codes(unknown.json()) == {"FB-SRV-011"}
    empty = client.post("/$convert?from=csv&to=fhir", files={"note": (None, "not a file")})
    assert empty.status_code == 400
    for operation, misspelt in (("$convert?to=sdtm&format=xpt", "format"),
                                ("$validate?sdtm-format=xpt", "sdtm-format")):
        refused = client.post(f"/{operation}", files=_files(EXAMPLE))  # not ignored with the default used instead
        assert refused.status_code == 400 and _codes(refused.json()) == {"FB-SRV-011"}
        assert repr(misspelt) in refused.json()["issue"][0]["diagnostics"]


def test_export_ndjson_equals_the_cli_conversion(client: httpx.Client, tmp_path: Path) -> None:
    report = api.convert([EXAMPLE], tmp_path, options=ConvertOptions(fhir_format="ndjson"))
    assert report.exit_code == 0
    expected = {}
    for path in tmp_path.glob("*.ndjson"):
        for line in path.read_bytes().splitlines():
            resource = orjson.loads(line)
            expected[(resource["resourceType"], resource["id"])] = resource
    stored = {}
    for resource in exported(client):
        for key in ("versionId", "lastUpdated"):
            resource["meta"].pop(key)
        stored[(resource["resourceType"], resource["id"])] = resource
    provenance = [k for k in expected if k[0] == "Provenance"]
    for key in provenance:  # the record of one conversion: its time differs from run to run
        expected[key].pop("recorded")
        stored[key].pop("recorded")
    assert stored == expected


def test_export_sdtm_equals_the_example_tables(client: httpx.Client) -> None:
    response = client.get("/$export-sdtm?sdtm_format=csv")  # as $convert and the CLI's --sdtm-format name it
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for path in sorted(SDTM_EXAMPLE.glob("*.csv")):
            assert archive.read(path.name).decode() == path.read_text(), path.name
    disagreeing = client.get("/$export-sdtm?sdtm_format=csv&format=xpt")  # format: its former name
    assert disagreeing.status_code == 400 and _codes(disagreeing.json()) == {"FB-SRV-011"}
    assert client.get("/$export-sdtm?sdtm-format=xpt").status_code == 400


def test_fhir_xml_in_and_out(client: httpx.Client) -> None:
    from fhirbridge.formats.fhir import xml as fhir_xml

    patient = next(r for r in exported(client) if r["resourceType"] == "Patient")
    as_xml = client.get(f"/Patient/{patient['id']}?_format=xml")
    assert as_xml.status_code == 200 and as_xml.headers["content-type"] == "application/fhir+xml"
    assert fhir_xml.from_xml(fhir_xml.parse(as_xml.content), "R4") == (patient, [])
    accepted = client.get(f"/Patient/{patient['id']}", headers={"Accept": "application/fhir+xml"})
    assert accepted.content == as_xml.content
    body = fhir_xml.to_bytes(fhir_xml.to_xml({"resourceType": "Patient", "gender": "sometimes"}, "R4"))
    checked = client.post("/$validate", content=body, headers={"Content-Type": "application/fhir+xml"})
    assert checked.status_code == 200 and checked.headers["x-fhirbridge-exit-code"] == "1"


def test_report_over_the_stored_study_shows_what_the_cli_shows(client: httpx.Client) -> None:
    """The stored study (ingested from the example's FHIR) gives the same figures as the CSV it was made from."""
    response = client.get("/$report")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-fhirbridge-exit-code"] == "0"
    from_csv, _ = build_report(EXAMPLE)

    def section(html: str, part: str) -> str:
        found = re.search(rf'<section id="{part}">.*?</section>', html, flags=re.S)
        assert found, f"no {part} section"
        return found.group(0)

    for part in ("recovery", "independence", "safety"):
        assert section(response.text, part) == section(from_csv, part)
