"""A record or subject described twice in FHIR input is reported and converted once, whether the two are in one
Patient's group of resources or (a subject) in two: the reader keeps subjects' keys for the whole input and other
records' keys for their group only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.issues.report import Report


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_records_and_subjects_described_twice(study_dir: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "fhir"
    assert api.convert([study_dir()], out, options=ConvertOptions(fhir_format="ndjson", jobs=1)).exit_code == 0
    first = Report()
    records = api.read([out], first, source="fhir")
    observations, patients, enrolments = (
        _lines(out / f"{t}.ndjson") for t in ("Observation", "Patient", "ResearchSubject")
    )
    twin = {**observations[0], "id": "twin-observation"}
    patient = {**patients[0], "id": "twin-patient"}
    enrolment = next(e for e in enrolments if e["individual"]["reference"] == f"Patient/{patients[0]['id']}")
    enrolment = {**enrolment, "id": "twin-enrolment", "individual": {"reference": "Patient/twin-patient"}}
    for name, extra in (("Observation", twin), ("Patient", patient), ("ResearchSubject", enrolment)):
        with (out / f"{name}.ndjson").open("ab") as handle:
            handle.write(orjson.dumps(extra) + b"\n")
    report = Report()
    again = api.read([out], report, source="fhir")
    twice = [i.message for i in report.issues if i.code == "FB-FHIR-061"]
    assert len(twice) == 2, twice
    assert "IsncsciExam S1/001/BASELINE is described twice" in twice[0]
    assert "subject 001 of study S1 is described twice" in twice[1]
    assert again.count() == records.count()
