"""A JSON Bundle on disk is validated entry by entry; the Report is the one of the whole document, issue for issue
(codes, paths, messages and order), on the fault corpus, the example study and spoiled bundles."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE

from fhirbridge import api
from fhirbridge.formats.fhir import bundle_stream
from fhirbridge.formats.fhir import reader as reader_module
from fhirbridge.formats.fhir.bundle_stream import NotStreamable
from fhirbridge.formats.fhir.checker import bundle as bundle_module
from fhirbridge.formats.fhir.checker import validator as validator_module
from fhirbridge.formats.fhir.checker.validator import FhirValidator
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.inputs import Source
from fhirbridge.issues.report import Report
from fhirbridge.records import Study

CORPUS = Path(__file__).parent / "data" / "fhir-faults"
BAD = Path(__file__).parent / "data" / "fhir-bad"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("example")
    assert api.convert([EXAMPLE], folder, options=ConvertOptions()).exit_code == 0
    return json.loads((folder / "bundle.json").read_text(encoding="utf-8"))


def first_subjects(bundle: dict[str, Any], subjects: int = 2) -> dict[str, Any]:
    """A copy of the example bundle cut after its first ``subjects`` subjects (each ends with its Provenance):
    still many windows of 3,000 bytes and every resource type, at a sixth of the example's size."""
    provenances = [i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Provenance"]
    cut = copy.deepcopy(bundle)
    cut["entry"] = cut["entry"][:provenances[subjects] + 1]  # the first Provenance is the study's
    return cut


def _after_entry(bundle: dict[str, Any]) -> dict[str, Any]:
    """Elements after ``entry`` in the file, some wrong, one with a reference that does not resolve."""
    shell = {k: v for k, v in bundle.items() if k != "entry"}
    return {**shell, "entry": bundle["entry"], "link": [{"relation": "self", "url": 3}], "total": 2,
            "signature": {"who": {"reference": "Patient/nobody"}}, "unknown": [1]}


def _mixed(bundle: dict[str, Any]) -> dict[str, Any]:
    del bundle["type"]
    entries = bundle["entry"]
    entries[0]["search"] = {"mode": "match"}
    entries[1]["response"] = {"status": "200"}
    entries[2]["fullUrl"] = entries[3]["fullUrl"]
    entries[4] = 7
    entries[5]["resource"]["subject"] = {"reference": "Patient/nobody"}
    entries[6]["resource"]["gender"] = "?"
    return bundle


def _document(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle["type"] = "document"
    bundle["entry"][6]["fullUrl"] = "urn:uuid:x/_history/1"
    bundle["entry"][7]["resource"]["unknown"] = {"reference": "Patient/nobody"}
    return bundle


def _late_targets(bundle: dict[str, Any]) -> dict[str, Any]:
    """References to entries further on: one of a type its element allows, one of a type it does not."""
    entries = bundle["entry"]
    patients = [e for e in entries if e["resource"]["resourceType"] == "Patient"]
    observations = [i for i, e in enumerate(entries) if e["resource"]["resourceType"] == "Observation"]
    first = observations[0]
    entries[first]["resource"]["subject"] = {"reference": patients[-1]["fullUrl"]}
    entries[first + 1]["resource"]["subject"] = {"reference": entries[observations[-1]]["fullUrl"]}
    return bundle


def _transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle["type"] = "transaction"
    bundle["entry"][7]["request"] = {"method": "PUT"}
    return bundle


def _empty(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle["entry"] = []
    return bundle


def _entry_first(bundle: dict[str, Any]) -> dict[str, Any]:
    """``entry`` before ``resourceType``: the entry reader leaves the file to the whole-document reader."""
    return {"entry": bundle["entry"][:5], **{k: v for k, v in bundle.items() if k != "entry"}}


def _empty_objects(bundle: dict[str, Any]) -> dict[str, Any]:
    """Empty objects where elements are expected, which the screen of text without ``{}`` does not look for."""
    entries = bundle["entry"]
    patients = [e for e in entries if e["resource"]["resourceType"] == "Patient"]
    patients[0]["resource"]["_birthDate"] = {}
    patients[-1]["resource"]["maritalStatus"] = {}
    entries[-1]["request"] = {}
    return bundle


SPOILS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "clean": lambda b: b, "after-entry": _after_entry, "mixed": _mixed, "document": _document,
    "transaction": _transaction, "late-targets": _late_targets, "empty-entry": _empty, "entry-first": _entry_first,
    "empty-objects": _empty_objects,
}


def _validated(path: Path, *, whole: bool, monkeypatch: pytest.MonkeyPatch, select: tuple[str, ...] = (),
               streamable: bool = True) -> tuple[list[Any], Any]:
    """The issues and what else the validator tells of ``path``, read entry by entry (never whole, when it is a
    ``streamable`` Bundle) or (``whole``) as one document."""
    with monkeypatch.context() as patch:
        if whole:
            def not_streamable(path: Path, top: dict[str, Any]) -> Any:
                raise NotStreamable
            patch.setattr(validator_module, "json_entry_chunks", not_streamable)
        else:
            def refused(self: Source) -> Any:
                raise AssertionError("the whole document was read")
            if streamable:
                patch.setattr(Source, "json", refused)
        report = Report(select=select)
        validator = FhirValidator(report)
        validator.validate_files([path])
        report.finish()
    issues = [(i.code, i.target, i.message, i.value, i.expected, str(i.severity), i.file) for i in report.issues]
    return issues, (sorted(validator.rejected), validator.resources, validator.bundles, report.stats,
                    sorted(report.rules_run), report.rules_skipped)


def _same(path: Path, monkeypatch: pytest.MonkeyPatch, streamable: bool = True) -> list[Any]:
    """Both reports, with and without the best-practice rules, are the same; the default one is returned."""
    reports = []
    for select in ((), ("FB",)):
        streamed = _validated(path, whole=False, monkeypatch=monkeypatch, select=select, streamable=streamable)
        assert streamed == _validated(path, whole=True, monkeypatch=monkeypatch, select=select)
        reports.append(streamed[0])
    return reports[0]


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.json")))
def test_fault_corpus_streamed_gives_the_whole_document_report(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    issues = _same(CORPUS / name, monkeypatch, streamable=name != "lone-resource.json")
    if name != "lone-resource.json":
        assert issues  # every fault file has its fault


@pytest.mark.parametrize("chunk", [bundle_stream.CHUNK_BYTES, 3000])
@pytest.mark.parametrize("spoil", sorted(SPOILS))
def test_spoiled_bundles_streamed_give_the_whole_document_report(spoil: str, chunk: int, example: dict[str, Any],
                                                                  tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamed in one chunk or in many (each screened in one call, or entry by entry when one fails). The whole
    example is read clean in chunks of a megabyte (it is nearly three); spoils need only its first subjects."""
    monkeypatch.setattr(bundle_stream, "CHUNK_BYTES", chunk)
    path = tmp_path / f"{spoil}.json"
    whole_example = spoil == "clean" and chunk == bundle_stream.CHUNK_BYTES
    bundle = copy.deepcopy(example) if whole_example else first_subjects(example)
    path.write_text(json.dumps(SPOILS[spoil](bundle)), encoding="utf-8")
    issues = _same(path, monkeypatch, streamable=spoil != "entry-first")
    assert bool(issues) == (spoil not in ("clean", "entry-first"))
    if spoil == "empty-objects":
        found = {(code, target.rpartition(".")[2]) for code, target, *_ in issues}
        assert {("FB-FHIR-018", "birthDate"), ("FB-FHIR-018", "maritalStatus"), ("FB-FHIR-018", "request")} <= found


def test_elements_after_the_entries_are_reported_after_them(example: dict[str, Any], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bundle.json"
    bundle = _after_entry(copy.deepcopy(example))
    bundle["entry"][3]["resource"]["gender"] = 1
    path.write_text(json.dumps(bundle), encoding="utf-8")
    targets = [target for _, target, *_ in _validated(path, whole=False, monkeypatch=monkeypatch)[0]]
    # the walk in the order of the file, then bdl-1 (total), then the reference of the signature
    assert targets.index("Bundle.entry[3].resource.gender") < targets.index("Bundle.link[0].url") \
        < targets.index("Bundle.unknown") < targets.index("Bundle") < targets.index("Bundle.signature.who.reference")


@pytest.mark.parametrize("cut", [1, 3000])
def test_broken_json_is_reported_alone_without_a_traceback(cut: int, example: dict[str, Any], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A file cut short is found broken only at its end, after its entries were checked: none of it is
    reported but the JSON error, as when the document is read whole."""
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(_mixed(copy.deepcopy(example)))[:-cut], encoding="utf-8")
    report = Report()
    validator = FhirValidator(report)
    validator.validate_files([path])
    assert [i.code for i in report.issues] == ["FB-IO-006"]
    assert validator.resources == 0 and not validator.rejected
    assert _same(BAD / "truncated.json", monkeypatch, streamable=False)[0][0] == "FB-IO-006"


@pytest.mark.parametrize("where", ["start", "inside an entry"])
def test_bytes_that_are_not_utf8_are_reported_without_a_traceback(where: str, example: dict[str, Any],
                                                                  tmp_path: Path) -> None:
    """Invalid UTF-8 found while the entries are streamed is the same JSON error as reading the file whole."""
    text = json.dumps(example).encode("utf-8")
    cut = 0 if where == "start" else len(text) // 2
    path = tmp_path / "latin.json"
    path.write_bytes(text[:cut] + b"\xff\xfe" + text[cut:])
    report = api.validate([path], source="fhir")
    assert [i.code for i in report.issues] == ["FB-IO-006"]
    assert report.exit_code == 2


def test_references_waiting_for_their_target_are_located_when_too_many_resources_wait(
        example: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "late-targets.json"
    path.write_text(json.dumps(_late_targets(copy.deepcopy(example))), encoding="utf-8")
    monkeypatch.setattr(bundle_module, "_HELD_RESOURCES", 1)
    issues = _same(path, monkeypatch)
    assert [(code, target) for code, target, *_ in issues] == [("FB-FHIR-022", issues[0][1])]
    assert issues[0][1].endswith(".resource.subject.reference")


@pytest.mark.parametrize("spoil", ["clean", "mixed"])
def test_validate_parses_a_json_bundle_once_and_reads_the_same_records(spoil: str, example: dict[str, Any],
                                                                        tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader takes the entries the checker parsed (from its spill file) instead of parsing the document
    again, and reads from them the records it reads on its own."""
    path = tmp_path / f"{spoil}.json"
    path.write_text(json.dumps(SPOILS[spoil](copy.deepcopy(example))), encoding="utf-8")
    alone = Report()
    expected = [r for r in api.read([path], alone, source="fhir").records()]
    parses: list[str] = []
    real = validator_module.json_entry_chunks

    def counted(source: Source, top: dict[str, Any]) -> Any:
        parses.append(str(source))
        return real(source, top)

    def refused(source: Source, top: dict[str, Any]) -> Any:
        raise AssertionError("the reader parsed the Bundle again")

    monkeypatch.setattr(validator_module, "json_entry_chunks", counted)
    monkeypatch.setattr(reader_module, "json_entries", refused)
    chunks: list[Any] = []
    report = api.validate([path], source="fhir", on_records=lambda chunk, _: chunks.append(chunk))
    assert parses == [str(path)]
    read = [r for n, chunk in enumerate(chunks) for r in chunk.records() if n == 0 or not isinstance(r, Study)]
    assert read == expected and len(expected) > 100
    reader_issues = {(i.code, i.target) for i in alone.issues if i.code.startswith("FB-FHIR-05")}
    assert reader_issues <= {(i.code, i.target) for i in report.issues}
