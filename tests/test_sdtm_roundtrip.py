"""records → SDTM → records is the identity, in every SDTM file format.

SDTM requires some values the hub may lack: DM COUNTRY (Req) when the study names no country, and AEDECOD
(Req) when an adverse event was not coded to MedDRA. Those round-trip as empty cells and are reported as
FB-SDTM-005; an adverse event the hub holds with its resolution before its onset is reported as FB-SDTM-010;
XPT v5 has no text encoding, so non-ASCII text is written as UTF-8 with a FB-SDTM-019 warning. The property
allows exactly those issues, each only where the data explains it. SDTM holds the seriousness criteria as one
Y/N flag each, which has no order: they are compared as sets. Datasets are ordered by subject (USUBJID), so
records are compared in that order (within a subject, the order is kept).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from strategies import study_data

from fhirbridge.domains.isncsci.classification import classify
from fhirbridge.formats.csv.reader import read_csv
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.formats.sdtm import spoke
from fhirbridge.formats.sdtm.files import read_datasets
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.mapping.sdtm_mapping import load_sdtm_mapping
from fhirbridge.records import Study, StudyData
from fhirbridge.records.dates import date_part

FORMATS = ["csv", "xpt", "dataset-json", "dataset-xml"]


def round_trip(data: StudyData, fmt: str, derived: dict | None = None) -> tuple[StudyData, Report, Report]:
    options = ConvertOptions(sdtm_format=fmt)  # type: ignore[arg-type]
    written, read = Report(), Report()
    with tempfile.TemporaryDirectory() as folder:
        spoke.write(data, Path(folder), written, options, derived or {})
        back = spoke.read([Path(folder)], read, options)
    return back, written, read


def _explained(data: StudyData, fmt: str, written: Report, read: Report) -> None:
    empty_required = {i.column for i in read.issues if i.code == "FB-SDTM-005"}
    allowed = set()
    if any(s.country is None for s in data.studies):
        allowed.add("COUNTRY")
    if any(ae.meddra_term is None for ae in data.adverse_events):
        allowed.add("AEDECOD")
    assert empty_required <= allowed
    backwards = any(ae.resolution and date_part(ae.resolution) < date_part(ae.onset)  # type: ignore[operator]
                    for ae in data.adverse_events)
    design = {"FB-SDTM-021", "FB-SDTM-022", "FB-SDTM-023", "FB-SDTM-025"}
    assert [i.code for i in read.issues if i.code not in {"FB-SDTM-005", "FB-SDTM-010", *design}] == []
    assert backwards or not [i for i in read.issues if i.code == "FB-SDTM-010"]
    _design_explained(data, read)
    texts = [v for r in data.records() for v in _strings(r.model_dump())]
    non_ascii = any(not t.isascii() for t in texts)
    xpt_text = {"FB-SDTM-019"} if fmt == "xpt" and non_ascii else set()
    assert {i.code for i in written.issues if i.code != "FB-SDTM-021"} <= xpt_text


def _design_explained(data: StudyData, read: Report) -> None:
    """Trial summary parameters and design datasets are missing only where the data or the default mapping
    explain it; sponsor terms only in PRLOC (free text); the MedDRA note only for events coded to a PT alone."""
    study = data.studies[0]
    explained = {"TPHASE", "PLANSUB", "TI"}  # the study's own: the default mapping leaves them to a study mapping
    dated = bool(data.harvests or data.infusions or data.isncsci_exams or data.scim_assessments
                 or data.adverse_events or any(s.enrolment_date for s in data.subjects))
    explained |= {name for name, absent in (
        ("TITLE", study.title is None), ("REGID", study.registry_id is None),
        ("TA", study.arm_code is None or study.arm is None),
        ("ACTSUB", not data.subjects), ("SENDTC", not dated),
        ("SE", not (data.harvests or data.infusions or any(s.enrolment_date for s in data.subjects))),
        ("SV", not (data.isncsci_exams or data.scim_assessments))) if absent}
    assert {i.value for i in read.issues if i.code == "FB-SDTM-023"} <= explained
    if any(s.enrolment_date for s in data.subjects):
        assert not [i for i in read.issues if i.code == "FB-SDTM-022"]
    assert {i.column for i in read.issues if i.code == "FB-SDTM-025"} <= {"PRLOC"}
    pt_only = any((e.meddra_code or e.meddra_term) and not (e.meddra_soc or e.meddra_soc_code)
                  for e in data.adverse_events)
    assert pt_only == any(i.code == "FB-SDTM-021" for i in read.issues)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=study_data(meddra_hierarchy=True))
# a title of digits that str.isdigit accepts and int() refuses
@example(data=StudyData(studies=[Study(study_id="STUDY-1", title="²")]))
def test_records_sdtm_records_is_identity(fmt, data):
    back, written, read = round_trip(data, fmt)
    _explained(data, fmt, written, read)
    assert back.count() == data.count()
    for ae in [*data.adverse_events, *back.adverse_events]:
        ae.serious_criteria = sorted(ae.serious_criteria)
    for kind in data.count():
        assert _by_subject(getattr(back, kind)) == _by_subject(getattr(data, kind)), kind


def _by_subject(records: list) -> list:
    return sorted(records, key=lambda r: (r.study_id, getattr(r, "subject_id", "")))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_computed_classification_is_flagged_and_not_read_back_as_reported(study_dir, fmt, tmp_path):
    data = read_csv([study_dir()], load_csv_layout(), Report())
    exam = data.isncsci_exams[0]
    assert exam.classification is None
    computed = classify(exam)
    options = ConvertOptions(sdtm_format=fmt)  # type: ignore[arg-type]
    spoke.write(data, tmp_path, Report(), options, {exam.key(): computed})

    rs = next(d for d in read_datasets([tmp_path], fmt, load_sdtm_mapping(), []) if d.name == "RS")
    rows = [r for r in rs.rows if r["USUBJID"] == "S1-001"]
    assert {r["RSDRVFL"] for r in rows} == {"Y"}
    assert {r["RSTESTCD"]: r["RSORRES"] for r in rows}["AIS"] == computed.asia_impairment_scale

    back = spoke.read([tmp_path], Report(), options)
    assert back.isncsci_exams == data.isncsci_exams
    assert back.isncsci_exams[0].classification is None
