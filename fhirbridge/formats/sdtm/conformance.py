"""SDTM conformance: the checks a reviewer runs on submitted datasets, whatever file format they came in.

Required variables present and filled, expected variables present, controlled terminology (the CDISC CT the
mapping names, sponsor codelists, declared sponsor terms), ISO 8601 --DTC, --SEQ unique per subject, every
USUBJID in DM, --STDTC not after --ENDTC, the SAS XPORT v5 limits, and across datasets (``design_checks``):
the trial summary parameters, one SDTMIG version, results against --STAT, EPOCH and visits against the trial
design, SUPP-- duplicates and the MedDRA hierarchy. Every issue names the dataset file, row, variable,
USUBJID and --SEQ; the registry names the Pinnacle 21 / CDISC / FDA rule each check matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from fhirbridge.formats.sdtm.dataset import Dataset, Row, as_text
from fhirbridge.formats.sdtm.define_xml import Define
from fhirbridge.formats.sdtm.design_checks import design_checks
from fhirbridge.formats.sdtm.located import at
from fhirbridge.issues.issue import Issue
from fhirbridge.mapping.sdtm_mapping import SdtmMapping, VariableSpec

#: SDTM --DTC: ISO 8601 date or date-time, to any precision (SDTMIG 4.4.2); a UTC offset may follow a time.
DTC = re.compile(
    r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3])(:[0-5]\d(:[0-5]\d(\.\d+)?)?)?"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?)?)?"
)
XPT_NAME, XPT_LABEL, XPT_CHAR = 8, 40, 200


def check_datasets(datasets: list[Dataset], mapping: SdtmMapping, define: Define | None = None) -> list[Issue]:
    """Every conformance issue of the datasets the mapping knows (unknown datasets are reported by the reader);
    ``define`` is the define.xml read beside them, if any."""
    issues: list[Issue] = []
    dm = next((d for d in datasets if d.name == "DM"), None)
    subjects = {as_text(r.get("USUBJID")) for r in dm.rows} if dm is not None and dm.has("USUBJID") else None
    for dataset in datasets:
        variables = mapping.dataset_variables(dataset.name)
        if variables is None:
            continue
        issues.extend(_columns(dataset, variables))
        issues.extend(_cells(dataset, variables, mapping))
        issues.extend(_sequence(dataset))
        issues.extend(_periods(dataset))
        if subjects is not None and dataset.name != "DM":
            issues.extend(_known_subjects(dataset, subjects))
    issues.extend(design_checks(datasets, mapping, define))
    return issues


def xpt_limits(dataset: Dataset) -> Iterator[Issue]:
    """What SAS XPORT v5 cannot hold: names over 8 characters, labels over 40, text over 200 bytes."""
    yield from xpt_name_limits(dataset)
    yield from xpt_value_limits(dataset)


def xpt_name_limits(dataset: Dataset) -> Iterator[Issue]:
    """Variable names over 8 characters and labels over 40: a dataset's, once, whatever its number of rows."""
    for column in dataset.columns:
        if len(column.name) > XPT_NAME:
            yield Issue.of("FB-SDTM-011", f"variable name {column.name} is longer than {XPT_NAME} characters",
                           file=dataset.file, column=column.name, expected=f"at most {XPT_NAME} characters")
        if len(column.label) > XPT_LABEL:
            yield Issue.of("FB-SDTM-011", f"label of {column.name} is longer than {XPT_LABEL} characters",
                           file=dataset.file, column=column.name, value=column.label)


def xpt_value_limits(dataset: Dataset) -> Iterator[Issue]:
    """Text values over 200 bytes (UTF-8)."""
    for index, row in enumerate(dataset.rows):
        for name, value in row.items():
            if isinstance(value, str) and len(value.encode("utf-8")) > XPT_CHAR:
                yield at(dataset, index, row, name, "FB-SDTM-011",
                          f"{name} is {len(value.encode('utf-8'))} bytes long; XPT v5 holds at most {XPT_CHAR}",
                          value=value[:40] + "…")


def _columns(dataset: Dataset, variables: dict[str, VariableSpec]) -> Iterator[Issue]:
    present = {c.name for c in dataset.columns}
    for name, v in variables.items():
        if name in present or v.core == "Perm":
            continue
        if v.core == "Req":
            yield Issue.of("FB-SDTM-003", f"required variable {name} is missing from {dataset.name}"
                           + ("; no row of the dataset is converted" if name in ("USUBJID", "STUDYID") else ""),
                           file=dataset.file, column=name)
        else:
            yield Issue.of("FB-SDTM-004", f"expected variable {name} is missing from {dataset.name}",
                           file=dataset.file, column=name)
    for name in sorted(present - set(variables)):
        yield Issue.of("FB-SDTM-013", f"variable {name} is not in the SDTM mapping for {dataset.name}; its values "
                       "are not converted", file=dataset.file, column=name)
    yield from xpt_limits(dataset)


