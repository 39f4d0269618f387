"""Clinical content of the FHIR output, item by item: the visit on every value Observation, the adverse event's
mapping (term, seriousness, causality), the cell product's collection and processing, SCIM-III sub-scores."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SYNTHETIC_MEDDRA

from fhirbridge import api
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.issue import Severity
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.records import StudyData

MAPPING = load_fhir_mapping()


def _convert(folder: Path, out: Path, release: str = "R4") -> tuple[dict, Report]:
    report = api.convert([folder], out, options=ConvertOptions(fhir_version=release))  # type: ignore[arg-type]
    bundle = json.loads((out / "bundle.json").read_text())
    assert structure_errors(bundle, release) == []  # type: ignore[arg-type]
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


# item 10: the adverse event ----------------------------------------------------------------------------------

def _study(study_dir, **ae: str):
    def change(tables: dict) -> None:
        tables["adverse_events.csv"][0].update(ae)

    return study_dir(change)


def _procedure_ids(bundle: dict) -> dict[str, str]:
    """Procedure fullUrl → harvest or infusion."""
    return {f"urn:uuid:{p['id']}": "harvest" if p["code"]["coding"][0]["code"] == "49401003" else "infusion"
            for p in _of(bundle, "Procedure")}


def test_other_medically_important_is_not_coded_as_requiring_intervention(study_dir, tmp_path):
    bundle, _ = _convert(_study(study_dir, serious="Y", serious_criteria="MEDICALLY IMPORTANT;HOSPITALIZATION"),
                         tmp_path / "out")
    [event] = _of(bundle, "AdverseEvent")
    criteria = [e["valueCodeableConcept"]["coding"] for e in event["extension"]
                if e["url"] == MAPPING.extensions["serious_criterion"]]
    codes = [{c["code"] for c in codings} for codings in criteria]
    assert {"other_medically_important"} in codes  # fhirbridge's code alone: HL7 has none meaning this
    assert {"hospitalization", "SeriousResultsInHospitalization"} in codes
    assert not any("SeriousRequiresPreventImpairment" in c for c in codes)
    [important] = [c for codings in criteria for c in codings if c["code"] == "other_medically_important"]
    assert "important medical event" in important["display"].lower()
    data, _ = _read_back(bundle, tmp_path)
    assert data.adverse_events[0].serious_criteria == ["other_medically_important", "hospitalization"]


def test_causality_names_the_procedure_the_export_names(study_dir, tmp_path):
    for named, expected in (("HARVEST", ["harvest"]), ("INFUSION", ["infusion"]), ("BOTH", ["harvest", "infusion"])):
        out = tmp_path / named
        bundle, _ = _convert(_study(study_dir, related_procedure=named), out / "fhir")
        [event] = _of(bundle, "AdverseEvent")
        kinds = _procedure_ids(bundle)
        assert [kinds[s["instance"]["reference"]] for s in event["suspectEntity"]] == expected
        assert all(s["causality"][0]["assessment"]["coding"][0]["code"] == "Possible" for s in event["suspectEntity"])
        data, report = _read_back(bundle, out)
        assert data.adverse_events[0].related_procedure == named.lower(), report.issues


def test_causality_not_named_by_the_export_points_at_no_procedure(study_dir, tmp_path):
    bundle, _ = _convert(study_dir(), tmp_path / "out")  # the small study's export has no related_procedure
    [event] = _of(bundle, "AdverseEvent")
    [suspect] = event["suspectEntity"]
    assert "reference" not in suspect["instance"] and "study treatment" in suspect["instance"]["display"]
    data, _ = _read_back(bundle, tmp_path)
    assert data.adverse_events[0].related_procedure is None
    assert data.adverse_events[0].relationship == "possible"


def test_causality_names_the_infusion_given_before_the_event(study_dir, tmp_path):
    def change(tables: dict) -> None:
        first = tables["infusion.csv"][0]
        tables["infusion.csv"].insert(1, {**first, "infusion_id": "2", "start": "2019-03-25T10:00",
                                          "end": "2019-03-25T10:30"})
        tables["adverse_events.csv"][0].update(onset_date="2019-03-26", resolution_date="2019-03-27",
                                               related_procedure="INFUSION")

    bundle, _ = _convert(study_dir(change), tmp_path / "out")
    [event] = _of(bundle, "AdverseEvent")
    second = next(p for p in _of(bundle, "Procedure") if p["identifier"][0]["value"].endswith("/001/2"))
    assert event["suspectEntity"][0]["instance"]["reference"] == f"urn:uuid:{second['id']}"


def test_the_joint_mappings_shape_of_the_term_is_read(study_dir, tmp_path):
    """AETERM / AEDECOD on a Condition behind resultingCondition, as the HL7/CDISC joint mapping puts them."""
    bundle, _ = _convert(study_dir(), tmp_path / "out")
    event = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent")["resource"]
    condition = {"resourceType": "Condition", "id": "ae-term-1", "code": event.pop("event"),
                 "subject": event["subject"]}
    event["resultingCondition"] = [{"reference": "urn:uuid:ae-term-1"}]
    bundle["entry"].append({"fullUrl": "urn:uuid:ae-term-1", "resource": condition})
    assert structure_errors(bundle) == []
    data, report = _read_back(bundle, tmp_path)
    [read] = data.adverse_events
    assert (read.term, read.meddra_code, read.meddra_term) == ("Fever", "10037660", "Pyrexia")
    assert not [i for i in report.issues if i.code in ("FB-FHIR-055", "FB-FHIR-056", "FB-FHIR-059")], report.issues
    assert read.source is not None


def _with_hierarchy(tables: dict) -> None:
    tables["adverse_events.csv"][0].update(SYNTHETIC_MEDDRA)


def test_the_meddra_hierarchy_is_written_and_read_in_r4_and_r5(study_dir, tmp_path):
    """The SYNTHETIC hierarchy: the LLT a second MedDRA coding of the term, marked as such; HLT, HLGT and SOC
    fhirbridge's extensions of the AdverseEvent; the version on every coding; all of it read back."""
    meddra, fields = MAPPING.systems["meddra"], {**SYNTHETIC_MEDDRA}
    for release, term_at in (("R4", "event"), ("R5", "code")):
        bundle, report = _convert(study_dir(_with_hierarchy), tmp_path / release, release)
        assert report.exit_code == 0
        [event] = _of(bundle, "AdverseEvent")
        pt, llt = event[term_at]["coding"]
        assert (pt["code"], pt["display"], "extension" in pt) == ("10037660", "Pyrexia", False)
        assert llt["extension"] == [{"url": MAPPING.extensions["meddra_level"], "valueCode": "LLT"}]
        assert (llt["code"], llt["display"]) == (fields["meddra_llt_code"], fields["meddra_llt"])
        levels = {e["url"].rsplit("/", 1)[1]: e["valueCoding"] for e in event["extension"]
                  if e["url"].rsplit("/", 1)[1].startswith("meddra-")}
        assert {name: (c["code"], c["display"]) for name, c in levels.items()} == {
            f"meddra-{level}": (fields[f"meddra_{level}_code"], fields[f"meddra_{level}"])
            for level in ("hlt", "hlgt", "soc")}
        assert {c["system"] for c in (pt, llt, *levels.values())} == {meddra}
        assert {c["version"] for c in (pt, llt, *levels.values())} == {"27.0"}
        data, read = _read_back(bundle, tmp_path)
        assert data.adverse_events[0].model_dump(include=set(fields)) == fields
        assert not [i for i in read.issues if i.severity >= Severity.WARNING], release


