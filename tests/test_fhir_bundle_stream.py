"""A Bundle file is read entry by entry (``bundle_stream``), never whole: the same entries as parsing the
document, whatever the window, the layout (compact, indented, one entry a line) or the order of its elements."""

from __future__ import annotations

import json

import orjson
import pytest
from conftest import EXAMPLE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirbridge import api
from fhirbridge.formats.fhir import bundle_stream
from fhirbridge.formats.fhir.bundle_stream import BadDocument, NotStreamable, json_entries, json_entry_chunks
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.inputs import Source
from fhirbridge.issues.report import Report
from fhirbridge.records import Record

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(_json, max_size=6), extra=st.dictionaries(st.sampled_from(["id", "type", "total", "link"]),
                                                                 _json, max_size=3),
       indent=st.sampled_from([None, 1, 2]), window=st.sampled_from([7, 64, 1 << 20]))
def test_entries_are_those_of_the_parsed_document(tmp_path_factory, monkeypatch, entries, extra, indent, window):
    monkeypatch.setattr(bundle_stream, "WINDOW", window)
    document = {"resourceType": "Bundle", **extra, "entry": entries, "signature": {"who": "ü"}}
    path = tmp_path_factory.mktemp("bundle") / "b.json"
    path.write_text(json.dumps(document, indent=indent, ensure_ascii=False), encoding="utf-8")
    top: dict = {}
    assert list(json_entries(Source(path), top)) == entries
    assert top == {**document, "entry": []}  # the array's place kept, not its entries
    assert list(top) == list(document)


_entry = st.fixed_dictionaries({"fullUrl": st.text(max_size=8)}, optional={"resource": _json, "nested": st.lists(
    st.fixed_dictionaries({"fullUrl": st.text(max_size=3)}, optional={"x": _json}), max_size=3)}) | _json


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(_entry, max_size=8), extra=st.dictionaries(st.sampled_from(["id", "type", "total", "link"]),
                                                                  _json, max_size=3),
       after=st.dictionaries(st.sampled_from(["link", "signature"]), _json, max_size=2),
       indent=st.sampled_from([None, 1, 2]), chunk=st.sampled_from([16, 100, 1 << 20]),
       huge=st.booleans())
def test_entry_chunks_are_the_entries_of_the_scan(tmp_path_factory, monkeypatch, entries, extra, after, indent, chunk,
                                                  huge):
    """Cut into chunks where an entry starts with fullUrl (or scanned, where none does, where a cut falls inside a
    nested object, or where orjson refuses a number the decoder takes): the same entries and the same ``top``."""
    monkeypatch.setattr(bundle_stream, "CHUNK_BYTES", chunk)
    if huge:
        entries = [*entries, {"fullUrl": "u", "resource": {"value": 2 ** 70}}, *entries]
    document = {"resourceType": "Bundle", **extra, "entry": entries, **after}
    path = tmp_path_factory.mktemp("bundle") / "b.json"
    path.write_text(json.dumps(document, indent=indent, ensure_ascii=False), encoding="utf-8")
    top: dict = {}
    chunks = list(json_entry_chunks(Source(path), top))
    assert [e for c in chunks for e in c] == entries
    assert all(chunks)
    assert top == {**document, "entry": []}
    assert list(top) == list(document)


def test_entry_chunks_cut_a_bundle_of_fullurl_entries_without_the_scan(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_stream, "CHUNK_BYTES", 200)
    monkeypatch.setattr(bundle_stream, "json_entries", None)  # the scan is not called
    entries = [{"fullUrl": f"urn:uuid:{n}", "resource": {"resourceType": "Patient", "id": str(n),
                                                          "name": [{"given": ["a"]}, {"given": ["b"]}]}}
               for n in range(40)]
    path = tmp_path / "b.json"
    path.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    top: dict = {}
    chunks = list(json_entry_chunks(Source(path), top))
    assert len(chunks) > 5 and [e for c in chunks for e in c] == entries
    assert top == {"resourceType": "Bundle", "type": "collection", "entry": []}


def test_a_cut_or_malformed_bundle_is_reported(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient"}}, {"res', "utf-8")
    with pytest.raises(BadDocument):
        list(json_entries(Source(path), {}))
    with pytest.raises(BadDocument):
        list(json_entry_chunks(Source(path), {}))


def test_a_resource_or_a_late_resource_type_is_read_whole(tmp_path):
    bare = tmp_path / "patient.json"
    bare.write_bytes(orjson.dumps({"resourceType": "Patient", "entry": [1]}))
    with pytest.raises(NotStreamable):
        list(json_entries(Source(bare), {}))


@pytest.mark.parametrize("fhir_format", ["json", "xml"])
def test_bundles_read_in_small_windows_give_the_records_back(tmp_path, monkeypatch, fhir_format):
    monkeypatch.setattr(bundle_stream, "WINDOW", 4096)
    api.convert([EXAMPLE], tmp_path / "fhir", options=ConvertOptions(jobs=1, fhir_format=fhir_format, pretty=True))
    report = api.convert([tmp_path / "fhir"], tmp_path / "csv", source="fhir", target="csv",
                         options=ConvertOptions(jobs=1))
    assert [(i.code, i.severity.name) for i in report.issues] == [("FB-FHIR-054", "INFORMATION")]  # Provenance
    back, example = api.read([tmp_path / "csv"], Report()), api.read([EXAMPLE], Report())
    for kind in example.count():
        assert sorted(getattr(back, kind), key=_key) == sorted(getattr(example, kind), key=_key), kind


def _key(record: Record) -> tuple[str, ...]:
    return record.key()


def test_entry_issues_name_the_entry_of_the_file(tmp_path):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Basic", "id": "1"}}, {"request": {"method": "GET"}}]}
    path = tmp_path / "b.json"
    path.write_bytes(orjson.dumps(bundle))
    report = api.convert([path], tmp_path / "out", source="fhir", target="csv", options=ConvertOptions(jobs=1))
    assert [(i.code, i.target) for i in report.issues if i.code.startswith("FB-FHIR-05")] == [
        ("FB-FHIR-054", "Bundle.entry[0].resource"), ("FB-FHIR-053", "Bundle.entry[1]")]


@pytest.mark.parametrize("number", ["-9223372036854775809", "18446744073709551616"])
def test_integers_beyond_64_bits_keep_their_value_in_chunks(number: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """orjson reads such an integer as a float; the chunked read gives it to the scanner, which keeps it whole
    (found by the property test above with a random seed)."""
    entry = '{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Basic","id":"1"}}'
    path = tmp_path / "bundle.json"
    path.write_text('{"resourceType":"Bundle","link":{"":' + number + '},"type":"collection","entry":['
                    + entry + "," + entry.replace("1", "2") + '],"total":' + number + "}")
    top_chunks: dict = {}
    top_scan: dict = {}
    chunked = [e for chunk in json_entry_chunks(Source(path), top_chunks) for e in chunk]
    assert chunked == list(json_entries(Source(path), top_scan))
    assert top_chunks == top_scan
    assert top_chunks["link"] == {"": int(number)} and top_chunks["total"] == int(number)
