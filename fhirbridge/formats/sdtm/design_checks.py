"""Conformance checks across datasets: what a submission reviewer checks beyond each variable's own values.

* TS has the parameters the FDA needs (SSTDTC above all: its absence is a technical rejection criterion), and
  the trial design and subject element / visit datasets are present;
* one SDTMIG version: TS SDTIGVER and define.xml name the one the datasets follow;
* a findings result and its --STAT agree (a result, or NOT DONE; --REASND only with NOT DONE);
* EPOCH and ARMCD are in the trial arms (TA), visits in the trial visits (TV) and each subject's visits in SV;
* SUPP-- qualifies a record once per QNAM, and a QNAM has one label;
* adverse events coded to a preferred term only: the MedDRA hierarchy is empty (information, once).
"""

from __future__ import annotations

from collections.abc import Iterator

from fhirbridge.formats.sdtm.dataset import Dataset, as_text
from fhirbridge.formats.sdtm.define_xml import Define
from fhirbridge.formats.sdtm.located import at
from fhirbridge.issues.issue import Issue
from fhirbridge.mapping.sdtm_mapping import SdtmMapping

#: TS parameters the FDA expects (Study Data Technical Conformance Guide); SSTDTC has its own, stronger rule.
EXPECTED_PARAMETERS = ("SENDTC", "TITLE", "STYPE", "TPHASE", "TBLIND", "TCNTRL", "INTTYPE", "ACTSUB", "PLANSUB",
                       "REGID", "SDTIGVER", "SDTMVER")
#: Datasets of the trial design and of subject elements and visits a submission with subjects includes.
DESIGN_DATASETS = ("TA", "TE", "TV", "TI", "SE", "SV")


def design_checks(datasets: list[Dataset], mapping: SdtmMapping, define: Define | None) -> Iterator[Issue]:
    by_name = {d.name: d for d in datasets}
    if "DM" in by_name or "TS" in by_name:
        yield from _trial_summary(by_name.get("TS"), by_name.get("DM"), mapping)
    if "DM" in by_name:
        for name in DESIGN_DATASETS:
            if name not in by_name and name in mapping.domains:
                yield Issue.of("FB-SDTM-023", f"dataset {name} ({mapping.domains[name].label}) is absent",
                               file=by_name["DM"].file, value=name)
    if define is not None and define.standard not in (None, mapping.standard.version):
        yield Issue.of("FB-SDTM-024", f"define.xml names SDTMIG {define.standard}; the datasets are read as SDTMIG "
                       f"{mapping.standard.version}", value=define.standard, expected=mapping.standard.version)
    epochs = {as_text(r.get("EPOCH")) for r in by_name["TA"].rows} if "TA" in by_name else None
    arms = {as_text(r.get("ARMCD")) for r in by_name["TA"].rows} if "TA" in by_name else None
    visits = {(as_text(r.get("VISITNUM")), as_text(r.get("VISIT"))) for r in by_name["TV"].rows} \
        if "TV" in by_name else None
    subject_visits = {(as_text(r.get("USUBJID")), as_text(r.get("VISITNUM"))) for r in by_name["SV"].rows} \
        if "SV" in by_name else None
    for dataset in datasets:
        if dataset.name.startswith("SUPP"):
            yield from _supp(dataset)
            continue
        yield from _results(dataset, mapping)
        if epochs is not None and dataset.name != "TA":
            yield from _in_design(dataset, "EPOCH", epochs, "the epochs of TA")
        if arms is not None and dataset.name == "DM":
            yield from _in_design(dataset, "ARMCD", arms, "the arms of TA")
        if visits is not None and dataset.name not in ("TV", "SV") and dataset.has("VISITNUM"):
            yield from _planned_visits(dataset, visits)
        if subject_visits is not None and dataset.name != "SV" and dataset.has("VISITNUM") and dataset.has("USUBJID"):
            yield from _subject_visits(dataset, subject_visits)
        if dataset.name == "AE":
            yield from _meddra(dataset)


def _trial_summary(ts: Dataset | None, dm: Dataset | None, mapping: SdtmMapping) -> Iterator[Issue]:
    where = ts or dm
    assert where is not None
    values = {as_text(r.get("TSPARMCD")): (i, r) for i, r in enumerate(ts.rows)} if ts is not None else {}
    if "SSTDTC" not in values:
        yield Issue.of("FB-SDTM-022", "TS has no SSTDTC (study start date): the FDA rejects a submission without it "
                       "(eCTD technical rejection criterion 1734)", file=where.file, column="TSPARMCD",
                       value="SSTDTC")
    for code in EXPECTED_PARAMETERS:
        if code not in values:
            yield Issue.of("FB-SDTM-023", f"TS has no {code} parameter", file=where.file, column="TSPARMCD",
                           value=code)
    if "SDTIGVER" in values and ts is not None:
        index, row = values["SDTIGVER"]
        if as_text(row.get("TSVAL")) != mapping.standard.version:
            yield at(ts, index, row, "TSVAL", "FB-SDTM-024", f"TS SDTIGVER is {as_text(row.get('TSVAL'))!r}; the "
                     f"datasets follow SDTMIG {mapping.standard.version}", value=as_text(row.get("TSVAL")),
                     expected=mapping.standard.version)


