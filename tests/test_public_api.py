"""The public Python API: ``__all__`` is honest, every kind of input gives the report its file gives, options are
plain strings, and every usage error is a FhirbridgeError."""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import pytest
from conftest import EXAMPLE, REPO

import fhirbridge
from fhirbridge import FhirbridgeError, Report, Source

MESSY = REPO / "examples" / "messy"
FAULTS = REPO / "tests" / "data" / "fhir-faults"
BAD = REPO / "tests" / "data" / "fhir-bad"
FHIR_FILE = BAD / "unknown-code-and-type.json"


def _found(report: Report) -> tuple[int, Counter[tuple[Any, ...]]]:
    """What a report found, whatever its inputs were named: the exit code and every issue but its file."""
    return report.exit_code, Counter((i.code, i.severity, i.row, i.column, i.target, i.message) for i in report.issues)


# -- __all__ ----------------------------------------------------------------------------------------------------


def test_every_name_in_all_is_importable_and_documented() -> None:
    assert sorted(fhirbridge.__all__) == sorted(set(fhirbridge.__all__))
    for name in fhirbridge.__all__:
        value = getattr(fhirbridge, name)
        if name != "__version__":
            assert inspect.getdoc(value), f"fhirbridge.{name} has no docstring"
        assert name in dir(fhirbridge)
    namespace: dict[str, Any] = {}
    exec("from fhirbridge import *", namespace)
    assert set(fhirbridge.__all__) <= set(namespace)


def test_nothing_public_is_missing() -> None:
    import fhirbridge.public
    import fhirbridge.records

    public_functions = {n for n, f in vars(fhirbridge.public).items()
                        if inspect.isfunction(f) and f.__module__ == "fhirbridge.public" and not n.startswith("_")}
    assert public_functions == {"convert", "validate", "classify", "read", "write"}
    assert public_functions | set(fhirbridge.records.__all__) <= set(fhirbridge.__all__)
    for module in ("cli", "service.app"):  # every module that defines a usage error is imported by these
        __import__(f"fhirbridge.{module}")
    errors = {cls.__name__ for cls in _subclasses(FhirbridgeError)} | {"FhirbridgeError"}
    assert errors <= set(fhirbridge.__all__)
    with pytest.raises(AttributeError):
        fhirbridge.no_such_name  # noqa: B018


def _subclasses(cls: type) -> set[type]:
    return {c for sub in cls.__subclasses__() for c in {sub, *_subclasses(sub)}}


def test_import_fhirbridge_imports_nothing_else() -> None:
    code = "import sys, fhirbridge; print(sorted(m for m in sys.modules if m.startswith('fhirbridge.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


# -- inputs -----------------------------------------------------------------------------------------------------


def test_csv_from_paths_strings_bytes_and_file_objects_gives_the_same_report() -> None:
    files = sorted(MESSY.glob("*.csv"))
    expected = fhirbridge.validate(MESSY)
    assert expected.exit_code == 1 and expected.issues
    assert _found(fhirbridge.validate(str(MESSY))) == _found(expected)
    assert _found(fhirbridge.validate(files)) == _found(expected)
    assert _found(fhirbridge.validate(p for p in files)) == _found(expected)
    named = fhirbridge.validate([(p.name, p.read_bytes()) for p in files])
    assert _found(named) == _found(expected)
    assert {i.file for i in named.issues} <= {p.name for p in files} | {None}
    with_sources = fhirbridge.validate([Source(p.read_bytes(), name=f"upload/{p.name}") for p in files])
    assert _found(with_sources) == _found(expected)
    assert any(i.file == "upload/subjects.csv" for i in with_sources.issues)
    with _opened(files, "rb") as binary:  # file objects are named by their own name
        report = fhirbridge.validate(binary)
    assert _found(report) == _found(expected)
    assert {i.file for i in report.issues} == {i.file for i in expected.issues}


def test_text_file_objects_read_like_their_files() -> None:
    utf8 = [p for p in sorted(MESSY.glob("*.csv")) if _is_utf8(p.read_bytes())]
    expected = fhirbridge.validate(utf8)
    assert expected.issues
    with _opened(utf8, "r") as text:
        report = fhirbridge.validate(text)
    assert _found(report) == _found(expected)
    assert {i.file for i in report.issues} == {i.file for i in expected.issues}


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@contextlib.contextmanager
def _opened(paths: list[Path], mode: str) -> Iterator[list[IO[Any]]]:
    handles = [p.open(mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) for p in paths]
    try:
        yield handles
    finally:
        for handle in handles:
            handle.close()


