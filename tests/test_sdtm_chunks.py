"""SDTM written a chunk of subjects at a time is the SDTM of one pass, in every file format; and each streamed
file is what the format's library writes for the whole dataset at once (pyreadstat for XPT, orjson for
Dataset-JSON, lxml for Dataset-XML)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import orjson
import pytest
from conftest import EXAMPLE, EXAMPLE_SDTM_MAPPING
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from test_sdtm_output import EXAMPLE_EPOCH

from fhirbridge import api
from fhirbridge.checks import check
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.formats.sdtm import odm, spoke, xport_v5
from fhirbridge.formats.sdtm.dataset import Column, Dataset, as_text
from fhirbridge.formats.sdtm.dataset_xml import DatasetXmlWriter
from fhirbridge.formats.sdtm.xpt_files import XptWriter
from fhirbridge.issues.report import Report
from fhirbridge.records import StudyData

FORMATS = ["csv", "xpt", "dataset-json", "dataset-xml"]


@pytest.fixture(scope="module")
def example() -> StudyData:
    return api.read([EXAMPLE], Report())


def _copies(example: StudyData, copies: int) -> list[StudyData]:
    """The studies alone, then one chunk per copy of the example's subjects (ids that sort in copy order)."""
    chunks = [StudyData(studies=example.studies)]
    for copy in range(copies):
        chunk = StudyData(studies=example.studies)
        for record in example.records():
            if hasattr(record, "subject_id"):
                chunk.add(record.model_copy(update={"subject_id": f"C{copy}-{record.subject_id}"}))
        chunks.append(chunk)
    return chunks


def _by_subject(data: StudyData, size: int) -> list[StudyData]:
    """The studies alone, then chunks of ``size`` whole subjects in subject order, each with the studies."""
    subjects = sorted({s.subject_id for s in data.subjects})
    chunks = [StudyData(studies=data.studies)]
    for start in range(0, len(subjects), size):
        these = set(subjects[start:start + size])
        chunk = StudyData(studies=data.studies)
        for record in data.records():
            if getattr(record, "subject_id", None) in these:
                chunk.add(record)
        chunks.append(chunk)
    return chunks


def _merged(chunks: list[StudyData]) -> StudyData:
    whole = StudyData(studies=chunks[0].studies)
    for chunk in chunks[1:]:
        for record in chunk.records():
            if record not in chunk.studies:
                whole.add(record)
    return whole


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["example-by-3-subjects", "two-copies"])
def test_chunks_give_the_files_of_one_pass(example, fmt, case, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EXAMPLE_EPOCH)
    chunks = _by_subject(example, 3) if case.startswith("example") else _copies(example, 2)
    whole = _merged(chunks)
    options = ConvertOptions(sdtm_format=fmt, sdtm_mapping=EXAMPLE_SDTM_MAPPING)  # type: ignore[arg-type]
    one = Report()
    spoke.write(whole, tmp_path / "one", one, options, check(whole, Report()))
    many = Report()
    spoke.write_chunks(chunks, tmp_path / "many", many, options, check)
    expected = _files(tmp_path / "one")
    assert len(expected) == 20  # 18 datasets (with the trial design, SE and SV), SUPPAE and define.xml
    assert _files(tmp_path / "many") == expected
    # TS counts and dates the subjects of every chunk, not of the first
    assert f"ACTSUB,Actual Number of Subjects,{len(whole.subjects)}," in expected.get("ts.csv", b"").decode() or \
        fmt != "csv"
    assert many.issues == one.issues
    assert [i.code for i in one.issues] == ["FB-SDTM-021"]  # the example is coded to MedDRA preferred terms only
    assert many.stats["records"]["subjects"] == len(whole.subjects)
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary file left behind


_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


def _masked(xpt: bytes) -> bytes:
    """An XPT file without the creation times of its headers (pyreadstat writes the current time)."""
    return _STAMP.sub(b"X" * 16, xpt[:560]) + xpt[560:]


def _pyreadstat_copy(path: Path, out: Path) -> bytes:
    """The XPT pyreadstat writes for the data frame read back from ``path``."""
    pyreadstat = pytest.importorskip("pyreadstat")
    frame, meta = pyreadstat.read_xport(str(path), encoding="utf-8")
    pyreadstat.write_xport(frame, str(out), file_label=meta.file_label, column_labels=meta.column_labels,
                           table_name=meta.table_name, file_format_version=5)
    return out.read_bytes()


def test_xpt_is_what_pyreadstat_writes(example, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EXAMPLE_EPOCH)
    chunks = _by_subject(example, 5)
    spoke.write_chunks(chunks, tmp_path / "xpt", Report(),
                       ConvertOptions(sdtm_format="xpt", sdtm_mapping=EXAMPLE_SDTM_MAPPING), check)
    written = sorted((tmp_path / "xpt").glob("*.xpt"))
    assert len(written) == 19  # every dataset of the example, SUPPAE included
    for path in written:
        assert b"01JAN25:00:00:00" in path.read_bytes()[:560]  # SOURCE_DATE_EPOCH
        assert _masked(path.read_bytes()) == _masked(_pyreadstat_copy(path, tmp_path / path.name)), path.name


def _columns() -> list[Column]:
    return [Column("STUDYID", "Study Identifier"), Column("USUBJID", "Unique Subject Identifier"),
            Column("AETERM", "Reported Term for the Adverse Event (verbatim)"),
            Column("AESEQ", "Sequence Number", "Num", "integer"), Column("AEVAL", "Value", "Num", "float")]


