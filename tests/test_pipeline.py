"""The one conversion pipeline: chunks of whole subjects, any number of worker processes, the same bytes out.

Conversions are run with ``jobs`` 1 (in this process) and 2 (worker processes) on inputs read in several chunks;
the files written and the reports must be identical. Every FHIR file written is checked by the writer itself
(the output check), so these runs also check every resource they produce."""

from __future__ import annotations

import csv
import multiprocessing
import re
from pathlib import Path

import orjson
import pytest
from conftest import EXAMPLE

from fhirbridge import api, pipeline
from fhirbridge.formats.csv import chunks as csv_chunks
from fhirbridge.formats.fhir import reader as fhir_reader
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.report import Report

EPOCH = "1735689600"
MESSY = EXAMPLE.parents[1] / "messy"


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example export with its subjects copied twice under new ids (26 subjects)."""
    folder = tmp_path_factory.mktemp("scaled")
    for source in sorted(EXAMPLE.glob("*.csv")):
        with source.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        with (folder / source.name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            for copy in range(2) if "subject_id" in rows[0] else [0]:
                writer.writerows({**r, "subject_id": f"{r['subject_id']}-{copy}"} if "subject_id" in r else r
                                 for r in rows)
    return folder


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few subjects, so that the example is read and worked on in many chunks."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.setattr(csv_chunks, "CHUNK_BYTES", 4_000)
    monkeypatch.setattr(fhir_reader, "CHUNK_BYTES", 60_000)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _issues(report: Report, folder: Path) -> list[tuple]:
    return [(i.code, i.message, i.file and i.file.replace(str(folder), ""), i.row, i.target) for i in report.issues]


def _both(inputs: list[Path], tmp_path: Path, **kwargs) -> tuple[dict[str, bytes], list[tuple]]:
    results = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs-{jobs}"
        options = ConvertOptions(jobs=jobs, **{k: v for k, v in kwargs.items() if k not in ("source", "target")})
        report = api.convert(inputs, out, source=kwargs.get("source", "csv"), target=kwargs.get("target", "fhir"),
                             options=options)
        assert report.exit_code < 2, report.to_dict()["issues"][:3]
        results.append((_files(out), _issues(report, out)))
    assert results[0][0] == results[1][0]
    assert results[0][1] == results[1][1]
    assert results[0][0]
    return results[0]


@pytest.mark.parametrize("fhir_format", ["json", "ndjson", "xml"])
def test_fhir_output_is_the_same_on_two_processes(scaled, tmp_path, small_chunks, fhir_format):
    files, _ = _both([scaled], tmp_path, fhir_format=fhir_format)
    if fhir_format == "json":
        bundle = orjson.loads(files["bundle.json"])
        assert sum(e["resource"]["resourceType"] == "Patient" for e in bundle["entry"]) == 26


@pytest.mark.parametrize(("source", "target"), [("csv", "sdtm"), ("fhir", "csv")])
def test_tables_are_the_same_on_two_processes(scaled, tmp_path, small_chunks, source, target):
    inputs = [scaled]
    if source == "fhir":
        api.convert([scaled], tmp_path / "fhir", options=ConvertOptions(fhir_format="ndjson", jobs=1))
        inputs = [tmp_path / "fhir"]
    files, _ = _both(inputs, tmp_path, source=source, target=target)
    if target == "csv":
        assert files["subjects.csv"].count(b"\n") == 1 + 26


def test_issues_of_a_messy_export_keep_their_order_on_two_processes(tmp_path, small_chunks):
    _, issues = _both([MESSY], tmp_path, fhir_format="ndjson")
    assert len(issues) > 10


def test_chunked_csv_reading_finds_what_reading_at_once_finds(small_chunks):
    """The same records and the same issues (with file, row and column) as the one-pass reader."""
    for folder in (EXAMPLE, MESSY):
        whole_report = Report()
        whole = api.read([folder], whole_report)
        chunked_report = Report()
        records = []
        pieces = list(csv_chunks.read_chunks([folder], chunked_report, None))
        assert len(pieces) > (5 if folder == EXAMPLE else 1)
        for n, piece in enumerate(pieces):
            data = piece if n == 0 else piece.load(chunked_report)
            records.extend(r for r in data.records() if n == 0 or r not in data.studies)
        key = lambda r: (type(r).__name__, r.key())  # noqa: E731
        assert sorted(records, key=key) == sorted(whole.records(), key=key)
        seen = lambda report: sorted((i.code, i.file, i.row, i.column, i.message) for i in report.issues)  # noqa: E731
        assert seen(chunked_report) == seen(whole_report)


def _references_resolve(bundle: dict) -> bool:
    urls = {e["fullUrl"] for e in bundle["entry"]}
    text = orjson.dumps(bundle).decode()
    return all(f"urn:uuid:{u}" in urls for u in re.findall(r'"reference":"urn:uuid:([0-9a-f-]{36})"', text))


def test_bundles_are_split_between_subjects_and_carry_their_study(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    api.convert([EXAMPLE], tmp_path / "one", options=ConvertOptions(jobs=1))
    whole = orjson.loads((tmp_path / "one" / "bundle.json").read_bytes())
    report = api.convert([EXAMPLE], tmp_path / "split", options=ConvertOptions(jobs=1, bundle_size=150))
    assert report.exit_code == 0
    names = sorted(p.name for p in (tmp_path / "split").iterdir())
    assert names[0] == "bundle-0001.json" and len(names) > 5
    resources, ids = {}, set()
    for name in names:
        bundle = orjson.loads((tmp_path / "split" / name).read_bytes())
        patients = sum(e["resource"]["resourceType"] == "Patient" for e in bundle["entry"])
        assert len(bundle["entry"]) <= 150 or patients == 1
        assert bundle["entry"][0]["resource"]["resourceType"] == "ResearchStudy"
        assert _references_resolve(bundle)
        ids.add(bundle["id"])
        resources.update({e["fullUrl"]: e["resource"] for e in bundle["entry"]})
    assert len(ids) == len(names)
    assert resources == {e["fullUrl"]: e["resource"] for e in whole["entry"]}


def test_one_bundle_per_subject(tmp_path):
    api.convert([EXAMPLE], tmp_path, options=ConvertOptions(jobs=1, bundle_per_subject=True, fhir_format="xml"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"bundle-{n:04d}.xml" for n in range(1, 14)]


def test_pretty_output_holds_the_compact_bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    for pretty in (False, True):
        api.convert([EXAMPLE], tmp_path / str(pretty), options=ConvertOptions(jobs=1, pretty=pretty))
    compact = (tmp_path / "False" / "bundle.json").read_bytes()
    pretty = (tmp_path / "True" / "bundle.json").read_bytes()
    assert pretty == orjson.dumps(orjson.loads(compact), option=orjson.OPT_INDENT_2) + b"\n"
    assert compact.count(b"\n") == len(orjson.loads(compact)["entry"]) + 2  # one entry a line


def test_one_provenance_per_subject_and_one_for_the_study(tmp_path):
    api.convert([EXAMPLE], tmp_path, options=ConvertOptions(jobs=1, fhir_format="ndjson"))
    lines = (tmp_path / "Provenance.ndjson").read_bytes().splitlines()
    assert len(lines) == 14
    targets = [len(orjson.loads(line)["target"]) for line in lines]
    assert targets[0] == 1 and all(t > 10 for t in targets[1:])


def test_spawned_workers_give_the_same_bytes(tmp_path, small_chunks, monkeypatch):
    """Where workers cannot be forked (another thread runs), they are spawned: what they are handed is pickled."""
    monkeypatch.setattr(pipeline, "_context", lambda: multiprocessing.get_context("spawn"))
    _both([EXAMPLE], tmp_path, fhir_format="ndjson")


def test_workers_without_a_temporary_folder_send_their_output_through_the_pipe(tmp_path, small_chunks, monkeypatch):
    """Workers leave what they render in files of a temporary folder; where none can be made, the output is the
    same, sent through the pipe instead."""
    import tempfile

    def unwritable(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", "/tmp")

    expected = tmp_path / "expected"
    api.convert([EXAMPLE], expected, options=ConvertOptions(fhir_format="ndjson", jobs=1))
    monkeypatch.setattr(tempfile, "TemporaryDirectory", unwritable)
    out = tmp_path / "out"
    report = api.convert([EXAMPLE], out, options=ConvertOptions(fhir_format="ndjson", jobs=2))
    assert report.exit_code < 2, report.to_dict()["issues"][:3]
    assert _files(out) == _files(expected)
    assert _files(out)
