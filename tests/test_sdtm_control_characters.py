"""A control character in a text value (U+0001 in an AE term): Dataset-JSON and XPT hold it as it is; XML 1.0
cannot hold it even escaped, so Dataset-XML is written without it and FB-SDTM-032 says where, and the file stays
readable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

import fhirbridge
from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.issue import Issue

TERM = "Fever\x01 after\x1f infusion"


@pytest.fixture
def export(study_dir: Callable[..., Path]) -> Path:
    def spoil(tables: dict[str, list[dict[str, str]]]) -> None:
        tables["adverse_events.csv"][0]["term"] = TERM

    return study_dir(spoil)


def _convert(export: Path, out: Path, fmt: str) -> list[Issue]:
    report = api.convert([export], out, target="sdtm", options=ConvertOptions(sdtm_format=fmt))  # type: ignore[arg-type]
    assert report.exit_code == 0, report.issues
    return [i for i in report.issues if i.code == "FB-SDTM-032"]


def _terms(folder: Path) -> list[str]:
    """The AE terms the SDTM datasets of ``folder`` read back as."""
    data, report = fhirbridge.read(folder, source="sdtm")
    assert report.exit_code == 0, report.issues
    return [e.term for e in data.adverse_events]


def test_dataset_xml_leaves_the_character_out_and_says_where(export: Path, tmp_path: Path) -> None:
    found = _convert(export, tmp_path / "xml", "dataset-xml")
    ae = tmp_path / "xml" / "ae.xml"
    assert [(Path(i.file or "").name, i.row, i.column, i.subject) for i in found] == [
        ("ae.xml", 1, "AETERM", "S1-001")]
    assert found[0].message == ("AETERM holds a control character XML cannot hold (U+0001, U+001F); Dataset-XML "
                                "has the value without it")
    assert found[0].value == "Fever\\x01 after\\x1f infusion"  # where it was, shown so that any report can hold it
    etree.parse(str(ae))  # well-formed
    assert "Fever after infusion" in _terms(tmp_path / "xml")


@pytest.mark.parametrize("fmt", ["dataset-json", "xpt"])
def test_dataset_json_and_xpt_keep_the_character(export: Path, tmp_path: Path, fmt: str) -> None:
    assert _convert(export, tmp_path / fmt, fmt) == []
    assert TERM in _terms(tmp_path / fmt)
