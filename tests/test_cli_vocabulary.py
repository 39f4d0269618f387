"""One vocabulary on the command line: the same option names for the same things, one rule at a time, a release
converted into another in one step, progress only for a person at a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from fhirbridge import __version__, api
from fhirbridge.cli import main
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.registry import RULES
from fhirbridge.progress import StageBars, stage_bars, summary


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    result = run(flag)
    assert result.exit_code == 0 and result.output.strip() == f"fhirbridge, version {__version__}"


def test_rules_shows_one_rule_or_a_family():
    one = run("rules", "FB-CSV-002")
    assert one.exit_code == 0 and one.output.splitlines() == [
        "\t".join((r.code, r.severity, r.layer, r.title, r.description)) for r in [RULES["FB-CSV-002"]]]
    family = json.loads(run("rules", "FB-SCIM", "--format", "json").output)
    assert [r["code"] for r in family] == [c for c in RULES if c.startswith("FB-SCIM")]
    unknown = run("rules", "FB-NOPE")
    assert unknown.exit_code == 2 and "known prefixes" in unknown.output


def test_classify_format_json_is_the_old_json_flag(study_dir):
    folder = study_dir()
    new = run("isncsci", "classify", folder, "--format", "json")
    old = run("isncsci", "classify", folder, "--json")
    assert new.exit_code == old.exit_code == 0
    assert new.stdout == old.stdout and [t["asiaImpairmentScale"] for t in json.loads(new.stdout)] == ["E", "E"]


def test_the_report_file_is_report_everywhere_and_output_is_what_a_command_makes(study_dir, tmp_path):
    folder = study_dir()
    converted = run("convert", folder, "-o", tmp_path / "out", "--report", tmp_path / "convert.json",
                    "--format", "json", "-q")
    assert converted.exit_code == 0 and (tmp_path / "out" / "bundle.json").exists()
    assert json.loads((tmp_path / "convert.json").read_text(encoding="utf-8"))["outputs"]
    for option in ("--report", "-o", "--output"):
        report = tmp_path / f"validate{option}.json"
        assert run("validate", folder, option, report, "--format", "json").exit_code == 0
        assert json.loads(report.read_text(encoding="utf-8"))["valid"] is True
    twice = run("convert", folder, "-o", tmp_path / "a", "--output", tmp_path / "b.json")
    assert twice.exit_code == 2 and "the report file is --report FILE" in twice.output
    assert run("convert", folder, "--out", tmp_path / "old", "-q").exit_code == 0  # the old spelling still works


def test_validate_takes_sdtm_format_and_fhir_version(study_dir, tmp_path):
    sdtm = tmp_path / "sdtm"
    assert run("convert", study_dir(), "--to", "sdtm", "--sdtm-format", "xpt", "-o", sdtm, "-q").exit_code == 0
    assert run("convert", study_dir(), "--to", "sdtm", "-o", tmp_path / "csv", "-q").exit_code == 0
    (tmp_path / "csv" / "dm.csv").rename(sdtm / "dm.csv")  # a folder holding two formats
    chosen = json.loads(run("validate", sdtm, "--as", "sdtm", "--sdtm-format", "xpt", "--format", "json").stdout)
    assert [Path(i["file"]).name for i in chosen["issues"] if i["code"] == "FB-SDTM-020"] == ["dm.csv"]
    r5 = tmp_path / "r5"
    assert run("convert", study_dir(), "--fhir-version", "R5", "-o", r5, "-q").exit_code == 0
    as_r5 = run("validate", r5, "--fhir-version", "R5", "--format", "json")
    assert as_r5.exit_code == 0, as_r5.stdout
    as_r4 = json.loads(run("validate", r5, "--as", "fhir", "--fhir-version", "R4", "--format", "json").stdout)
    assert "FB-FHIR-057" in {i["code"] for i in as_r4["issues"]}  # R5 shapes, read as R4 as told


def test_convert_turns_r4_into_r5_in_one_step(study_dir, tmp_path):
    assert run("convert", study_dir(), "-o", tmp_path / "r4", "-q").exit_code == 0
    result = run("convert", "--from", "fhir", "--to", "fhir", "--fhir-version", "R5", tmp_path / "r4",
                 "-o", tmp_path / "r5", "--format", "json")
    assert result.exit_code == 0, result.stdout
    bundle = orjson.loads((tmp_path / "r5" / "bundle.json").read_bytes())
    events = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent"]
    assert events and all("code" in e and "event" not in e for e in events)  # R5's AdverseEvent.code
    assert not structure_errors(bundle, "R5")  # the fhir.resources R5 models
    told = run("convert", "--from", "fhir", "--to", "fhir", "--from-fhir-version", "R5", "--fhir-version", "R5",
               tmp_path / "r4", "-o", tmp_path / "wrong", "--format", "json")
    assert "FB-FHIR-057" in {i["code"] for i in json.loads(told.stdout)["issues"]}  # told R5, the input is R4


def test_progress_bars_only_on_a_terminal_and_never_when_quiet(study_dir, tmp_path, monkeypatch):
    with stage_bars(False, "read") as bars:
        assert bars is None  # pytest's standard error is not a terminal
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    with stage_bars(True, "read") as bars:
        assert bars is None
    monkeypatch.undo()
    result = run("convert", study_dir(), "-o", tmp_path / "out", "--jobs", "1", "--format", "json")
    assert result.exit_code == 0
    assert result.stderr == ""  # CliRunner's standard error is no terminal: no bars, no closing line
    line = summary(api.convert([study_dir()], tmp_path / "again", options=ConvertOptions(jobs=1)), 1.25, "read")
    assert line == ("read 1 study, 2 subjects, 2 ISNCSCI exams, 2 SCIM-III assessments, 2 harvests, 2 infusions, "
                    f"1 adverse event; {json.loads(result.stdout)['stats']['resources']} FHIR resources written in "
                    "1 file in 1.2 s")


def test_stage_bars_count_each_stage_with_its_rate():
    bars = StageBars(("read", "check", "write"))
    bars.note("reading subjects.csv (2/7)")
    bars.advance("read")
    bars.advance("check", 120)
    bars.advance("write", 100)
    bars.advance("unknown")  # a stage without a bar is ignored
    tasks = {t.description: (t.completed, t.fields["rate"]) for t in bars.progress.tasks}
    assert tasks["read: reading subjects.csv (2/7)"][0] == 1
    assert tasks["check"][0] == 120 and tasks["check"][1].endswith("records/s")
    assert tasks["write"][0] == 100
