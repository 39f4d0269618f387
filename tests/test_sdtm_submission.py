"""Submission-grade SDTM: the result conventions (NT, * flags, several possible values), MedDRA, the trial
design and subject elements, controlled terminology, define.xml metadata, the time rule, and the conformance
checks that would catch each departure, located by dataset file, row, variable and USUBJID."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest
from conftest import EXAMPLE_SDTM_MAPPING, REPO, SYNTHETIC_MEDDRA
from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree
from test_sdtm_bad_input import _edit, _located, _validate

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.formats.sdtm import odm
from fhirbridge.formats.sdtm.results import join, split
from fhirbridge.formats.sdtm.times import from_local, to_local
from fhirbridge.issues.registry import RULES
from fhirbridge.issues.report import Report
from fhirbridge.mapping.sdtm_mapping import load_sdtm_mapping

SDTM_EXAMPLE = REPO / "examples" / "honmou2021" / "sdtm"
NT = {"NT": "NOT TESTABLE"}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# -- (5) results as SDTM expects them ---------------------------------------------------------------------------


def test_result_conventions():
    assert split("3", NT, flags=True) == split("3", NT, flags=False)
    plain = split("3", NT, flags=True)
    assert (plain.orres, plain.stresc, plain.stresn, plain.stat, plain.flag) == ("3", "3", 3, None, None)
    not_testable = split("NT", NT, flags=True)
    assert (not_testable.orres, not_testable.stat, not_testable.reasnd) == (None, "NOT DONE", "NOT TESTABLE")
    flagged = split("4**", NT, flags=True)
    assert (flagged.orres, flagged.stresn, flagged.flag) == ("4", 4, "**")
    assert (split("NT*", NT, flags=True).stat, split("NT*", NT, flags=True).flag) == ("NOT DONE", "*")
    several = split("B,C,D", NT, flags=True)
    assert (several.orres, several.stresc, several.stresn, several.flag) == ("B,C,D", "B,C,D", None, None)
    assert split("ND", NT, flags=True).stat is None  # not determinable is a result
    assert split("²", {}, flags=False).stresn is None
    assert split("A*", {}, flags=False).orres == "A*"  # a star is text where the domain has no flag qualifier


@given(st.from_regex(r"([0-5]|NT|ND|[A-E]|C5)(\*{1,2})?(,([0-5]|[A-E])\*?)?", fullmatch=True))
@example("NT**")
def test_split_and_join_give_the_value_back(text):
    result = split(text, NT, flags=True)
    assert join(result.orres, result.stat, result.reasnd, result.flag, NT) == text


def test_nt_and_starred_cells_become_not_done_rows_and_qualifiers(study_dir, tmp_path):
    def spoil(tables):
        tables["isncsci.csv"][0].update(r_c5_motor="NT", r_c6_motor="3*", l_c5_lt="NT**")

    out = tmp_path / "sdtm"
    report = api.convert([study_dir(spoil)], out, target="sdtm")
    assert report.exit_code == 0, report.issues
    nv = {(r["USUBJID"], r["NVTESTCD"], r["NVLOC"], r["NVLAT"]): r for r in _rows(out / "nv.csv")}
    c5 = nv[("S1-001", "MOTOR", "C5", "RIGHT")]
    assert (c5["NVORRES"], c5["NVSTRESC"], c5["NVSTAT"], c5["NVREASND"]) == ("", "", "NOT DONE", "NOT TESTABLE")
    c6 = nv[("S1-001", "MOTOR", "C6", "RIGHT")]
    assert (c6["NVORRES"], c6["NVSTRESC"], c6["NVSTRESN"], c6["NVSTAT"]) == ("3", "3", "3", "")
    flags = {(r["IDVARVAL"], r["QVAL"]) for r in _rows(out / "suppnv.csv") if r["QNAM"] == "NVNSCI"}
    assert flags == {(c6["NVSEQ"], "*"), (nv[("S1-001", "LTOUCH", "C5", "LEFT")]["NVSEQ"], "**")}
    assert {r["IDVAR"] for r in _rows(out / "suppnv.csv") if r["QNAM"] == "NVNSCI"} == {"NVSEQ"}
    back = api.read([out], Report(), source="sdtm")
    exam = next(e for e in back.isncsci_exams if e.subject_id == "001")
    assert (exam.right.motor["C5"], exam.right.motor["C6"], exam.left.light_touch["C5"]) == ("NT", "3*", "NT**")


def test_scim_response_as_collected_and_score(sdtm_dir):
    qs = _rows(sdtm_dir() / "qs.csv")
    item = next(r for r in qs if r["QSTESTCD"] == "SCIM01")
    assert item["QSORRES"] == item["QSSTRESC"] == item["QSSTRESN"] != ""
    assert {r["QSLOBXFL"] for r in qs if r["QSTESTCD"] == "SCIM01"} == {"Y"}  # the exams precede the infusion


# -- (3) MedDRA ------------------------------------------------------------------------------------------------


def test_meddra_hierarchy_and_version_travel_from_the_export_to_define_xml(study_dir, tmp_path):
    hierarchy = SYNTHETIC_MEDDRA  # invented codes and terms: fhirbridge ships no MedDRA data
    export = study_dir(lambda t: t["adverse_events.csv"][0].update(hierarchy))
    out = tmp_path / "sdtm"
    report = api.convert([export], out, target="sdtm")
    assert report.exit_code == 0 and "FB-SDTM-021" not in {i.code for i in report.issues}
    ae = _rows(out / "ae.csv")[0]
    assert (ae["AELLT"], ae["AELLTCD"], ae["AEHLT"], ae["AEHLGTCD"]) == (
        hierarchy["meddra_llt"], hierarchy["meddra_llt_code"], hierarchy["meddra_hlt"], hierarchy["meddra_hlgt_code"])
    assert ae["AEBODSYS"] == ae["AESOC"] == hierarchy["meddra_soc"] and ae["AEBDSYCD"] == ae["AESOCCD"]
    define = etree.parse(str(out / "define.xml"))
    external = define.find(f".//{{{odm.ODM_NS}}}ExternalCodeList")
    assert (external.get("Dictionary"), external.get("Version")) == ("MedDRA", "27.0")
    back = api.read([out], Report(), source="sdtm")
    assert back.adverse_events[0].model_dump(include=set(hierarchy)) == hierarchy
    # the same through FHIR: every level and the version reach SDTM
    assert api.convert([export], tmp_path / "fhir").exit_code == 0
    assert api.convert([tmp_path / "fhir"], tmp_path / "via-fhir", source="fhir", target="sdtm").exit_code == 0
    meddra = ("AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEHLT", "AEHLTCD", "AEHLGT", "AEHLGTCD", "AEBODSYS",
              "AEBDSYCD", "AESOC", "AESOCCD")
    via_fhir = _rows(tmp_path / "via-fhir" / "ae.csv")[0]
    assert {v: via_fhir[v] for v in meddra} == {v: ae[v] for v in meddra}
    assert etree.parse(str(tmp_path / "via-fhir" / "define.xml")).find(
        f".//{{{odm.ODM_NS}}}ExternalCodeList").get("Version") == "27.0"


def test_a_pt_only_export_is_reported_once_and_nothing_is_invented(sdtm_dir):
    _, issues = _validate(sdtm_dir())
    assert [i["code"] for i in issues].count("FB-SDTM-021") == 1
    ae = _rows(sdtm_dir() / "ae.csv")[0]
    assert ae["AEDECOD"] == "Pyrexia" and not any(ae[v] for v in ("AELLT", "AEHLT", "AEHLGT", "AESOC", "AESOCCD"))


# -- (4) trial design and subject elements ------------------------------------------------------------------


def test_the_example_has_every_fda_ts_parameter_and_the_design_datasets():
    ts = {r["TSPARMCD"]: r for r in _rows(SDTM_EXAMPLE / "ts.csv")}
    for code in ("SSTDTC", "SENDTC", "TITLE", "STYPE", "TPHASE", "TBLIND", "TCNTRL", "INTTYPE", "ACTSUB",
                 "PLANSUB", "REGID", "SDTIGVER", "SDTMVER"):
        assert ts[code]["TSVAL"], code
    assert ts["SSTDTC"]["TSVAL"] == min(r["enrolment_date"] for r in _rows(REPO / "examples" / "honmou2021" / "csv"
                                                                              / "subjects.csv"))
    assert ts["ACTSUB"]["TSVAL"] == "13" and ts["TPHASE"]["TSVALCD"] == "C15601"
    assert [r["ETCD"] for r in _rows(SDTM_EXAMPLE / "ta.csv")] == ["SCRN", "HARV", "INF", "FU"]
    assert {r["ETCD"] for r in _rows(SDTM_EXAMPLE / "te.csv")} == {"SCRN", "HARV", "INF", "FU"}
    assert len(_rows(SDTM_EXAMPLE / "ti.csv")) == 5
    se = [r for r in _rows(SDTM_EXAMPLE / "se.csv") if r["USUBJID"] == "HONMOU2021-001"]
    assert [r["ETCD"] for r in se] == ["SCRN", "HARV", "INF", "FU"]
    assert all(a["SEENDTC"] == b["SESTDTC"] for a, b in itertools.pairwise(se))
    sv = {(r["USUBJID"], r["VISIT"]) for r in _rows(SDTM_EXAMPLE / "sv.csv")}
    assert len(sv) == 39  # three visits of 13 subjects
    dm = _rows(SDTM_EXAMPLE / "dm.csv")[0]
    assert dm["RFXSTDTC"] == se[2]["SESTDTC"] and dm["RFENDTC"] == se[3]["SEENDTC"] and dm["RACE"] == ""
    epochs = {r["EPOCH"] for r in _rows(SDTM_EXAMPLE / "nv.csv")}
    assert epochs == {"TREATMENT", "FOLLOW-UP"}  # baseline after the harvest; then follow-up


def test_ts_without_sstdtc_is_a_rejection_error(sdtm_dir):
    folder = sdtm_dir()
    _edit(folder / "ts.csv", lambda rows: [r for r in rows if r["TSPARMCD"] != "SSTDTC"])
    code, issues = _validate(folder)
    assert code == 1
    assert _located(issues, "FB-SDTM-022") == [("ts.csv", None, "TSPARMCD", None, None)]


def test_the_example_validates_without_error_or_warning():
    report = api.validate([SDTM_EXAMPLE], source="sdtm")
    assert [(i.code, i.severity.name) for i in report.issues] == [("FB-SDTM-021", "INFORMATION")]


# -- (1), (6), (7) one IG version, controlled terminology, define.xml ---------------------------------------


def test_terms_against_cdisc_ct_located_by_dataset_row_subject_and_variable(sdtm_dir):
    folder = sdtm_dir()
    _edit(folder / "dm.csv", lambda rows: [{**r, "SEX": "X" if r["USUBJID"] == "S1-002" else r["SEX"]}
                                           for r in rows])
    _edit(folder / "pr.csv", lambda rows: [{**r, "PRLOC": "left hip area"} for r in rows])
    code, issues = _validate(folder)
    assert code == 1
    assert _located(issues, "FB-SDTM-006") == [("dm.csv", 3, "SEX", "S1-002", None)]
    assert "non-extensible codelist SEX (C66731, CDISC CT 2025-03-28)" in next(
        i["message"] for i in issues if i["code"] == "FB-SDTM-006")
    # a sponsor term of the extensible LOC codelist: information, once for the value
    assert _located(issues, "FB-SDTM-025") == [("pr.csv", 2, "PRLOC", "S1-001", "1")]


def test_ts_and_define_name_one_version(sdtm_dir):
    folder = sdtm_dir()
    _edit(folder / "ts.csv", lambda rows: [{**r, "TSVAL": "3.2" if r["TSPARMCD"] == "SDTIGVER" else r["TSVAL"]}
                                           for r in rows])
    code, issues = _validate(folder)
    row = next(n for n, r in enumerate(_rows(folder / "ts.csv"), start=2) if r["TSPARMCD"] == "SDTIGVER")
    assert code == 1 and _located(issues, "FB-SDTM-024") == [("ts.csv", row, "TSVAL", None, str(row - 1))]


def test_define_xml_has_ct_meddra_value_level_metadata_and_origins():
    ns = {"odm": odm.ODM_NS, "def": odm.DEF_NS}
    define = etree.parse(str(SDTM_EXAMPLE / "define.xml"))
    for domain in ("QS", "NV", "RS"):
        tests = {r[f"{domain}TESTCD"] for r in _rows(SDTM_EXAMPLE / f"{domain.lower()}.csv")}
        refs = define.findall(f".//def:ValueListDef[@OID='VL.{domain}.{domain}ORRES']/odm:ItemRef", ns)
        assert len(refs) == len(tests), domain
        clauses = {c.findtext("odm:RangeCheck/odm:CheckValue", namespaces=ns)
                   for c in define.iterfind(".//def:WhereClauseDef", ns) if c.get("OID").startswith(f"WC.{domain}.")}
        assert clauses == tests, domain
        orres = define.find(f".//odm:ItemDef[@OID='IT.{domain}.{domain}ORRES']", ns)
        assert orres.find("def:ValueListRef", ns).get("ValueListOID") == f"VL.{domain}.{domain}ORRES"
    sex = define.find(".//odm:CodeList[@OID='CL.SEX']", ns)
    assert sex.get(f"{{{odm.DEF_NS}}}StandardOID") == "STD.CT"
    assert sex.find("odm:Alias", ns).get("Name") == "C66731"
    assert {i.get("CodedValue"): i.find("odm:Alias", ns).get("Name")
            for i in sex.iterfind("odm:EnumeratedItem", ns)}["M"] == "C20197"
    loc = define.find(".//odm:CodeList[@OID='CL.LOC']", ns)
    extended = {i.get("CodedValue") for i in loc.iterfind("odm:EnumeratedItem", ns)
                if i.get(f"{{{odm.DEF_NS}}}ExtendedValue") == "Yes"}
    assert {"C5", "S4-5", "posterior iliac crest"} <= extended
    origins = {i.get("OID"): i.find("def:Origin", ns).get("Type") for i in define.iterfind(".//odm:ItemDef", ns)}
    assert (origins["IT.AE.AETERM"], origins["IT.TA.ETCD"], origins["IT.DM.RFSTDTC"]) == (
        "Collected", "Protocol", "Derived")
    assert define.find(".//odm:ExternalCodeList", ns).get("Version") == "27.0"
    # test codes that are not CDISC terms are declared sponsor-defined
    nvtestcd = define.find(".//odm:CodeList[@OID='CL.SPONSOR.NVTESTCD']", ns)
    assert nvtestcd.get(f"{{{odm.DEF_NS}}}IsNonStandard") == "Yes"
    assert {i.get("CodedValue") for i in nvtestcd.iterfind("odm:EnumeratedItem", ns)} == {
        r["NVTESTCD"] for r in _rows(SDTM_EXAMPLE / "nv.csv")}


def test_the_shipped_codelists_name_their_origin_and_version():
    ct = load_sdtm_mapping().ct()
    assert ct.version == "2025-03-28"
    assert all(c.origin and c.code.startswith("C") for c in ct.codelists.values())
    assert ct.codelists["SEX"].terms["INTERSEX"] == "C45908" and not ct.codelists["SEX"].extensible
    used = {v.ct for spec in load_sdtm_mapping().domains.values() for v in spec.variables.values() if v.ct}
    assert used <= set(ct.codelists)


# -- (8) times ----------------------------------------------------------------------------------------------


def test_one_rule_for_times():
    assert to_local("2013-07-31T10:45:00+09:00", "+09:00") == ("2013-07-31T10:45:00", False)
    assert to_local("2013-07-31T01:45:00Z", "+09:00") == ("2013-07-31T10:45:00", True)
    assert to_local("2013-07", "+09:00") == ("2013-07", False)
    assert from_local("2013-07-31T10:45:00", "+09:00") == "2013-07-31T10:45:00+09:00"
    assert from_local("2013-07-31", "+09:00") == "2013-07-31"
    dm = _rows(SDTM_EXAMPLE / "dm.csv")[0]
    infusion = _rows(REPO / "examples" / "honmou2021" / "csv" / "infusion.csv")[0]
    assert infusion["start"] == dm["RFXSTDTC"] + "+09:00"  # local clock time, no offset


def test_a_time_at_another_offset_is_converted_and_reported(study_dir, tmp_path):
    report = api.convert([study_dir()], tmp_path / "sdtm", target="sdtm",
                         options=ConvertOptions(sdtm_mapping=EXAMPLE_SDTM_MAPPING))
    shifted = [i for i in report.issues if i.code == "FB-SDTM-026"]
    assert len(shifted) == 1 and "2019-02-25T19:00:00" in shifted[0].message  # 10:00 UTC is 19:00 in Japan
    back = api.read([tmp_path / "sdtm"], Report(), source="sdtm")
    assert back.infusions[0].start == "2019-02-25T19:00:00+09:00"


# -- (9) conformance across datasets --------------------------------------------------------------------------


def test_result_status_epoch_visits_and_supp_are_checked(sdtm_dir):
    folder = sdtm_dir()
    _edit(folder / "qs.csv", lambda rows: [{**r, "QSSTAT": "NOT DONE"} if i == 0 else
                                           {**r, "EPOCH": "RUN-IN"} if i == 1 else r for i, r in enumerate(rows)])
    _edit(folder / "sv.csv", lambda rows: [r for r in rows if r["USUBJID"] != "S1-002"])
    _edit(folder / "suppdm.csv", lambda rows: [*rows, rows[0]])
    _, issues = _validate(folder)
    assert _located(issues, "FB-SDTM-027") == [("qs.csv", 2, "QSSTAT", "S1-001", "1")]
    assert _located(issues, "FB-SDTM-028") == [("qs.csv", 3, "EPOCH", "S1-001", "2")]
    first_of_002 = {name: next(n for n, r in enumerate(_rows(folder / name), start=2) if r["USUBJID"] == "S1-002")
                    for name in ("qs.csv", "nv.csv", "rs.csv")}
    assert sorted(loc[:4] for loc in _located(issues, "FB-SDTM-029")) == sorted(
        (name, row, "VISITNUM", "S1-002") for name, row in first_of_002.items())
    assert [loc[:3] for loc in _located(issues, "FB-SDTM-030")] == [("suppdm.csv", len(_rows(folder / "suppdm.csv"))
                                                                     + 1, "QNAM")]


def test_every_new_rule_names_the_published_rule_it_matches():
    for code in ("FB-SDTM-003", "FB-SDTM-004", "FB-SDTM-005", "FB-SDTM-006", "FB-SDTM-007", "FB-SDTM-008",
                 "FB-SDTM-009", "FB-SDTM-010", "FB-SDTM-022", "FB-SDTM-025", "FB-SDTM-027", "FB-SDTM-028",
                 "FB-SDTM-029", "FB-SDTM-030"):
        description = RULES[code].description
        assert any(name in description for name in ("Pinnacle 21", "CDISC", "FDA", "technical rejection")), code


@pytest.mark.parametrize("name", ["sdtm-default.yaml", "cdisc-ct.yaml"])
def test_the_mapping_and_ct_files_ship_with_the_package(name):
    from fhirbridge.mapping.loader import bundled

    assert Path(bundled(name)).is_file()
