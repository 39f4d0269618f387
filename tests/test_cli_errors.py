"""No silent "valid" and no traceback: each way a new user can get the command line wrong, or hand it nothing, gives
a located error and the right exit code (2: bad usage or unreadable input; 1 means issues were found)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from conftest import REPO

from fhirbridge.cli import main
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.guards import MANIFEST

MESSY = REPO / "examples" / "messy"


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def _issues(result) -> list[dict]:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return json.loads(result.stdout)["issues"]


@pytest.fixture
def bundle(study_dir, tmp_path) -> Path:
    """The small study as a FHIR bundle."""
    result = run("convert", study_dir(), "-o", tmp_path / "fhir", "-q")
    assert result.exit_code == 0, result.output
    return tmp_path / "fhir" / "bundle.json"


def test_an_empty_folder_is_fatal_not_valid(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (["validate"], ["convert", "-o", tmp_path / "out"]):
        result = run(*command, empty, "--format", "json")
        assert result.exit_code == 2, result.output
        assert [(i["code"], i["severity"]) for i in _issues(result)] == [("FB-IO-009", "fatal")]
        assert "holds no file" in _issues(result)[0]["message"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == [MANIFEST]  # and it lists nothing
    assert (tmp_path / "out" / MANIFEST).read_text(encoding="utf-8") == ""


def test_files_the_layout_does_not_match_give_a_hint(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "patients.csv").write_text("id,sex\n1,M\n", encoding="utf-8")
    result = run("validate", folder, "--as", "csv", "--format", "json")
    assert result.exit_code == 2
    fatal = [i for i in _issues(result) if i["code"] == "FB-IO-009"]
    assert len(fatal) == 1 and "`subjects*.csv`" in fatal[0]["message"] and "--mapping" in fatal[0]["message"]


def test_a_missing_file_is_fb_io_001(tmp_path):
    missing = tmp_path / "nowhere.csv"
    for command in (["validate"], ["convert", "-o", tmp_path / "out"]):
        result = run(*command, missing, "--format", "json")
        assert result.exit_code == 2, result.output
        assert [(i["code"], i["file"]) for i in _issues(result)] == [("FB-IO-001", str(missing))]


@pytest.mark.parametrize("option", ["--select", "--ignore"])
def test_an_unknown_code_or_prefix_is_refused(option, study_dir):
    result = run("validate", study_dir(), option, "FB-SCM")
    assert result.exit_code == 2
    assert "'FB-SCM' is no rule code or prefix" in result.output and "FB-SCIM" in result.output
    assert "Traceback" not in result.output
    assert run("validate", study_dir(), option, "FB-SCIM", "-q").exit_code == 0  # a real prefix is taken


def test_reading_a_fhir_bundle_as_csv_is_an_error(bundle):
    result = run("validate", "--as", "csv", bundle, "--format", "json")
    assert result.exit_code == 2
    fatal = [i for i in _issues(result) if i["severity"] == "fatal"]
    assert [i["code"] for i in fatal] == ["FB-IO-009"] and "looks like fhir; use --as fhir" in fatal[0]["message"]


def test_subjects_of_a_study_that_was_not_read_are_errors_and_write_no_dangling_reference(study_dir, tmp_path):
    folder = study_dir()
    (folder / "study.csv").unlink()
    result = run("convert", folder, "-o", tmp_path / "out", "--format", "json")
    assert result.exit_code == 1
    unknown = [i for i in _issues(result) if i["code"] == "FB-REF-002"]
    assert [(Path(i["file"]).name, i["row"], i["column"]) for i in unknown] == [("subjects.csv", 2, "study_id"),
                                                                                  ("subjects.csv", 3, "study_id")]
    assert "no study was read" in unknown[0]["message"]
    assert json.loads(result.stdout)["outputs"] == []  # every subject is left out, so nothing refers to a study
    assert not (tmp_path / "out" / "bundle.json").exists()
    # with the study present, the same export converts: the errors were the study's absence alone
    assert run("convert", study_dir(), "-o", tmp_path / "whole", "-q").exit_code == 0


def test_an_output_folder_that_cannot_be_written_is_one_line_and_exit_2(study_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = run("convert", study_dir(), "-o", blocker / "out")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip().splitlines()[-1]]
    assert result.output.startswith("Error: cannot write into") and "Traceback" not in result.output
    report = run("validate", study_dir(), "--output", blocker / "report.json")
    assert report.exit_code == 2 and report.output.startswith("Error: cannot write the report to")


def test_an_input_with_headers_only_writes_no_fhir(study_dir, tmp_path):
    folder = study_dir()
    for path in folder.iterdir():
        path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    result = run("convert", folder, "-o", tmp_path / "out", "--format", "json")
    assert result.exit_code == 2
    assert "FB-IO-009" in {i["code"] for i in _issues(result)}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MANIFEST]  # no Provenance of nothing


def test_an_adverse_event_ending_before_its_onset_is_left_out_and_the_bundle_is_valid(tmp_path):
    result = run("convert", MESSY, "-o", tmp_path, "--format", "json")
    assert result.exit_code == 1
    [issue] = [i for i in _issues(result) if i["code"] == "FB-DATE-002"]
    assert issue["subject"] == "009" and "it is not converted" in issue["message"]
    bundle = orjson.loads((tmp_path / "bundle.json").read_bytes())
    events = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent"]
    assert events and not [e for e in events if "009" in json.dumps(e.get("subject"))
                           and e.get("identifier", [{}])[0].get("value", "").endswith("2")]
    assert not structure_errors(bundle)  # fhir.resources R4B: per-1 and everything else


def test_converting_into_a_folder_of_another_format_removes_the_earlier_files(study_dir, tmp_path):
    out = tmp_path / "out"
    assert run("convert", study_dir(), "--to", "sdtm", "-o", out, "-q").exit_code == 0
    assert (out / "dm.csv").exists()
    (out / "notes.txt").write_text("mine", encoding="utf-8")  # not fhirbridge's: kept
    assert run("convert", study_dir(), "--to", "fhir", "-o", out, "-q").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "bundle.json", "notes.txt"]
    checked = run("validate", out, "--format", "json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["header"]["input_format"] == "fhir"


def test_classify_tells_a_fhir_bundle_without_from(bundle):
    result = run("isncsci", "classify", bundle)
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["001/BASELINE", "002/BASELINE"]
    assert "AIS E" in result.stdout


def test_the_example_generator_prints_its_help(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "examples" / "generate.py"), "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: generate.py")
    assert list(tmp_path.iterdir()) == []  # no folder called --help
    shutil.rmtree(tmp_path, ignore_errors=True)