def test_fhir_from_bytes_a_file_object_and_a_parsed_bundle_gives_the_same_report() -> None:
    expected = fhirbridge.validate(FHIR_FILE)
    assert {"FB-FHIR-054", "FB-FHIR-055"} <= {i.code for i in expected.issues}
    data = FHIR_FILE.read_bytes()
    for given, name in ((data, "<bytes>"), (io.BytesIO(data), "<stream>"), (("sent.json", data), "sent.json"),
                        (orjson.loads(data), "<json>"), (("bundle.json", orjson.loads(data)), "bundle.json")):
        report = fhirbridge.validate(given)
        assert report.header["input_format"] == "fhir"
        assert _found(report) == _found(expected), name
        assert {i.file for i in report.issues} - {None} == {name}


def test_a_list_of_resources_reads_as_ndjson(tmp_path: Path) -> None:
    resources = [e["resource"] for e in orjson.loads(FHIR_FILE.read_bytes())["entry"]]
    ndjson = tmp_path / "resources.ndjson"
    ndjson.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    expected = fhirbridge.validate(ndjson)
    report = fhirbridge.validate(resources)
    assert _found(report) == _found(expected)
    assert {i.file for i in report.issues} - {None} == {"<resources>"}
    _, read_report = fhirbridge.read(resources)
    assert _found(read_report)[1] == _found(fhirbridge.read(ndjson)[1])[1]


def test_parsed_json_is_left_as_it_was_given() -> None:
    bundle = orjson.loads((FAULTS / "identity-disagrees.json").read_bytes())
    before = copy.deepcopy(bundle)
    fhirbridge.validate(bundle)
    fhirbridge.read(bundle)
    assert bundle == before


def test_sdtm_datasets_in_memory_read_like_files() -> None:
    sdtm = EXAMPLE.parent / "sdtm"
    data, report = fhirbridge.read(sdtm)
    assert report.header["sdtm_mapping"] and len(data.subjects) == 13
    in_memory, again = fhirbridge.read([(p.name, p.read_bytes()) for p in sorted(sdtm.iterdir())])
    assert _found(again) == _found(report)
    assert in_memory.count() == data.count()


def test_the_format_of_content_in_memory_is_told_from_it() -> None:
    header = b"STUDYID,DOMAIN,USUBJID,AESEQ,AETERM\n"
    assert fhirbridge.validate(("ae.csv", header)).header["input_format"] == "sdtm"
    assert fhirbridge.validate(("subjects.csv", b"study_id,subject_id\n")).header["input_format"] == "csv"
    assert fhirbridge.validate(b'{"resourceType": "Patient"}').header["input_format"] == "fhir"
    xml = b'<Patient xmlns="http://hl7.org/fhir"><gender value="female"/></Patient>'
    assert fhirbridge.validate(xml).header["input_format"] == "fhir"
    ndjson = b'{"resourceType": "Patient", "id": "a"}\n{"resourceType": "Patient", "id": "b"}\n'
    assert Source(ndjson).suffix == ".ndjson" and Source(xml).suffix == ".xml"
    assert fhirbridge.validate(ndjson).stats["resources"] == 2
    unknown = fhirbridge.validate(b"")
    assert unknown.exit_code == 2 and [i.code for i in unknown.issues] == ["FB-IO-008"]


def test_a_bundle_written_an_entry_per_line_is_not_taken_for_ndjson(tmp_path: Path) -> None:
    fhirbridge.convert(EXAMPLE, tmp_path / "fhir")
    bundle = tmp_path / "fhir" / "bundle.json"
    data = bundle.read_bytes()
    assert data.count(b"\n") > 100 and data.splitlines()[1].startswith(b"{")  # the compact form fhirbridge writes
    expected = fhirbridge.validate(bundle)
    from_bytes = fhirbridge.validate(data)
    assert Source(data).suffix == ".json"
    assert from_bytes.stats["resources"] == expected.stats["resources"] > 100
    assert _found(from_bytes) == _found(expected)


