"""The fault corpus (tests/data/fhir-faults): one fault per file, each caught by its rule at the right entry
and FHIRPath, and nothing else reported; a clean control (the example study converted) gives no issue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXAMPLE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirbridge import api
from fhirbridge.formats.fhir.checker.validator import BUNDLE_RULES, STRUCTURE_RULES, FhirValidator
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.issue import Severity
from fhirbridge.issues.registry import RULES
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping

CORPUS = Path(__file__).parent / "data" / "fhir-faults"

#: file → the (code, FHIRPath, line) of every issue it must give, and no other.
EXPECTED: dict[str, set[tuple[str, str | None, int | None]]] = {
    # structure and cardinality
    "missing-required.json": {("FB-FHIR-012", "Bundle.entry[1].resource.status", None)},
    "too-many-values.json": {("FB-FHIR-013", "Bundle.entry[0].resource.gender", None)},
    "wrong-json-shape.json": {("FB-FHIR-014", "Bundle.entry[0].resource.identifier", None)},
    "unknown-element.json": {("FB-FHIR-011", "Bundle.entry[0].resource.gendre", None)},
    "choice-conflict.json": {("FB-FHIR-016", "Bundle.entry[1].resource.valueString", None)},
    "lone-resource.json": {("FB-FHIR-012", "Observation.status", None)},
    # primitive types and formats
    "bad-integer.json": {("FB-FHIR-015", "Bundle.entry[1].resource.valueInteger", None)},
    "bad-decimal.json": {("FB-FHIR-015", "Bundle.entry[1].resource.component[2].valueQuantity.value", None)},
    "bad-date.json": {("FB-FHIR-015", "Bundle.entry[0].resource.birthDate", None)},
    "bad-datetime.json": {("FB-FHIR-015", "Bundle.entry[1].resource.effectiveDateTime", None)},
    "bad-instant.json": {("FB-FHIR-015", "Bundle.entry[1].resource.meta.lastUpdated", None)},
    "bad-id.json": {("FB-FHIR-015", "Bundle.entry[2].resource.id", None)},
    "bad-uri.json": {("FB-FHIR-015", "Bundle.entry[0].resource.identifier[0].system", None)},
    "bad-code-format.json": {("FB-FHIR-015", "Bundle.entry[1].resource.code.coding[0].code", None)},
    # required bindings
    "required-binding.json": {("FB-FHIR-017", "Bundle.entry[1].resource.status", None)},
    # invariants
    "invariant-ele-1.json": {("FB-FHIR-018", "Bundle.entry[2].resource.code", None)},
    "invariant-obs-6.json": {("FB-FHIR-018", "Bundle.entry[1].resource", None)},
    "invariant-obs-7.json": {("FB-FHIR-018", "Bundle.entry[1].resource", None)},
    "invariant-per-1.json": {("FB-FHIR-018", "Bundle.entry[2].resource.performedPeriod", None)},
    "invariant-ext-1.json": {("FB-FHIR-018", "Bundle.entry[2].resource.extension[0]", None)},
    "invariant-dom-3.json": {("FB-FHIR-018", "Bundle.entry[2].resource", None)},
    "invariant-ref-1.json": {("FB-FHIR-018", "Bundle.entry[2].resource.performer[0].actor", None)},
    # fhirbridge terminology and profiles
    "unknown-own-code.json": {("FB-FHIR-030", "Bundle.entry[1].resource.code.coding[1].code", None)},
    "profile-wrong-code.json": {("FB-FHIR-031", "Bundle.entry[2].resource.code", None)},
    "profile-missing-components.json": {("FB-FHIR-032", "Bundle.entry[1].resource.component", None)},
    "profile-value-out-of-range.json": {("FB-FHIR-035", "Bundle.entry[1].resource.valueInteger", None)},
    # third-party SCI content, without fhirbridge's profiles: held to what its code allows
    "third-party-ais-f.json": {("FB-FHIR-035", "Bundle.entry[1].resource.valueCodeableConcept", None)},
    "third-party-lems-too-high.json": {("FB-FHIR-035", "Bundle.entry[1].resource.valueInteger", None)},
    "third-party-level-unknown.json": {("FB-FHIR-035", "Bundle.entry[1].resource.valueString", None)},
    # bundle integrity
    "duplicate-fullurl.json": {("FB-FHIR-020", "Bundle.entry[2].fullUrl", None)},
    "transaction-without-request.json": {("FB-FHIR-021", "Bundle.entry[2]", None)},
    "unresolved-reference.json": {("FB-FHIR-002", "Bundle.entry[1].resource.subject.reference", None)},
    "wrong-reference-type.json": {("FB-FHIR-022", "Bundle.entry[1].resource.subject.reference", None)},
    # identity of subjects across records
    "identity-disagrees.json": {("FB-FHIR-040", "Bundle.entry[3].resource.birthDate", None)},
    # FHIR XML, through the FHIR spoke's XML mapping
    "xml-bad-date.xml": {("FB-FHIR-015", "Bundle.entry[0].resource.birthDate", None)},
    # NDJSON: located by line
    "resources.ndjson": {("FB-IO-007", None, 2), ("FB-FHIR-017", "Observation.status", 3)},
}


def _found(path: Path) -> set[tuple[str, str | None, int | None]]:
    report = Report()
    FhirValidator(report).validate_files([path])
    assert all(i.file == str(path) for i in report.issues)
    return {(i.code, i.target, i.row) for i in report.issues}


def test_every_corpus_file_has_an_expectation():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fault_is_caught_at_its_entry_and_path(name):
    assert _found(CORPUS / name) == EXPECTED[name]


def test_one_run_reports_every_fault_of_every_file():
    """The FHIR layers' rules only: the FHIR reader adds what it cannot turn into records."""
    ours = tuple(sorted(set(STRUCTURE_RULES + BUNDLE_RULES + ("FB-IO-",)) - {"FB-FHIR-019"}))  # 019 is opt-in
    report = api.validate([CORPUS], source="fhir", select=ours)
    assert {(i.code, i.target, i.row) for i in report.issues} == set().union(*EXPECTED.values())
    assert report.exit_code == 1