def _cells(dataset: Dataset, variables: dict[str, VariableSpec], mapping: SdtmMapping) -> Iterator[Issue]:
    checked = [(name, v) for name, v in variables.items() if dataset.has(name)]
    terms = Terms(mapping)
    result_ct = _result_codelists(dataset, mapping)
    for index, row in enumerate(dataset.rows):
        for name, v in checked:
            value = row.get(name)
            if value is None:
                if v.core == "Req":
                    yield at(dataset, index, row, name, "FB-SDTM-005", f"required variable {name} is empty")
                continue
            text = as_text(value)
            ct = v.ct or (result_ct.get(as_text(row.get(f"{dataset.name}TESTCD"))) if name in (
                f"{dataset.name}ORRES", f"{dataset.name}STRESC") else None)
            if ct is not None:
                yield from terms.check(dataset, index, row, name, ct, text)
            elif v.codelist is not None and text not in mapping.codelists[v.codelist].values.values():
                yield at(dataset, index, row, name, "FB-SDTM-006",
                          f"{name} {text!r} is not in sponsor codelist {v.codelist}", value=text,
                          expected=", ".join(mapping.codelists[v.codelist].values.values()))
            if name.endswith("DTC") and not DTC.fullmatch(text):
                yield at(dataset, index, row, name, "FB-SDTM-007", f"{name} {text!r} is not an ISO 8601 date",
                          value=text, expected="YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss")


def _result_codelists(dataset: Dataset, mapping: SdtmMapping) -> dict[str, str]:
    """--TESTCD → the CDISC codelist of its result (value-level metadata), for a findings domain."""
    spec = mapping.domains.get(dataset.name)
    return {t.testcd: t.ct for t in spec.all_tests().values() if t.ct} if spec is not None else {}


class Terms:
    """Values against the CDISC codelists the mapping names: a term, a declared sponsor term, a sponsor term of
    an extensible codelist (information, once per variable and value) or an error."""

    def __init__(self, mapping: SdtmMapping) -> None:
        self.ct = mapping.ct()
        self.extensions = {name: set(values) for name, values in mapping.ct_extensions.items()}
        self.seen: set[tuple[str, str, str]] = set()

    def check(self, dataset: Dataset, index: int, row: Row, name: str, codelist: str, text: str) -> Iterator[Issue]:
        terms = self.ct.codelists[codelist]
        if text in terms.terms or text in self.extensions.get(codelist, ()):
            return
        where = f"{codelist} ({terms.code}, CDISC CT {self.ct.version})"
        if terms.extensible or terms.subset:
            if (dataset.name, name, text) not in self.seen:
                self.seen.add((dataset.name, name, text))
                yield at(dataset, index, row, name, "FB-SDTM-025",
                          f"{dataset.name}.{name} {text!r} is not a term of {where}; "
                          + ("the codelist is extensible" if terms.extensible else "fhirbridge lists only part of "
                             "this codelist") + " (reported once for this value)", value=text)
            return
        yield at(dataset, index, row, name, "FB-SDTM-006",
                  f"{dataset.name}.{name} {text!r} is not a term of the non-extensible codelist {where}",
                  value=text, expected=", ".join(list(terms.terms)[:20]))


def _sequence(dataset: Dataset) -> Iterator[Issue]:
    seq = next((c.name for c in dataset.columns if c.name == f"{dataset.name}SEQ"), None)
    if seq is None:
        return
    seen: dict[tuple[str, str], int] = {}
    for index, row in enumerate(dataset.rows):
        if row.get(seq) is None:
            continue
        key = (as_text(row.get("USUBJID") or row.get("STUDYID")), as_text(row.get(seq)))
        if key in seen:
            yield at(dataset, index, row, seq, "FB-SDTM-008",
                      f"{seq} {key[1]} is used twice for {key[0]} (first at row {seen[key]})", value=row.get(seq))
        else:
            seen[key] = dataset.row_number(index)


def _known_subjects(dataset: Dataset, subjects: set[str]) -> Iterator[Issue]:
    reported: set[str] = set()
    for index, row in enumerate(dataset.rows):
        usubjid = as_text(row.get("USUBJID"))
        if usubjid and usubjid not in subjects and usubjid not in reported:
            reported.add(usubjid)
            yield at(dataset, index, row, "USUBJID", "FB-SDTM-009", f"USUBJID {usubjid} is not in DM",
                      value=usubjid)


def _periods(dataset: Dataset) -> Iterator[Issue]:
    starts = [c.name for c in dataset.columns if c.name.endswith("STDTC") and len(c.name) == 7]
    for start in starts:
        end = f"{start[:2]}ENDTC"
        if not dataset.has(end):
            continue
        for index, row in enumerate(dataset.rows):
            first, last = as_text(row.get(start)), as_text(row.get(end))
            if not (first and last and DTC.fullmatch(first) and DTC.fullmatch(last)):
                continue
            common = min(len(first[:19]), len(last[:19]))  # compare to the shared precision, without offsets
            if first[:common] > last[:common]:
                yield at(dataset, index, row, end, "FB-SDTM-010", f"{end} {last} is before {start} {first}",
                          value=last, expected=f"on or after {first}")