def test_ndjson_whose_first_resource_is_longer_than_the_head_is_told_from_json() -> None:
    long = {"resourceType": "Patient", "id": "a", "name": [{"text": "x" * 10_000}]}
    ndjson = orjson.dumps(long) + b"\n" + orjson.dumps({"resourceType": "Patient", "id": "b"}) + b"\n"
    assert Source(ndjson).suffix == ".ndjson"
    assert Source(orjson.dumps({"resourceType": "Bundle", "type": "collection"}, option=orjson.OPT_INDENT_2)).suffix \
        == ".json"
    assert Source(b'\n\n  {"resourceType": "Patient"}\n').suffix == ".json"


@pytest.mark.parametrize("name", ["{" + "x" * 300 + "}", "a\0b", "/" + "y" * 5000])
def test_a_str_no_file_can_have_is_a_missing_file_not_an_exception(name: str) -> None:
    """A str is a path: content given as one (or a name the system refuses) is reported, never raised as OSError."""
    reports = [fhirbridge.validate(name), fhirbridge.validate(name, source="fhir"),
               fhirbridge.read(name, source="sdtm")[1]]
    for report in reports:
        assert report.exit_code == 2
        assert [i.code for i in report.issues] == ["FB-IO-001"]
        issue = report.issues[0]
        assert issue.message.startswith("no such file or folder") and len(issue.file or "") <= 201
        assert ("looks like content" in issue.message) == name.startswith("{")


def test_convert_and_write_take_content_and_strings(tmp_path: Path) -> None:
    files = [(p.name, p.read_bytes()) for p in sorted(EXAMPLE.glob("*.csv"))]
    report = fhirbridge.convert(files, str(tmp_path / "fhir"), fhir_format="ndjson", fail_on="warning")
    assert report.exit_code == 0 and len(report.outputs) > 5  # every resource written was checked
    data, read_report = fhirbridge.read(str(tmp_path / "fhir"))
    assert read_report.header["fhir_release"] and len(data.subjects) == 13
    written = fhirbridge.write(data, "csv", tmp_path / "csv")
    assert written.exit_code == 0 and {Path(p).parent for p in written.outputs} == {tmp_path / "csv"}
    assert fhirbridge.read(tmp_path / "csv")[0].count() == data.count()


def test_classify_takes_parsed_flat_exams() -> None:
    exams, report = fhirbridge.classify(EXAMPLE)
    assert len(exams) == 39 and report.exit_code == 0
    flat = _flat_exam()
    results, report = fhirbridge.classify([flat, {**flat, "id": "broken", "c5RightMotor": "9"}])
    assert [label for label, _ in results] == ["1"] and results[0][1].asia_impairment_scale == "E"
    assert {(i.file, i.target) for i in report.issues} == {("<exams>.json", "$[1]")}


def _flat_exam() -> dict[str, str]:
    motor = ["c5", "c6", "c7", "c8", "t1", "l2", "l3", "l4", "l5", "s1"]
    sensory = ["c2", "c3", "c4", "c5", "c6", "c7", "c8", *(f"t{n}" for n in range(1, 13)), "l1", "l2", "l3", "l4",
               "l5", "s1", "s2", "s3", "s4_5"]
    exam = {f"{level}{side}Motor": "5" for side in ("Right", "Left") for level in motor}
    exam.update({f"{level}{side}{kind}": "2" for side in ("Right", "Left") for kind in ("Touch", "Prick")
                 for level in sensory})
    return {**exam, "analContraction": "Yes", "analSensation": "Yes"}


# -- options and usage errors -----------------------------------------------------------------------------------


def test_enums_are_plain_strings() -> None:
    assert fhirbridge.validate(MESSY, source="csv", fail_on="warning").fail_on == fhirbridge.Severity.WARNING
    assert fhirbridge.validate(MESSY, fail_on=fhirbridge.Severity.WARNING).fail_on == fhirbridge.Severity.WARNING
    everything = {i.code for i in fhirbridge.validate(MESSY).issues}
    assert {i.code for i in fhirbridge.validate(MESSY, select="FB-SCIM").issues} == {
        c for c in everything if c.startswith("FB-SCIM")}
    kept = {i.code for i in fhirbridge.validate(MESSY, ignore="FB-SCIM, FB-CSV").issues}
    assert kept == {c for c in everything if not c.startswith(("FB-SCIM", "FB-CSV"))}
    assert fhirbridge.validate(FHIR_FILE, source="fhir", fhir_version="R4").header["fhir_release"] == "4.0.1"