def test_the_readers_structure_check_is_superseded_by_the_fhir_layers():
    report = api.validate([CORPUS / "bad-date.json"], source="fhir")
    assert "FB-FHIR-001" not in {i.code for i in report.issues}
    assert ("FB-FHIR-015", "Bundle.entry[0].resource.birthDate") in {(i.code, i.target) for i in report.issues}
    assert report.rules_skipped["FB-FHIR-001"].startswith("superseded")


def test_every_fault_of_one_resource_is_reported_not_only_the_first(tmp_path):
    bundle = json.loads((CORPUS / "missing-required.json").read_text())
    observation = bundle["entry"][1]["resource"]
    observation.update({"gendre": "x", "effectiveDateTime": "2019-13-01", "valueString": "also"})
    path = tmp_path / "many.json"
    path.write_text(json.dumps(bundle))
    assert {code for code, _, _ in _found(path)} == {"FB-FHIR-011", "FB-FHIR-012", "FB-FHIR-015", "FB-FHIR-016"}


#: A third-party resource (after the specification's Patient example): narrative, primitive extensions on a
#: single and on a repeating primitive, a choice type, an outside reference.
THIRD_PARTY = {
    "resourceType": "Patient", "id": "example", "meta": {"lastUpdated": "2020-01-01T10:00:00Z"},
    "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter</div>"},
    "identifier": [{"use": "usual", "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345",
                    "period": {"start": "2001-05-06"}}],
    "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", None],
              "_given": [None, {"extension": [{"url": "http://example.org/initial", "valueString": "J"}]}]}],
    "gender": "male", "birthDate": "1974-12-25",
    "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                                  "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
    "deceasedBoolean": False, "managingOrganization": {"reference": "Organization/1"},
}


def _lone(resource: dict, tmp_path: Path) -> set[tuple[str, str | None, int | None]]:
    path = tmp_path / "resource.json"
    path.write_text(json.dumps(resource))
    return _found(path)


