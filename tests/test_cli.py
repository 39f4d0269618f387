"""The command line: exit codes, report formats and files written."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import EXAMPLE, REPO

from fhirbridge import __version__
from fhirbridge.cli import main
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.issues.registry import RULES
from fhirbridge.issues.render import use_colour

MESSY = REPO / "examples" / "messy"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_convert_example_exits_0_and_writes_a_bundle(tmp_path):
    result = run("convert", "--from", "csv", "--to", "fhir", EXAMPLE, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "bundle.json" in result.output
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"


def test_messy_export_exits_1_with_a_located_json_report(tmp_path):
    report_file = tmp_path / "report.json"
    result = run("convert", MESSY, "-o", tmp_path / "out", "--format", "json", "--report", report_file)
    assert result.exit_code == 1
    report = json.loads(report_file.read_text())
    assert report["valid"] is False and report["exit_code"] == 1
    motor = [i for i in report["issues"] if i.get("column") == "r_l3_motor"]
    assert motor and motor[0]["code"] == "FB-CSV-003" and motor[0]["row"] == 12
    assert motor[0]["file"].endswith("isncsci.csv") and motor[0]["value"] == "7"
    assert report["counts"]["error"] >= 10
    # the good records still converted
    bundle = json.loads((tmp_path / "out" / "bundle.json").read_text())
    patients = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 4


def test_fail_on_warning(study_dir):
    folder = study_dir(lambda t: [row.update(extra="x") for row in t["harvest.csv"]])
    assert run("validate", folder).exit_code == 0
    assert run("validate", folder, "--fail-on", "warning").exit_code == 1


def test_empty_input_file_exits_2(study_dir):
    folder = study_dir()
    (folder / "subjects.csv").write_text("")
    result = run("validate", folder)
    assert result.exit_code == 2
    assert "FB-IO-002" in result.output and "subjects.csv" in result.output


def test_bad_mapping_exits_2_naming_file_and_key(study_dir, tmp_path):
    mapping = tmp_path / "site.yaml"
    mapping.write_text("spec: fhirbridge/csv-layout\nversion: '1'\nname: x\ndate_formats: ['%Y']\nfiles: {}\n")
    result = run("validate", study_dir(), "--mapping", mapping)
    assert result.exit_code == 2
    assert "FB-MAP-001" in result.output and str(mapping) in result.output and "files" in result.output


def test_bad_usage_exits_2(tmp_path):
    assert run("convert", tmp_path).exit_code == 2  # no -o
    assert run("convert", "--to", "sdtx", tmp_path, "-o", tmp_path).exit_code == 2


def test_rules_lists_every_code():
    result = run("rules")
    assert result.exit_code == 0
    assert [line.split("\t")[0] for line in result.output.splitlines()] == list(RULES)


def test_profiles_export_writes_valid_code_systems(tmp_path):
    result = run("profiles", "export", tmp_path)
    assert result.exit_code == 0
    files = sorted(tmp_path.glob("CodeSystem-*.json"))
    assert len(files) >= 5
    for path in files:
        assert structure_errors(json.loads(path.read_text())) == []


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(True) and not use_colour(False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(True)


def test_readme_quick_start_matches_ci():
    """CI runs the README's test command; keep the two equal."""
    readme = (REPO / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2
    assert "fhirbridge convert" in commands[0]
    assert commands[1] in (REPO / ".ci" / "run").read_text()
    assert Path(REPO / ".ci" / "run").stat().st_mode & 0o111


def test_csv_to_csv_to_fhir_gives_the_same_bundle(tmp_path):
    """The CSV writer loses nothing the FHIR bundle holds (derived classifications are written as values)."""
    assert run("convert", "--to", "csv", EXAMPLE, "-o", tmp_path / "csv").exit_code == 0
    assert run("convert", EXAMPLE, "-o", tmp_path / "a").exit_code == 0
    assert run("convert", tmp_path / "csv", "-o", tmp_path / "b").exit_code == 0

    def entries(folder):
        bundle = json.loads((folder / "bundle.json").read_text())
        kept = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Provenance"]
        for e in kept:  # the written files are named after the layout's globs, so sources differ by name
            e["resource"]["meta"].pop("source")
        return kept

    assert entries(tmp_path / "a") == entries(tmp_path / "b")

