"""The example study exported as sites export it (wide, long, a REDCap project) reads back as the default export.

``examples/exports.py`` writes these shapes from the default files by plain text work; reading each with its
layout (YAML only) must give the records of the default layout, and converting it through the pipeline (two
worker processes, chunks of a few subjects) the same FHIR resources.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import orjson
import pytest
from conftest import EXAMPLE

from fhirbridge import api
from fhirbridge.formats.csv import chunks as csv_chunks
from fhirbridge.formats.csv.reader import read_csv
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.records import StudyData

EXAMPLES = EXAMPLE.parents[1]


def _exports() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_exports", EXAMPLES / "exports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def default() -> StudyData:
    report = Report()
    data = read_csv([EXAMPLE], load_csv_layout(), report)
    assert not report.issues
    return data


@pytest.fixture(scope="module")
def default_fhir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("default")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", "1735689600")
        api.convert([EXAMPLE], out, options=ConvertOptions(jobs=1, fhir_format="ndjson"))
    return resources(out)


def resources(folder: Path) -> dict[str, list[dict]]:
    """The resources written, by file, without what names the input files: meta.source (file and row) and the
    Provenance entities (the files read), which differ by shape whatever the records."""
    out = {}
    for path in sorted(folder.glob("*.ndjson")):
        rows = []
        for line in path.read_bytes().splitlines():
            resource = orjson.loads(line)
            resource.get("meta", {}).pop("source", None)
            if resource["resourceType"] == "Provenance":
                resource.pop("entity", None)
            rows.append(resource)
        out[path.name] = rows
    return out


def test_the_generator_reproduces_the_checked_in_exports(tmp_path: Path) -> None:
    written = _exports().generate(tmp_path)
    assert len(written) == 16  # wide: 3 CSV files and the layout, long: 5 and the layout, REDCap: 6
    for path in written:
        checked_in = EXAMPLES / path.relative_to(tmp_path)
        assert path.read_bytes() == checked_in.read_bytes(), f"{checked_in} is not what exports.py writes"


def test_the_generator_prints_its_help_instead_of_writing_a_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        _exports().main(["--help"])
    assert exited.value.code == 0
    assert "usage: examples/exports.py" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape", ["wide", "long"])
def test_a_site_shape_reads_as_the_default_records(shape: str, default: StudyData) -> None:
    report = Report()
    data = read_csv([EXAMPLES / shape], load_csv_layout(EXAMPLES / shape / "layout.yaml"), report)
    assert not report.issues
    assert data.count() == default.count()
    for kind in data.count():
        assert getattr(data, kind) == getattr(default, kind), kind


@pytest.mark.parametrize("shape", ["wide", "long"])
def test_a_site_shape_converts_to_the_default_fhir_on_two_processes(
        shape: str, default_fhir: dict[str, list[dict]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")
    monkeypatch.setattr(csv_chunks, "CHUNK_BYTES", 4_000)  # several chunks of a few subjects
    report = api.convert([EXAMPLES / shape], tmp_path, options=ConvertOptions(
        jobs=2, fhir_format="ndjson", csv_mapping=EXAMPLES / shape / "layout.yaml"))
    assert not report.issues
    assert resources(tmp_path) == default_fhir


# -- REDCap ----------------------------------------------------------------------------------------------------

REDCAP = EXAMPLES / "redcap"
UNUSED_WEIGHT = ("FB-CSV-002", "column 'weight_kg' is not used by the layout; its values are not converted")


def _redcap_draft() -> str:
    from fhirbridge.layouts.draft import render
    from fhirbridge.layouts.redcap import draft_from_redcap

    return render(draft_from_redcap(REDCAP / "project" / "data_dictionary.csv", REDCAP / "project" / "events.csv",
                                    study_id="HONMOU2021", timezone="+09:00"))


def test_the_redcap_layout_is_the_draft_as_written() -> None:
    """Dictionary → draft needs no hand edit for this project: the checked-in layout is the draft, byte for byte,
    and the field it cannot match is listed as a comment, not guessed."""
    draft = _redcap_draft()
    assert draft == (REDCAP / "layout.yaml").read_text(encoding="utf-8")
    assert "      #   weight_kg  (text: Body weight (kg))\n" in draft
    assert "weight_kg:" not in draft


@pytest.mark.parametrize("export", ["raw", "labels"])
def test_a_redcap_export_reads_as_the_default_records(export: str, default: StudyData) -> None:
    report = Report()
    data = read_csv([REDCAP / export], load_csv_layout(REDCAP / "layout.yaml"), report)
    assert [(i.code, i.message) for i in report.issues] == [UNUSED_WEIGHT]  # the one field no record has
    for kind in data.count():
        assert getattr(data, kind) == getattr(default, kind), kind


@pytest.mark.parametrize(("export", "jobs"), [("raw", 2), ("labels", 1)])
def test_a_redcap_export_converts_to_the_default_fhir(export: str, jobs: int, default_fhir: dict[str, list[dict]],
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same resources, ids included: the REDCap record ids are the subject ids of the default export, the
    repeat instances of the adverse events their ids, and harvests and infusions have one per subject in both
    (their id, absent from the REDCap forms, is the default "1")."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")
    monkeypatch.setattr(csv_chunks, "CHUNK_BYTES", 4_000)
    report = api.convert([REDCAP / export], tmp_path, options=ConvertOptions(
        jobs=jobs, fhir_format="ndjson", csv_mapping=REDCAP / "layout.yaml"))
    assert [(i.code, i.message) for i in report.issues] == [UNUSED_WEIGHT]
    assert resources(tmp_path) == default_fhir


# -- a column the default layout gains -------------------------------------------------------------------------


def test_a_new_default_column_flows_into_every_shape(tmp_path: Path, default: StudyData) -> None:
    """A column added to the default layout and its files (here the infusion's processing under a name no list
    knows, standing in for the next one) reaches the wide and long exports and their layouts with no change to
    exports.py; the REDCap project gets a field of that name, which the draft, knowing no such column, lists for
    the person to map instead of guessing."""
    from fhirbridge.layouts.draft import render
    from fhirbridge.layouts.redcap import draft_from_redcap
    from fhirbridge.mapping.loader import bundled

    spec = bundled("csv-default.yaml").read_text(encoding="utf-8")
    assert "      processing: {column: processing, optional: true}\n" in spec
    (tmp_path / "csv-default.yaml").write_text(spec.replace("{column: processing,", "{column: cell_processing_note,"),
                                               encoding="utf-8")
    csv_folder = tmp_path / "csv"
    csv_folder.mkdir()
    for path in EXAMPLE.glob("*.csv"):
        content = path.read_text(encoding="utf-8")
        if path.name == "infusion.csv":
            header, rest = content.split("\n", 1)
            assert header.endswith(",processing")
            content = f"{header.removesuffix('processing')}cell_processing_note\n{rest}"
        (csv_folder / path.name).write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    _exports().generate(out, csv_folder, tmp_path / "csv-default.yaml")

    assert "infusion_cell_processing_note" in (out / "wide" / "wide.csv").read_text(encoding="utf-8").split("\n")[0]
    for shape in ("wide", "long"):
        report = Report()
        data = read_csv([out / shape], load_csv_layout(out / shape / "layout.yaml"), report)
        assert not report.issues, shape
        assert data.infusions == default.infusions and data.infusions[0].processing, shape

    project = out / "redcap" / "project"
    assert "\ncell_processing_note,msc_infusion,,text,Cell processing note," in \
        (project / "data_dictionary.csv").read_text(encoding="utf-8")
    draft = render(draft_from_redcap(project / "data_dictionary.csv", project / "events.csv", study_id="HONMOU2021",
                                     timezone="+09:00"))
    infusion = draft.split("\n  msc_infusion:\n")[1].split("\n\n")[0]
    assert "      # FILL IN: not matched to a field" in infusion
    assert "      #   cell_processing_note  (text: Cell processing note)" in infusion
    assert "processing:" not in infusion