def test_third_party_resource_with_primitive_extensions_is_valid(tmp_path):
    assert _lone(THIRD_PARTY, tmp_path) == set()


def test_primitive_extensions_are_checked_too(tmp_path):
    spoiled = json.loads(json.dumps(THIRD_PARTY))
    spoiled["_birthDate"]["extension"][0]["valueDateTime"] = "1974-12-25T14:35"
    spoiled["name"][0]["_given"] = {"extension": []}
    assert _lone(spoiled, tmp_path) == {
        ("FB-FHIR-015", "Patient.birthDate.extension[0].valueDateTime", None),
        ("FB-FHIR-014", "Patient.name[0].given", None),
        ("FB-FHIR-018", "Patient.name[0].given[1]", None),  # ele-1: null, its extensions no longer parallel
    }


@pytest.fixture(scope="module")
def example_bundles(tmp_path_factory) -> dict[str, Path]:
    """The example study converted, as a collection and as a transaction bundle."""
    out = {}
    for bundle_type in ("collection", "transaction"):
        folder = tmp_path_factory.mktemp(bundle_type)
        report = api.convert([EXAMPLE], folder, options=ConvertOptions(bundle_type=bundle_type))
        assert report.exit_code == 0
        out[bundle_type] = folder / "bundle.json"
    return out


@pytest.mark.parametrize("bundle_type", ["collection", "transaction"])
def test_clean_control_gives_no_issue(example_bundles, bundle_type):
    report = Report()
    validator = FhirValidator(report)
    validator.validate_files([example_bundles[bundle_type]])
    assert report.issues == []
    assert validator.resources > 900
    assert "FB-FHIR-018" in report.rules_run and "FB-FHIR-002" in report.rules_run


def test_clean_control_passes_every_layer_of_validate(example_bundles):
    report = api.validate([example_bundles["collection"]], source=None)
    assert report.header["input_format"] == "fhir"
    # the FHIR reader notes (information) that the conversion's Provenance is no record
    assert [i for i in report.issues if i.severity > Severity.INFORMATION] == []
    assert report.exit_code == 0


def test_clean_control_with_best_practice_rules_selected_reports_the_missing_narrative(example_bundles):
    report = Report(select=("FB-FHIR-019",))
    FhirValidator(report).validate_files([example_bundles["collection"]])
    assert report.issues and {i.code for i in report.issues} == {"FB-FHIR-019"}
    assert all(i.message.startswith("dom-6") for i in report.issues)


def test_r5_content_is_left_to_the_reader_not_judged_by_r4_rules(tmp_path):
    report = api.convert([EXAMPLE], tmp_path, options=ConvertOptions(fhir_version="R5"))
    assert report.exit_code == 0
    validated = api.validate([tmp_path / "bundle.json"], source="fhir")
    assert [i.code for i in validated.issues if i.severity > Severity.INFORMATION] == []
    assert "FB-FHIR-024" in {i.code for i in validated.issues}
    # the reader checks it with the R5 checker: the structure rules ran, FB-FHIR-001 (the models) did not
    assert "FB-FHIR-011" in validated.rules_run and "FB-FHIR-001" in validated.rules_skipped
    assert "FB-FHIR-031" in validated.rules_skipped  # our profiles are checked by the validator alone


def test_r5_content_with_a_structure_error_is_reported_by_the_r5_checker(tmp_path):
    api.convert([EXAMPLE], tmp_path, options=ConvertOptions(fhir_version="R5"))
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    patient = _first(bundle, lambda r: r["resourceType"] == "Patient")
    patient["birthDate"] = "2019-02-30"
    patient["unknownElement"] = True
    validated = api.validate([_spoiled(tmp_path / "bundle.json", tmp_path, lambda b: b.update(bundle))],
                             source="fhir")
    found = {(i.code, i.target) for i in validated.issues}
    where = next(t for c, t in found if c == "FB-FHIR-011")
    assert where.endswith(".unknownElement") and ("FB-FHIR-015", where.replace("unknownElement", "birthDate")) in found