def _rows() -> list[dict]:
    return [
        {"STUDYID": "S1", "USUBJID": "S1-01", "AETERM": "Kopfschmerz, leicht (Übelkeit)", "AESEQ": 1, "AEVAL": 0.1},
        {"STUDYID": "S1", "USUBJID": "S1-01", "AETERM": None, "AESEQ": None, "AEVAL": -2.5e-7},
        {"STUDYID": "S1", "USUBJID": "S1-02", "AETERM": "x" * 250, "AESEQ": 3, "AEVAL": None},
        {"STUDYID": "S1", "USUBJID": "S1-02", "AETERM": 'a & b < c > "d"\n\te\r', "AESEQ": 4, "AEVAL": 1e30},
    ]


def _texts(columns: list[Column], rows: list[dict]) -> list[list[str]]:
    return [[as_text(row.get(c.name)) for row in rows] for c in columns]


def test_xpt_of_odd_values_is_pyreadstats_and_issues_number_rows_across_chunks(tmp_path, monkeypatch):
    pd = pytest.importorskip("pandas")
    pyreadstat = pytest.importorskip("pyreadstat")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EXAMPLE_EPOCH)
    columns, rows, issues = _columns(), _rows(), []
    writer = XptWriter(tmp_path / "ae.xpt", "AE", "Adverse Events", columns, issues)
    writer.append(Dataset("AE", "Adverse Events", columns, rows[:2]), _texts(columns, rows[:2]), 1)
    writer.append(Dataset("AE", "Adverse Events", columns, rows[2:]), _texts(columns, rows[2:]), 3)
    writer.finish(columns)
    frame = pd.DataFrame({c.name: pd.Series([math.nan if r[c.name] is None else float(r[c.name]) for r in rows])
                          if c.type == "Num" else
                          pd.Series([(r[c.name] or "").encode()[:200].decode() for r in rows], dtype="object")
                          for c in columns})
    pyreadstat.write_xport(frame, str(tmp_path / "reference.xpt"), file_label="Adverse Events",
                           column_labels=[c.label[:40] for c in columns], table_name="AE", file_format_version=5)
    assert _masked((tmp_path / "ae.xpt").read_bytes()) == _masked((tmp_path / "reference.xpt").read_bytes())
    assert [(i.code, i.row, i.column) for i in issues] == [
        ("FB-SDTM-011", None, "AETERM"),  # label over 40 characters, once
        ("FB-SDTM-019", 1, "AETERM"),  # non-ASCII
        ("FB-SDTM-011", 3, "AETERM"),  # 250 bytes, cut to 200
    ]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False),
                          st.sampled_from([0.1, -0.0, 2.0**-261, 2.0**-260, 2.0**248, 2.0**249, 5e-324])),
                min_size=1, max_size=40))
def test_xpt_numbers_are_pyreadstats_ibm_floats(tmp_path_factory, values):
    pd = pytest.importorskip("pandas")
    pyreadstat = pytest.importorskip("pyreadstat")
    path = tmp_path_factory.mktemp("ibm") / "x.xpt"
    pyreadstat.write_xport(pd.DataFrame({"X": [math.nan if v is None else v for v in values]}), str(path),
                           table_name="X", file_format_version=5)
    variables = [xport_v5.Variable("X", "", "Num", 8)]
    observations = b"".join(xport_v5.observations([(v,) for v in values], variables))
    assert path.read_bytes().endswith(observations + xport_v5.padding(len(observations)))


def test_dataset_xml_is_what_lxml_writes_for_the_whole_document(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EXAMPLE_EPOCH)
    columns, rows = _columns(), [*_rows(), {"STUDYID": None}]
    writer = DatasetXmlWriter(tmp_path / "ae.xml", "AE", columns, "S1", [])
    writer.append(Dataset("AE", "", columns, rows[:3]), _texts(columns, rows[:3]), 1)
    writer.append(Dataset("AE", "", columns, rows[3:]), _texts(columns, rows[3:]), 4)
    writer.finish(columns)
    root = etree.Element(f"{{{odm.ODM_NS}}}ODM", nsmap={None: odm.ODM_NS, "data": odm.DATA_NS}, attrib={
        "FileOID": "STUDY.S1.AE", "FileType": "Snapshot", "CreationDateTime": "2025-01-01T00:00:00",
        "ODMVersion": "1.3.2", "Originator": "fhirbridge", f"{{{odm.DATA_NS}}}DatasetXMLVersion": "1.0.0"})
    clinical = etree.SubElement(root, f"{{{odm.ODM_NS}}}ClinicalData", StudyOID="STUDY.S1",
                                MetaDataVersionOID=odm.METADATA_VERSION)
    for seq, row in enumerate(rows, start=1):
        group = etree.SubElement(clinical, f"{{{odm.ODM_NS}}}ItemGroupData", attrib={
            "ItemGroupOID": "IG.AE", f"{{{odm.DATA_NS}}}ItemGroupDataSeq": str(seq)})
        for column in columns:
            if row.get(column.name) is not None:
                etree.SubElement(group, f"{{{odm.ODM_NS}}}ItemData", ItemOID=f"IT.AE.{column.name}",
                                 Value=as_text(row[column.name]))
    expected = etree.tostring(etree.ElementTree(root), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    assert (tmp_path / "ae.xml").read_bytes() == expected


def test_dataset_json_is_what_orjson_writes_for_the_whole_document(example, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EXAMPLE_EPOCH)
    spoke.write_chunks(_copies(example, 2), tmp_path, Report(), ConvertOptions(sdtm_format="dataset-json"),
                       check)
    for path in sorted(tmp_path.glob("*.json")):
        document = orjson.loads(path.read_bytes())
        assert document["records"] == len(document["rows"]) > 0
        assert path.read_bytes() == orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n", path.name
