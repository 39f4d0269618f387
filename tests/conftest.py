"""Shared test helpers: a small valid study written in the default CSV layout, to be spoiled per test."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from fhirbridge.domains.isncsci.structure import cells
from fhirbridge.domains.scim import ITEMS
from fhirbridge.mapping.csv_layout import load_csv_layout

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EXAMPLE = REPO / "examples" / "honmou2021" / "csv"
#: The example study's SDTM mapping: the default one, with its time zone and design (phase, criteria).
EXAMPLE_SDTM_MAPPING = REPO / "examples" / "honmou2021" / "sdtm-mapping.yaml"

# Property tests: the default ``ci`` profile is derandomized (the same examples on every run, so a landing never
# depends on luck); ``HYPOTHESIS_PROFILE=explore`` draws new random examples each run to look for new failures,
# which are then kept as ``@example``s.
# no deadline and no too-slow health check in CI: a loaded machine must not fail a test that is only slow there
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _columns(spec_name: str) -> dict[str, str]:
    layout = load_csv_layout()
    return {path: c.column for path, c in layout.files[spec_name].columns.items()}


def _exam_row(subject: str, visit: str, date: str, motor: str = "5", sensory: str = "2") -> dict[str, str]:
    cols = _columns("isncsci")
    row = {cols[f"{side}.{modality}.{level}"]: motor if modality == "motor" else sensory
           for side, modality, level in cells()}
    row.update({"study_id": "S1", "subject_id": subject, "visit": visit, "exam_date": date, "examiner": "Dr A",
                "vac": "Y", "dap": "Y", "r_lowest_non_key_muscle": "", "l_lowest_non_key_muscle": ""})
    for path, column in cols.items():
        if path.startswith("classification."):
            row[column] = ""
    return row


def _scim_row(subject: str, visit: str, date: str) -> dict[str, str]:
    cols = _columns("scim")
    row = {cols[f"items.{key}"]: str(max(item.allowed)) for key, item in ITEMS.items()}
    row.update({"study_id": "S1", "subject_id": subject, "visit": visit, "assessment_date": date,
                "scim_self_care": "20", "scim_respiration_sphincter": "40", "scim_mobility": "40",
                "scim_total": "100"})
    return row


#: A MedDRA hierarchy for tests, SYNTHETIC: invented codes (99xxxxxx, a range MedDRA does not use) and invented
#: terms. MedDRA is licensed and fhirbridge ships no MedDRA data, so no test carries real MedDRA content beyond the
#: preferred terms of the example study. Keys are the default CSV layout's columns.
SYNTHETIC_MEDDRA = {
    "meddra_version": "27.0",
    "meddra_llt_code": "99000001", "meddra_llt": "Synthetic LLT: raised temperature",
    "meddra_hlt_code": "99000003", "meddra_hlt": "Synthetic HLT: temperature findings",
    "meddra_hlgt_code": "99000004", "meddra_hlgt": "Synthetic HLGT: body temperature",
    "meddra_soc_code": "99000005", "meddra_soc": "Synthetic SOC: general findings",
}


def small_study() -> dict[str, list[dict[str, str]]]:
    """Two subjects with one of every record kind, all valid, as rows of the default layout's files."""
    return {
        "study.csv": [{"study_id": "S1", "title": "Small test study", "registry_id": "R-1", "sponsor": "Test",
                       "country": "JPN", "arm_code": "MSC", "arm": "MSC infusion"}],
        "subjects.csv": [
            {"study_id": "S1", "site_id": "01", "subject_id": s, "sex": sex, "birth_date": "1970-05-01",
             "age": "", "injury_date": "2019-01-10", "injury_level": "C5", "enrolment_date": "2019-02-01"}
            for s, sex in (("001", "M"), ("002", "F"))
        ],
        "harvest.csv": [{"study_id": "S1", "subject_id": s, "harvest_id": "1", "harvest_date": "2019-02-05",
                         "status": "completed", "body_site": "posterior iliac crest", "volume_ml": "50"}
                        for s in ("001", "002")],
        "infusion.csv": [{"study_id": "S1", "subject_id": s, "infusion_id": "1", "start": "2019-02-25T10:00",
                          "end": "2019-02-25T10:30", "status": "completed", "product": "Autologous MSC",
                          "lot": f"LOT-{s}", "total_cells": "100000000", "dose_cells_per_kg": "1600000",
                          "volume_ml": "40", "route": "IV"} for s in ("001", "002")],
        "isncsci.csv": [_exam_row(s, "BASELINE", "2019-02-24") for s in ("001", "002")],
        "scim.csv": [_scim_row(s, "BASELINE", "2019-02-24") for s in ("001", "002")],
        "adverse_events.csv": [{"study_id": "S1", "subject_id": "001", "ae_id": "1", "term": "Fever",
                                "meddra_pt_code": "10037660", "meddra_pt": "Pyrexia",
                                "onset_date": "2019-02-26", "resolution_date": "2019-02-27", "severity": "MILD",
                                "serious": "N", "serious_criteria": "", "relationship": "POSSIBLY RELATED",
                                "outcome": "RECOVERED/RESOLVED", "action_taken": "NOT APPLICABLE"}],
    }


def write_rows(path: Path, rows: list[dict[str, Any]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def study_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write the small study, after ``change(tables)`` spoils it, and return its folder."""

    def make(change: Callable[[dict[str, list[dict[str, str]]]], None] | None = None) -> Path:
        tables = small_study()
        if change is not None:
            change(tables)
        folder = tmp_path / "export"
        folder.mkdir(exist_ok=True)
        for name, rows in tables.items():
            write_rows(folder / name, rows)
        return folder

    return make


@pytest.fixture
def sdtm_dir(study_dir: Callable[..., Path], tmp_path: Path) -> Callable[..., Path]:
    """The small test study written as SDTM in a given file format."""
    from fhirbridge import api
    from fhirbridge.formats.options import ConvertOptions

    def make(fmt: str = "csv") -> Path:
        out = tmp_path / f"sdtm-{fmt}"
        report = api.convert([study_dir()], out, target="sdtm", options=ConvertOptions(sdtm_format=fmt))  # type: ignore[arg-type]
        assert report.exit_code == 0, report.issues
        return out

    return make