def _results(dataset: Dataset, mapping: SdtmMapping) -> Iterator[Issue]:
    spec = mapping.domains.get(dataset.name)
    if spec is None or spec.kind != "findings" or not spec.has_subjects():
        return
    orres, stat = spec.variable_with("orres"), spec.variable_with("stat")
    reasnd, derived = spec.variable_with("reasnd"), spec.variable_with("derived_flag")
    if orres is None or stat is None or not dataset.has(orres) or not dataset.has(stat):
        return
    for index, row in enumerate(dataset.rows):
        done = row.get(stat) != "NOT DONE"
        has_result = row.get(orres) is not None
        if not done and has_result:
            yield at(dataset, index, row, stat, "FB-SDTM-027", f"{dataset.name} row has a result in {orres} and "
                     f"{stat} NOT DONE", value=as_text(row.get(orres)))
        elif done and not has_result and not (derived and row.get(derived) == "Y"):
            yield at(dataset, index, row, orres, "FB-SDTM-027", f"{orres} is empty and {stat} is not NOT DONE")
        if reasnd and row.get(reasnd) is not None and done:
            yield at(dataset, index, row, reasnd, "FB-SDTM-027", f"{reasnd} is given but {stat} is not NOT DONE",
                     value=as_text(row.get(reasnd)))


def _in_design(dataset: Dataset, variable: str, allowed: set[str], what: str) -> Iterator[Issue]:
    if not dataset.has(variable):
        return
    reported: set[str] = set()
    for index, row in enumerate(dataset.rows):
        value = as_text(row.get(variable))
        if value and value not in allowed and value not in reported:
            reported.add(value)
            yield at(dataset, index, row, variable, "FB-SDTM-028", f"{dataset.name}.{variable} {value!r} is not "
                     f"among {what}", value=value, expected=", ".join(sorted(allowed)))


def _planned_visits(dataset: Dataset, visits: set[tuple[str, str]]) -> Iterator[Issue]:
    reported: set[tuple[str, str]] = set()
    for index, row in enumerate(dataset.rows):
        pair = (as_text(row.get("VISITNUM")), as_text(row.get("VISIT")))
        if pair[0] and pair not in visits and pair not in reported:
            reported.add(pair)
            yield at(dataset, index, row, "VISITNUM", "FB-SDTM-029", f"{dataset.name} visit {pair[1]!r} "
                     f"(VISITNUM {pair[0]}) is not a planned visit of TV", value=pair[0])


def _subject_visits(dataset: Dataset, subject_visits: set[tuple[str, str]]) -> Iterator[Issue]:
    reported: set[tuple[str, str]] = set()
    stat = f"{dataset.name}STAT"
    for index, row in enumerate(dataset.rows):
        pair = (as_text(row.get("USUBJID")), as_text(row.get("VISITNUM")))
        if pair[1] and row.get(stat) != "NOT DONE" and pair not in subject_visits and pair not in reported:
            reported.add(pair)
            yield at(dataset, index, row, "VISITNUM", "FB-SDTM-029", f"{pair[0]} has a {dataset.name} record at "
                     f"VISITNUM {pair[1]} but no SV record of that visit", value=pair[1])


def _supp(dataset: Dataset) -> Iterator[Issue]:
    seen: dict[tuple[str, ...], int] = {}
    labels: dict[str, str] = {}
    for index, row in enumerate(dataset.rows):
        key = tuple(as_text(row.get(v)) for v in ("USUBJID", "IDVAR", "IDVARVAL", "QNAM"))
        if key in seen:
            yield at(dataset, index, row, "QNAM", "FB-SDTM-030", f"{key[3]} qualifies the record {key[1]} "
                     f"{key[2]!r} of {key[0]} twice (first at row {seen[key]})", value=key[3])
        else:
            seen[key] = dataset.row_number(index)
        label = as_text(row.get("QLABEL"))
        if labels.setdefault(key[3], label) != label:
            yield at(dataset, index, row, "QLABEL", "FB-SDTM-030", f"QNAM {key[3]} has the labels "
                     f"{labels[key[3]]!r} and {label!r}", value=label)


def _meddra(dataset: Dataset) -> Iterator[Issue]:
    rows = [(i, r) for i, r in enumerate(dataset.rows)
            if (r.get("AEDECOD") is not None or r.get("AEPTCD") is not None) and r.get("AESOC") is None
            and r.get("AESOCCD") is None]
    if rows:
        index, row = rows[0]
        yield at(dataset, index, row, "AESOC", "FB-SDTM-021", f"{len(rows)} adverse event(s) coded to a MedDRA "
                 "preferred term have no system organ class or other level of the hierarchy (reported once)",
                 value=str(len(rows)))