def test_meddra_codings_the_record_cannot_hold_are_reported(study_dir, tmp_path):
    """From other writers: a third MedDRA coding of the term, and an upper level of another MedDRA version."""
    bundle, _ = _convert(study_dir(_with_hierarchy), tmp_path / "out")
    [event] = _of(bundle, "AdverseEvent")
    event["event"]["coding"].append({"system": MAPPING.systems["meddra"], "code": "99000099"})
    soc = next(e for e in event["extension"] if e["url"] == MAPPING.extensions["meddra_soc"])
    soc["valueCoding"]["version"] = "26.1"
    data, report = _read_back(bundle, tmp_path)
    [read] = data.adverse_events
    assert (read.meddra_code, read.meddra_version, read.meddra_soc_code) == ("10037660", "27.0", "99000005")
    messages = [i.message for i in report.issues if i.code == "FB-FHIR-056"]
    assert any("'99000099' is not converted" in m for m in messages), messages
    assert any("MedDRA version 26.1 differs from 27.0" in m for m in messages), messages


# item 11: the cell product -----------------------------------------------------------------------------------

def _with_product_source(tables: dict) -> None:
    for row in tables["infusion.csv"]:
        row.update(source_harvest_id="1", processing="Culture expansion in autologous serum")


def test_the_product_carries_its_collection_and_processing(study_dir, tmp_path):
    folder = study_dir(_with_product_source)
    for release in ("R4", "R5"):
        bundle, _ = _convert(folder, tmp_path / release, release)
        harvests = {p["subject"]["reference"]: p for p in _of(bundle, "Procedure")
                    if p["code"]["coding"][0]["code"] == "49401003"}
        products = _of(bundle, "BiologicallyDerivedProduct")
        assert len(products) == 2
        for product in products:
            harvest = harvests[product["collection"]["source"]["reference"]]
            when = "occurrenceDateTime" if release == "R5" else "performedDateTime"
            assert product["collection"]["collectedDateTime"] == harvest[when]
            [link] = [e for e in product["extension"] if e["url"] == MAPPING.extensions["collection_procedure"]]
            assert link["valueReference"]["reference"] == f"urn:uuid:{harvest['id']}"
            processing = (next(e["valueString"] for e in product["extension"]
                               if e["url"] == MAPPING.extensions["processing"]) if release == "R5"
                          else product["processing"][0]["description"])
            assert processing == "Culture expansion in autologous serum"
        path = tmp_path / release / "bundle.json"
        report = Report()
        data = api.read([path], report, source="fhir", options=ConvertOptions(fhir_version=release))
        assert {(i.harvest_id, i.processing) for i in data.infusions} == {("1", "Culture expansion in autologous "
                                                                            "serum")}, report.issues
        assert not [i for i in report.issues if i.code == "FB-FHIR-056"], report.issues


