"""An XML Bundle on disk is validated entry by entry; the Report is the one of the whole document, issue for issue
(codes, paths, messages, order, counts), on the fault corpus written as XML, the example study, spoiled bundles
and XML that only the whole-document reading can order (which is then read whole)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from test_validate_bundle_stream import CORPUS, SPOILS, example, first_subjects  # noqa: F401 (a fixture)

from fhirbridge.formats.fhir import xml
from fhirbridge.formats.fhir.bundle_stream import NotStreamable
from fhirbridge.formats.fhir.checker import validator as validator_module
from fhirbridge.formats.fhir.checker.validator import FhirValidator
from fhirbridge.issues.report import Report

XML_CORPUS = sorted(p.name for p in CORPUS.glob("*.xml")) + sorted(
    p.name for p in (CORPUS.parent / "fhir-bad").glob("*.xml"))


def _as_xml(bundle: dict[str, Any], path: Path) -> Path:
    path.write_bytes(xml.to_bytes(xml.to_xml(bundle, "R4")))
    return path


def _validated(path: Path, *, whole: bool, monkeypatch: pytest.MonkeyPatch, select: tuple[str, ...] = (),
               max_issues: int | None = None) -> tuple[Any, ...]:
    """The issues and what else the validator tells of ``path``, read entry by entry or (``whole``) as one
    document; ``streamed`` tells which it was."""
    read_whole: list[str] = []
    real = validator_module.load_document
    with monkeypatch.context() as patch:
        if whole:
            def not_streamable(*args: Any) -> Any:
                raise NotStreamable
            patch.setattr(validator_module, "xml_bundle_entries", not_streamable)

        def counted(path: Any, *args: Any) -> Any:
            read_whole.append(str(path))
            return real(path, *args)
        patch.setattr(validator_module, "load_document", counted)
        report = Report(select=select, max_issues=max_issues)
        validator = FhirValidator(report)
        validator.validate_files([path])
        report.finish()
    issues = [(i.code, i.target, i.message, i.value, i.expected, str(i.severity), i.file) for i in report.issues]
    return issues, (sorted(validator.rejected), validator.resources, validator.bundles, report.stats,
                    sorted(report.rules_run), report.rules_skipped, dict(report.overflow)), not read_whole


#: The reports compared: the default one and the one with the best-practice rules.
BOTH_SELECTIONS: tuple[tuple[str, ...], ...] = ((), ("FB",))


def _same(path: Path, monkeypatch: pytest.MonkeyPatch, max_issues: int | None = None,
          selections: tuple[tuple[str, ...], ...] = BOTH_SELECTIONS) -> tuple[list[Any], bool]:
    """The reports of each selection of rules, streamed and whole, are the same; the first is returned, and
    whether it was streamed. The example study's bundles are compared on the default report only (reading its
    XML four times made these the slowest tests of the suite); the small corpus files on both."""
    found = []
    for select in selections:
        streamed = _validated(path, whole=False, monkeypatch=monkeypatch, select=select, max_issues=max_issues)
        whole = _validated(path, whole=True, monkeypatch=monkeypatch, select=select, max_issues=max_issues)
        assert streamed[:2] == whole[:2]
        assert not whole[2]
        found.append((streamed[0], streamed[2]))
    return found[0]


def _corpus_bundles() -> list[str]:
    names = []
    for path in sorted(CORPUS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and document.get("resourceType") == "Bundle":
            try:
                xml.to_xml(document, "R4")
            except (ValueError, TypeError, AttributeError):
                continue  # a fault XML cannot carry (a wrong JSON shape)
            names.append(path.name)
    return names


@pytest.mark.parametrize("name", _corpus_bundles())
def test_fault_corpus_as_xml_streamed_gives_the_whole_document_report(name: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    issues, streamed = _same(_as_xml(bundle, tmp_path / "bundle.xml"), monkeypatch)
    # read whole only for a problem of reading the Bundle's own elements (some faults are of JSON alone, such as
    # a decimal given as a string: XML has none)
    shell_problems = [i for i in issues if i[0] == "FB-FHIR-056" and not str(i[1]).startswith("Bundle.entry")]
    assert streamed != bool(shell_problems)


@pytest.mark.parametrize("name", XML_CORPUS)
def test_xml_fault_files_give_the_whole_document_report(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = CORPUS if (CORPUS / name).exists() else CORPUS.parent / "fhir-bad"
    issues, _ = _same(folder / name, monkeypatch)
    assert issues


@pytest.mark.parametrize("spoil", sorted(set(SPOILS) - {"mixed", "entry-first"}))
def test_spoiled_bundles_as_xml_streamed_give_the_whole_document_report(
        spoil: str, example: dict[str, Any], tmp_path: Path,  # noqa: F811 (the fixture)
        monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = SPOILS[spoil](copy.deepcopy(example) if spoil == "clean" else first_subjects(example))
    try:
        path = _as_xml(bundle, tmp_path / f"{spoil}.xml")
    except ValueError as exc:
        pytest.skip(f"XML cannot carry this spoil: {exc}")
    issues, streamed = _same(path, monkeypatch, selections=((),))
    assert streamed
    if spoil in ("document", "transaction", "late-targets", "after-entry"):
        assert issues


def test_a_report_past_its_cap_counts_the_same_streamed(example: dict[str, Any], tmp_path: Path,  # noqa: F811
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = SPOILS["transaction"](_first_entries(example))
    path = _as_xml(bundle, tmp_path / "transaction.xml")
    text = path.read_text(encoding="utf-8").replace("<status value=\"final\"/>", "<status value=\"final\"/><x/>", 3)
    path.write_text(text, encoding="utf-8")
    issues, streamed = _same(path, monkeypatch, max_issues=5, selections=((),))
    assert streamed and len(issues) == 5
    assert [code for code, *_ in issues[:3]] == ["FB-FHIR-056"] * 3  # the problems of reading come first


def _first_entries(bundle: dict[str, Any], count: int = 80) -> dict[str, Any]:
    """A copy of the example bundle cut to its first entries (the study and its first subjects): problems of
    reading XML need no more, and the whole example read four times per test was slow."""
    cut = copy.deepcopy(bundle)
    cut["entry"] = cut["entry"][:count]
    return cut


XML_SPOILS = {
    # problems of reading inside entries: reported first, in order, at their paths; the entries still streamed
    "unknown elements in entries": (lambda t: t.replace("<status value=\"final\"/>",
                                                        "<status value=\"final\"/><unknown value=\"1\"/>", 2), True),
    "text between entries": (lambda t: t.replace("</entry>", "</entry>stray", 1), False),
    "an element after the entries": (lambda t: t.replace("</Bundle>", "<total value=\"3\"/></Bundle>"), True),
    "an unknown element of the Bundle": (lambda t: t.replace("</Bundle>", "<nothing/></Bundle>"), False),
    "a repeated element of the Bundle": (lambda t: t.replace("</Bundle>", "<type value=\"batch\"/></Bundle>"), False),
    "an entry without a resource": (lambda t: t.replace("<entry>", "<entry><fullUrl value=\"urn:x\"/></entry><entry>",
                                                        1), True),
    "not well-formed": (lambda t: t[: len(t) // 2], False),
}


@pytest.mark.parametrize("spoil", sorted(XML_SPOILS))
def test_xml_only_the_whole_document_can_order_is_read_whole(spoil: str, example: dict[str, Any],  # noqa: F811
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    change, streamable = XML_SPOILS[spoil]
    path = _as_xml(_first_entries(example), tmp_path / "bundle.xml")
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
    issues, streamed = _same(path, monkeypatch)
    assert streamed == streamable
    assert issues
