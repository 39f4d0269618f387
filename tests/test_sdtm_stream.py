"""FHIR NDJSON → SDTM CSV a chunk of subjects at a time gives exactly the tables a single pass gives."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
from conftest import EXAMPLE, EXAMPLE_SDTM_MAPPING
from test_sdtm_output import EXAMPLE_EPOCH

from fhirbridge import api
from fhirbridge.formats.fhir import reader as fhir_reader
from fhirbridge.formats.options import ConvertOptions

SDTM_EXAMPLE = EXAMPLE.parent / "sdtm"


@pytest.fixture
def ndjson(tmp_path: Path) -> Path:
    report = api.convert([EXAMPLE], tmp_path / "ndjson", target="fhir", options=ConvertOptions(fhir_format="ndjson"))
    assert report.exit_code == 0
    return tmp_path / "ndjson"


@pytest.mark.parametrize("chunk_bytes", [8 << 20, 20_000], ids=["one-chunk", "many-chunks"])
def test_streamed_sdtm_equals_the_example(ndjson, tmp_path, monkeypatch, chunk_bytes):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EXAMPLE_EPOCH)
    monkeypatch.setattr(fhir_reader, "CHUNK_BYTES", chunk_bytes)
    chunks = []
    original = fhir_reader.FhirReader.chunks

    def counted(self, inputs):
        for chunk in original(self, inputs):
            chunks.append(len(chunk.subjects))
            yield chunk

    monkeypatch.setattr(fhir_reader.FhirReader, "chunks", counted)
    report = api.convert([ndjson], tmp_path / "sdtm", source="fhir", target="sdtm",
                         options=ConvertOptions(sdtm_mapping=EXAMPLE_SDTM_MAPPING))
    assert report.exit_code == 0, report.to_dict()["issues"]
    if chunk_bytes < 1 << 20:
        assert len(chunks) > 3  # the subjects really came in several chunks
    written = sorted(p.name for p in (tmp_path / "sdtm").iterdir())
    assert written == sorted(p.name for p in SDTM_EXAMPLE.iterdir())
    same, different, unreadable = filecmp.cmpfiles(tmp_path / "sdtm", SDTM_EXAMPLE, written, shallow=False)
    assert (sorted(same), different, unreadable) == (written, [], [])
    assert report.stats["records"]["subjects"] == 13