def test_product_source_and_causality_target_survive_sdtm(study_dir, tmp_path):
    def change(tables: dict) -> None:
        _with_product_source(tables)
        tables["adverse_events.csv"][0]["related_procedure"] = "BOTH"

    api.convert([study_dir(change)], tmp_path / "sdtm", target="sdtm")
    supp = {name: (tmp_path / "sdtm" / name).read_text() for name in ("suppae.csv", "suppex.csv")}
    assert "AERELPR" in supp["suppae.csv"] and "both" in supp["suppae.csv"]
    assert "HARVSPID" in supp["suppex.csv"] and "Culture expansion in autologous serum" in supp["suppex.csv"]
    report = Report()
    data = api.read([tmp_path / "sdtm"], report, source="sdtm")
    assert data.adverse_events[0].related_procedure == "both"
    assert {(i.harvest_id, i.processing) for i in data.infusions} == {("1", "Culture expansion in autologous serum")}


def test_links_to_procedures_the_subject_lacks_are_reported_not_written(study_dir, tmp_path):
    def change(tables: dict) -> None:
        _with_product_source(tables)
        tables["infusion.csv"][0]["source_harvest_id"] = "7"  # subject 001 has harvest 1 only
        tables["harvest.csv"] = [row for row in tables["harvest.csv"] if row["subject_id"] != "001"]
        tables["adverse_events.csv"][0]["related_procedure"] = "BOTH"  # subject 001: no harvest

    bundle, report = _convert(study_dir(change), tmp_path / "out")
    assert sorted((i.code, i.column) for i in report.issues if i.code == "FB-REF-003") == [
        ("FB-REF-003", "related_procedure"), ("FB-REF-003", "source_harvest_id")]
    [event] = _of(bundle, "AdverseEvent")
    assert [_procedure_ids(bundle)[s["instance"]["reference"]] for s in event["suspectEntity"]] == ["infusion"]
    linked = [p for p in _of(bundle, "BiologicallyDerivedProduct")
              if any(e["url"] == MAPPING.extensions["collection_procedure"] for e in p.get("extension", []))]
    assert len(linked) == 1  # subject 002's product only


def test_a_causality_target_without_a_relationship_is_refused(study_dir):
    def change(tables: dict) -> None:
        tables["adverse_events.csv"][0].update(relationship="", related_procedure="INFUSION")

    report = api.validate([study_dir(change)])
    [issue] = [i for i in report.issues if "no relationship is given" in i.message]
    assert issue.file is not None and issue.file.endswith("adverse_events.csv") and issue.row == 2


# item 13: third-party content --------------------------------------------------------------------------------

def test_an_ais_is_checked_whatever_its_profile_and_however_its_answer_is_coded():
    from fhirbridge.formats.fhir.checker.profiles import own_profiles

    def issues(value: dict) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        observation = {"resourceType": "Observation", "status": "final",
                       "code": {"coding": [{"system": "http://loinc.org", "code": "97843-7"}]}, **value}
        own_profiles().check(observation, "Observation", lambda code, m, target, *rest: found.append((code, target)))
        return found

    assert issues({"valueCodeableConcept": {"text": "F"}}) == [("FB-FHIR-035", "Observation.valueCodeableConcept")]
    assert issues({"valueString": "B,C"}) == []
    assert issues({"valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA-x",
                                                        "display": "C"}]}}) == []  # an answer code, displayed C
    assert issues({"valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA-x",
                                                        "display": "grade F"}]}}) != []