def _spoiled(bundle_path: Path, tmp_path: Path, spoil) -> Path:
    bundle = json.loads(bundle_path.read_text())
    spoil(bundle)
    out = tmp_path / "spoiled.json"
    out.write_text(json.dumps(bundle))
    return out


def _first(bundle: dict, predicate) -> dict:
    return next(e["resource"] for e in bundle["entry"] if predicate(e["resource"]))


def _scim_total(resource: dict) -> bool:
    return any(c.get("code") == "total" for c in resource.get("code", {}).get("coding", []))


def _infusion(resource: dict) -> bool:
    return resource["resourceType"] == "Procedure" and "performedPeriod" in resource


def _ais(resource: dict) -> bool:
    return any(c.get("code") == "97843-7" for c in resource.get("code", {}).get("coding", []))


def _other_grade(resource: dict) -> None:
    grade = "A" if resource["valueCodeableConcept"]["text"] != "A" else "D"
    resource["valueCodeableConcept"]["text"] = grade
    resource["valueCodeableConcept"]["coding"][0]["code"] = grade


def _is_scim_panel(resource: dict) -> bool:
    return any(c.get("code") == "panel" for c in resource.get("code", {}).get("coding", []))


def test_scim_item_value_not_allowed_is_caught_in_fhir_input(example_bundles, tmp_path):
    bundle = json.loads(example_bundles["collection"].read_text())
    index = next(i for i, e in enumerate(bundle["entry"]) if _is_scim_panel(e["resource"]))
    bundle["entry"][index]["resource"]["component"][0]["valueInteger"] = 7  # item 1, feeding: 0-3
    path = tmp_path / "scim.json"
    path.write_text(json.dumps(bundle))
    assert _found(path) == {("FB-FHIR-035", f"Bundle.entry[{index}].resource.component[0].valueInteger", None)}


@pytest.mark.parametrize(("code", "spoil"), [
    ("FB-SCIM-002", lambda b: _first(b, _scim_total).update(valueInteger=3)),
    ("FB-ISN-001", lambda b: _other_grade(_first(b, _ais))),
    ("FB-DATE-001", lambda b: _first(b, _infusion)["performedPeriod"].update(start="1990-01-01T10:00:00+09:00",
                                                                            end="1990-01-01T10:30:00+09:00")),
    ("FB-AE-001", lambda b: _first(b, lambda r: r["resourceType"] == "AdverseEvent").update(date="1990-01-01")),
])
def test_clinical_faults_of_fhir_input_are_caught_through_the_hub(example_bundles, tmp_path, code, spoil):
    path = _spoiled(example_bundles["collection"], tmp_path, spoil)
    report = api.validate([path], source="fhir")
    assert code in {i.code for i in report.issues}


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "extension", "url", "valueString", "_status", "status", "code", "coding", "system",
                         "reference", "start", "end", "value", "component", "contained", "resourceType",
                         "entry", "resource", "fullUrl", "request", "given", "_given", "text", "div", "x"]),
        inner, max_size=5),
    max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["Observation", "Bundle", "Patient", "Procedure", "Nope", None]),
       st.dictionaries(st.sampled_from(["status", "code", "component", "contained", "entry", "type", "name",
                                        "_birthDate", "birthDate", "performedPeriod", "valueQuantity", "meta"]),
                       _json, max_size=6))
def test_any_json_gives_issues_never_an_exception(resource_type, body):
    document = {"resourceType": resource_type, **body} if resource_type else body
    report = Report()
    FhirValidator(report).document(document)
    assert all(issue.code in RULES for issue in report.issues)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(load_fhir_mapping().profiles.values())),
       st.dictionaries(st.sampled_from(["code", "component", "valueInteger", "derivedFrom", "identifier"]), _json,
                       max_size=4))
def test_any_json_claiming_our_profiles_gives_issues_never_an_exception(profile, body):
    document = {"resourceType": "Observation", "meta": {"profile": [profile]}, **body}
    report = Report()
    FhirValidator(report).document(document)
    assert all(issue.code in RULES for issue in report.issues)
