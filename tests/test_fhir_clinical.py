"""Clinical content of the FHIR output, item by item: the visit on every value Observation, the adverse event's
mapping (term, seriousness, causality), the cell product's collection and processing, SCIM-III sub-scores."""

from __future__ import annotations

import json
from pathlib import Path

from fhirbridge import api
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.records import StudyData

MAPPING = load_fhir_mapping()


def _convert(folder: Path, out: Path, **kwargs) -> tuple[dict, Report]:
    report = api.convert([folder], out, **kwargs)
    bundle = json.loads((out / "bundle.json").read_text())
    assert structure_errors(bundle) == []
    return bundle, report


def _of(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def _visit(resource: dict) -> str | None:
    return next((e["valueString"] for e in resource.get("extension", []) if e["url"] == MAPPING.extensions["visit"]),
                None)


def _read_back(bundle: dict, tmp_path: Path) -> tuple[StudyData, Report]:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(bundle))
    report = Report()
    return api.read([path], report, source="fhir"), report


# item 12: the visit ------------------------------------------------------------------------------------------

def test_every_value_observation_carries_its_panels_visit(study_dir, tmp_path):
    bundle, _ = _convert(study_dir(), tmp_path / "out")
    observations = {f"urn:uuid:{o['id']}": o for o in _of(bundle, "Observation")}
    members = 0
    for panel in observations.values():
        for member in panel.get("hasMember", []):
            members += 1
            assert _visit(observations[member["reference"]]) == _visit(panel) == "BASELINE"
    assert members >= 2 * (25 + 4)  # every classification value and SCIM-III score of both subjects


def test_a_value_of_another_visit_than_its_panel_is_reported(study_dir, tmp_path):
    bundle, _ = _convert(study_dir(), tmp_path / "out")
    ais = next(o for o in _of(bundle, "Observation")
               if any(c.get("code") == "97843-7" for c in o["code"].get("coding", [])))
    for extension in ais["extension"]:
        if extension["url"] == MAPPING.extensions["visit"]:
            extension["valueString"] = "MONTH6"
    data, report = _read_back(bundle, tmp_path)
    moved = [i for i in report.issues if i.code == "FB-FHIR-056" and "MONTH6" in i.message]
    assert len(moved) == 1
    assert {exam.visit for exam in data.isncsci_exams} == {"BASELINE"}