@pytest.mark.parametrize(("call", "listed"), [
    (lambda: fhirbridge.validate(MESSY, fail_on="fatal"), "fail_on='fatal' is not one of: error, warning"),
    (lambda: fhirbridge.validate(MESSY, source="hl7v2"), "source='hl7v2' is not one of: csv, sdtm, fhir"),
    (lambda: fhirbridge.convert(MESSY, "out", target="pdf"), "target='pdf' is not one of: csv, fhir, sdtm"),
    (lambda: fhirbridge.convert(MESSY, "out", fhir_format="yaml"), "fhir_format='yaml' is not one of: json, xml, "
                                                                  "ndjson"),
    (lambda: fhirbridge.convert(MESSY, "out", options=fhirbridge.ConvertOptions(bundle_type="batch")),  # type: ignore[arg-type]
     "bundle_type='batch' is not one of: collection, transaction"),
    (lambda: fhirbridge.read(MESSY, sdtm_fromat="xpt"), "unknown option 'sdtm_fromat'; the options are: "),
])
def test_a_bad_value_raises_listing_the_valid_ones(call: Any, listed: str) -> None:
    with pytest.raises(fhirbridge.InvalidOption, match=re.escape(listed)):
        call()


def test_fhirbridge_error_catches_every_usage_error(tmp_path: Path) -> None:
    usage_errors = [
        lambda: fhirbridge.validate(MESSY, fail_on="never"),
        lambda: fhirbridge.convert(EXAMPLE, tmp_path, fhir_format="ndjson", bundle_type="transaction"),
        lambda: fhirbridge.validate(42),  # type: ignore[arg-type]
        lambda: fhirbridge.classify([EXAMPLE, MESSY]),
    ]
    for call in usage_errors:
        with pytest.raises(FhirbridgeError):
            call()
    assert issubclass(fhirbridge.MappingError, FhirbridgeError)
    assert issubclass(fhirbridge.UnsupportedOption, ValueError) and issubclass(fhirbridge.InvalidOption, ValueError)
    spec = tmp_path / "site.yaml"
    spec.write_text("spec: fhirbridge/csv-layout\nfiles: {}\n")
    report = fhirbridge.validate(MESSY, csv_mapping=str(spec))  # a spec is input: its problems are reported
    assert report.exit_code == 2 and [i.code for i in report.issues] == ["FB-MAP-001"]


def test_the_command_line_ends_a_usage_error_with_its_message_and_exit_code_2(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fhirbridge import api
    from fhirbridge.cli import main

    result = CliRunner().invoke(main, ["convert", "--fhir-format", "ndjson", "--bundle-type", "transaction",
                                       str(EXAMPLE), "-o", str(tmp_path)])
    assert result.exit_code == 2 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert "Error: NDJSON holds resources, not a Bundle" in result.output and "Traceback" not in result.output
    with pytest.raises(FhirbridgeError, match="cannot write format 'pdf'; supported: csv, fhir, sdtm"):
        api.convert([EXAMPLE], tmp_path, target="pdf")


# -- the documentation's example ---------------------------------------------------------------------------------


def test_the_documented_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = (REPO / "docs" / "guide" / "python-api.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", page, re.S)
    assert code is not None
    (tmp_path / "examples").symlink_to(REPO / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(code.group(1), "docs/guide/python-api.md", "exec"), {})
    assert (tmp_path / "out" / "bundle.json").exists()


def test_cycles_made_while_the_collector_is_paused_are_freed_when_it_ends() -> None:
    """Validation and conversion run with the cyclic collector off, then collect the youngest generation only:
    everything made meanwhile is there, so a cycle they left is freed all the same."""
    import gc
    import weakref

    from fhirbridge.api import _cyclic_gc_paused

    class Node:
        pass

    assert gc.isenabled()
    with _cyclic_gc_paused():
        old = Node()
        gc.collect()  # ``old`` moves to the oldest generation (inside: as if made before the pause)
        looped = Node()
        looped.self, looped.old = looped, old  # type: ignore[attr-defined]
        freed = weakref.ref(looped)
        del looped
        assert freed() is not None  # the collector is off: the cycle is still held
    assert freed() is None
    assert gc.isenabled()
