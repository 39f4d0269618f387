"""SDTM datasets → hub records, driven by the SDTM mapping spec (the read direction, inverse of from_records).

Rows are gathered into partial records: one per row for DM, EX, PR and AE; one per record key (STUDYID,
USUBJID, VISIT) for findings, so that NV and RS rows of the same visit make one ISNCSCI exam; SUPP-- rows
then add their qualifiers. Each partial record becomes a hub record, or issues located at its first row.
Derived variables (RFSTDTC, --SEQ, VISITNUM) and rows flagged as derived (RSDRVFL = Y) are not read back:
fhirbridge computes them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, get_args, get_origin

from pydantic import ValidationError

from fhirbridge.formats.sdtm.dataset import Dataset, Row, as_text
from fhirbridge.formats.sdtm.design import derived_parameters
from fhirbridge.formats.sdtm.results import join
from fhirbridge.formats.sdtm.times import from_local
from fhirbridge.issues.issue import Issue
from fhirbridge.mapping.csv_layout import RECORD_TYPES
from fhirbridge.mapping.sdtm_mapping import DomainSpec, FindingTest, SdtmMapping
from fhirbridge.records import SourceLocation, StudyData

#: (file, row, variable) of the cells that conformance checks already reported.
Reported = set[tuple[str | None, int | None, str | None]]


@dataclass
class _Partial:
    kind: str
    file: str | None
    row: int
    subject: str | None = None
    record: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    broken: bool = False

    def put(self, path: str, value: Any, variable: str, row: int) -> None:
        *parents, leaf = path.split(".")
        target = self.values
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
        self.columns[path] = variable
        self.rows[path] = row


class _Reader:
    def __init__(self, mapping: SdtmMapping, issues: list[Issue], reported: Reported) -> None:
        self.mapping = mapping
        self.issues = issues
        self.reported = reported
        self.partials: dict[tuple[Any, ...], _Partial] = {}
        self.by_idvar: dict[tuple[str, str, str], _Partial] = {}
        # findings rows by (dataset, USUBJID, --SEQ): the record and field a result flag (SUPP--) belongs to;
        # None for rows that are not read (derived)
        self.by_row: dict[tuple[str, str, str], tuple[_Partial, str] | None] = {}
        tsparmcd = mapping.ct().codelists.get("TSPARMCD")
        read_back = {t.testcd for spec in mapping.domains.values() if spec.design_parameters
                     for t in spec.all_tests().values()}
        self.design_parameters = (derived_parameters(mapping) | set(tsparmcd.terms if tsparmcd else ())) - read_back
        self.subject_ids: dict[str, str] = {}

    def read(self, datasets: list[Dataset]) -> StudyData:
        main = {d.name: d for d in datasets if d.name in self.mapping.domains}
        if "DM" in main:
            for row in main["DM"].rows:
                if row.get("USUBJID") and row.get("SUBJID"):
                    self.subject_ids[str(row["USUBJID"])] = str(row["SUBJID"])
        for name, spec in self.mapping.domains.items():
            if name in main and not spec.derived():
                self._domain(main[name], spec)
        for dataset in datasets:
            parent = self.mapping.domain_of_supp(dataset.name)
            if parent is not None:
                self._supp(dataset, self.mapping.domains[parent])
        return self._records()

    # -- main domains -------------------------------------------------------------------------------------------

    def _domain(self, dataset: Dataset, spec: DomainSpec) -> None:
        needed = [v for v in ("STUDYID", "USUBJID") if v in spec.variables and not dataset.has(v)]
        if spec.kind == "findings":
            needed += [v for v in (spec.variable_with("testcd"),) if v and not dataset.has(v)]
        if needed:
            return  # conformance reports the missing required variables; no row can be placed
        for index, row in enumerate(dataset.rows):
            number = dataset.row_number(index)
            if spec.kind == "rows":
                self._row(dataset, spec, row, number, index)
            else:
                self._finding(dataset, spec, row, number)

    def _row(self, dataset: Dataset, spec: DomainSpec, row: Row, number: int, index: int) -> None:
        partial = self._new(("row", dataset.name, index), spec, dataset, row, number)
        for var, v in spec.variables.items():
            value = row.get(var)
            if v.field is not None:
                self._field(partial, dataset, spec, row, var, v.field, number)
            elif v.study is not None:
                self._study_value(dataset, row, var, v.study, None if value == v.missing else value, number)
            elif v.flag is not None:
                partial.values.setdefault(v.flag.field, [])
                partial.columns.setdefault(v.flag.field, var)
                if value == "Y":
                    partial.values[v.flag.field].append(v.flag.value)
        self._subject(partial, spec, row)
        if spec.supp_idvar and row.get("USUBJID") is not None:
            self.by_idvar[(dataset.name, str(row["USUBJID"]), as_text(row.get(spec.supp_idvar)))] = partial

    def _finding(self, dataset: Dataset, spec: DomainSpec, row: Row, number: int) -> None:
        derived_flag = spec.variable_with("derived_flag")
        seq = spec.seq_variable()
        row_key = (dataset.name, as_text(row.get("USUBJID")), as_text(row.get(seq)) if seq else "")
        testcd = spec.variable_with("testcd")
        if (derived_flag and row.get(derived_flag) == "Y") or (
                spec.design_parameters and testcd and row.get(testcd) in self.design_parameters):
            # derived rows, and the design's TS parameters (CDISC ones; the mapping writes them again)
            self.by_row[row_key] = None
            return
        key = tuple(as_text(row.get(v)) for v in spec.record_key)
        partial = self.partials.get((spec.record, *key)) or self._new((spec.record, *key), spec, dataset, row, number)
        for var, v in spec.variables.items():
            if v.field is not None and row.get(var) is not None and v.field not in partial.columns:
                self._field(partial, dataset, spec, row, var, v.field, number)
        self._subject(partial, spec, row)
        found = self._test(dataset, spec, row, number)
        if found is not None:
            path, test = found
            self._result(partial, dataset, spec, row, number, path, test)
            self.by_row[row_key] = (partial, path)
        if spec.supp_idvar and row.get("USUBJID") is not None:
            self.by_idvar[(dataset.name, str(row["USUBJID"]), as_text(row.get(spec.supp_idvar)))] = partial

    def _test(self, dataset: Dataset, spec: DomainSpec, row: Row, number: int) -> tuple[str, FindingTest] | None:
        testcd_var = spec.variable_with("testcd") or ""
        loc_var, lat_var = spec.variable_with("loc"), spec.variable_with("lat")
        lat = row.get(lat_var) if lat_var else None
        lat_codes = spec.variables[lat_var].codelist if lat_var else None
        if lat is not None and lat_codes is not None:
            lat = self.mapping.codelists[lat_codes].hub(str(lat))
        ident = (row.get(testcd_var), row.get(loc_var) if loc_var else None, lat)
        found = spec.test_of(*ident)
        if found is not None:
            return found
        where = ", ".join(f"{n} {v}" for n, v in zip((testcd_var, loc_var, lat_var), ident, strict=True) if v)
        self._issue("FB-SDTM-015", f"{where} is not a test of the SDTM mapping for {dataset.name}; the row is not "
                    "converted", dataset, number, testcd_var, row, value=row.get(testcd_var),
                    expected=", ".join(sorted({t.testcd for t in spec.all_tests().values()})))
        return None

    def _result(self, partial: _Partial, dataset: Dataset, spec: DomainSpec, row: Row, number: int, path: str,
                test: FindingTest) -> None:
        orres, stat = spec.variable_with("orres") or "", spec.variable_with("stat")
        stresc, reasnd = spec.variable_with("stresc"), spec.variable_with("reasnd")
        text = row.get(orres)
        if text is None and stresc:
            text = row.get(stresc)
        status = row.get(stat) if stat else None
        if status == "NOT DONE":
            value = join(None, "NOT DONE", as_text(row.get(reasnd)) if reasnd else None, None, spec.not_done_values)
            partial.put(path, value, orres, number)
            return
        if text is None:
            partial.put(path, None, orres, number)
            return
        value: Any = as_text(text)
        if test.codelist is not None:
            value = self._decode(value, test.codelist, dataset, orres, row, number)
            if value is None:
                partial.broken = True
                return
        elif spec.result_type == "int":
            try:
                value = int(value)
            except ValueError:
                self._issue("FB-SDTM-012", f"{test.testcd}: {value!r} is not a whole number; the record is not "
                            "converted", dataset, number, orres, row, value=value, expected="an integer")
                partial.broken = True
                return
        partial.put(path, value, orres, number)

    def _field(self, partial: _Partial, dataset: Dataset, spec: DomainSpec, row: Row, var: str, path: str,
               number: int) -> None:
        value = row.get(var)
        if value is None:
            partial.columns[path] = var
            return
        codelist = spec.variables[var].codelist
        if codelist is not None:
            value = self._decode(as_text(value), codelist, dataset, var, row, number)
            if value is None:
                partial.broken = True
                return
        if var.endswith("DTC") and isinstance(value, str):
            value = from_local(value, self.mapping.timezone)
        partial.put(path, _typed(RECORD_TYPES[spec.record], path, value), var, number)

    def _decode(self, text: str, codelist: str, dataset: Dataset, var: str, row: Row, number: int) -> Any:
        decoded = self.mapping.codelists[codelist].hub(text)
        if decoded is None:
            allowed = ", ".join(self.mapping.codelists[codelist].values.values())
            self._issue("FB-SDTM-006", f"{var} {text!r} is not in codelist {codelist}; the record is not converted",
                        dataset, number, var, row, value=text, expected=allowed)
        return decoded

    def _study_value(self, dataset: Dataset, row: Row, var: str, path: str, value: Any, number: int) -> None:
        study_id = as_text(row.get("STUDYID"))
        partial = self.partials.get(("study", study_id))
        if partial is None:
            partial = self._new(("study", study_id), self.mapping.domains[dataset.name], dataset, row, number,
                                kind="study")
            partial.put("study_id", study_id, "STUDYID", number)
        if path not in partial.values:
            partial.put(path, value, var, number)
        elif partial.values[path] != value:
            self._issue("FB-SDTM-016", f"{var} {value!r} differs from {partial.values[path]!r} given for another "
                        f"subject of study {study_id}; the first is kept", dataset, number, var, row, value=value)

    def _subject(self, partial: _Partial, spec: DomainSpec, row: Row) -> None:
        usubjid = row.get("USUBJID")
        if not spec.has_subjects() or usubjid is None or "subject_id" in partial.values:
            return
        usubjid = str(usubjid)
        prefix = f"{as_text(row.get('STUDYID'))}-"
        partial.values["subject_id"] = self.subject_ids.get(usubjid, usubjid.removeprefix(prefix))
        partial.columns["subject_id"] = "USUBJID"
        partial.subject = usubjid

    def _new(self, key: tuple[Any, ...], spec: DomainSpec, dataset: Dataset, row: Row, number: int,
             kind: str | None = None) -> _Partial:
        seq = spec.seq_variable()
        partial = _Partial(kind=kind or spec.record, file=dataset.file, row=number,
                           subject=as_text(row.get("USUBJID")) or None,
                           record=as_text(row.get(seq)) or None if seq else None)
        self.partials[key] = partial
        return partial

    # -- SUPP-- ---------------------------------------------------------------------------------------------------

    def _supp(self, dataset: Dataset, spec: DomainSpec) -> None:
        by_qnam = {s.qnam: (path, s) for path, s in spec.supp.items()}
        parent = dataset.name[4:]
        for index, row in enumerate(dataset.rows):
            number = dataset.row_number(index)
            qnam = row.get("QNAM")
            if spec.result_flag is not None and qnam == spec.result_flag.qnam:
                self._result_flag(dataset, parent, row, number)
                continue
            target = self.by_idvar.get((parent, as_text(row.get("USUBJID")), as_text(row.get("IDVARVAL"))))
            if parent == "DM" and target is None:
                target = self._dm_row(as_text(row.get("USUBJID")))
            if target is None:
                self._issue("FB-SDTM-017", f"no {parent} record of {row.get('USUBJID')} has "
                            f"{row.get('IDVAR') or 'USUBJID'} {as_text(row.get('IDVARVAL'))!r}; the qualifier "
                            f"{qnam} is not converted", dataset, number, "IDVARVAL", row, value=row.get("IDVARVAL"))
                continue
            if qnam not in by_qnam:
                self._issue("FB-SDTM-017", f"QNAM {qnam!r} is not a qualifier of the SDTM mapping for {parent}; it "
                            "is not converted", dataset, number, "QNAM", row, value=qnam,
                            expected=", ".join(by_qnam))
                continue
            path, s = by_qnam[qnam]
            value: Any = row.get("QVAL")
            if value is not None and s.codelist is not None:
                value = self._decode(as_text(value), s.codelist, dataset, "QVAL", row, number)
                if value is None:
                    target.broken = True
                    continue
            target.put(path, value, f"{dataset.name}.QVAL", number)

    def _result_flag(self, dataset: Dataset, parent: str, row: Row, number: int) -> None:
        """A * / ** flag of a findings result, appended to the result it qualifies (IDVAR --SEQ)."""
        key = (parent, as_text(row.get("USUBJID")), as_text(row.get("IDVARVAL")))
        if key in self.by_row and self.by_row[key] is None:
            return  # the flag of a row that is not read back (derived)
        found = self.by_row.get(key)
        flag = as_text(row.get("QVAL"))
        if found is None or flag not in ("*", "**"):
            why = f"no {parent} row of {key[1]} has {row.get('IDVAR')} {key[2]!r}" if found is None else \
                f"QVAL {flag!r} is not * or **"
            self._issue("FB-SDTM-017", f"{why}; the flag {row.get('QNAM')} is not converted", dataset, number,
                        "IDVARVAL" if found is None else "QVAL", row, value=key[2] if found is None else flag)
            return
        partial, path = found
        *parents, leaf = path.split(".")
        target = partial.values
        for part in parents:
            target = target.get(part, {})
        if target.get(leaf) is not None:
            target[leaf] = f"{target[leaf]}{flag}"

    def _dm_row(self, usubjid: str) -> _Partial | None:
        return next((p for p in self.partials.values() if p.kind == "subject" and p.subject == usubjid), None)

    # -- records --------------------------------------------------------------------------------------------------

    def _records(self) -> StudyData:
        data = StudyData()
        for partial in self.partials.values():
            if partial.broken:
                continue
            source = SourceLocation(file=partial.file, row=partial.row, columns=partial.columns)
            try:
                data.add(RECORD_TYPES[partial.kind].model_validate({**partial.values, "source": source}))
            except ValidationError as exc:
                for err in exc.errors():
                    path = ".".join(str(p) for p in err["loc"])
                    column = source.column(path)
                    row = partial.rows.get(path, partial.row)
                    if (partial.file, row, column) in self.reported:
                        continue
                    value = err.get("input")
                    message = f"{path}: a value is required" if err["type"] == "missing" else \
                        f"{path}: {err['msg'].removeprefix('Value error, ')}"
                    self.issues.append(Issue.of(
                        "FB-SDTM-012", f"{message}; the record is not converted", file=partial.file, row=row,
                        column=column, subject=partial.subject, record=partial.record,
                        value=value if isinstance(value, str | int | float | bool) else None))
        return data

    def _issue(self, code: str, message: str, dataset: Dataset, number: int, var: str, row: Row,
               **extra: Any) -> None:
        if (dataset.file, number, var) in self.reported:
            return
        seq = next((c.name for c in dataset.columns if c.name.endswith("SEQ")), None)
        self.issues.append(Issue.of(code, message, file=dataset.file, row=number, column=var,
                                    subject=as_text(row.get("USUBJID")) or None,
                                    record=as_text(row.get(seq)) or None if seq else None, **extra))


def _typed(model: type, path: str, value: Any) -> Any:
    """A Num value for a text field (AEPTCD → meddra_code) becomes its text; everything else is validated as is."""
    if "." in path or not isinstance(value, int | float) or isinstance(value, bool):
        return value
    annotation = model.model_fields[path].annotation
    options = tuple(get_args(o)[0] if get_origin(o) is Annotated else o for o in get_args(annotation) or (annotation,))
    return as_text(value) if str in options and not ({int, float} & set(options)) else value


def to_records(datasets: list[Dataset], mapping: SdtmMapping, issues: list[Issue], reported: Reported,
               dictionaries: dict[str, str] | None = None) -> StudyData:
    """Hub records from the datasets the mapping knows; problems are appended to ``issues``.

    ``dictionaries`` are the external dictionaries define.xml names (``{"MedDRA": "27.0"}``): their versions go
    back to the records coded with them (the datasets themselves do not carry a version).
    """
    data = _Reader(mapping, issues, reported).read(datasets)
    for name, version in (dictionaries or {}).items():
        for spec in mapping.domains.values():
            path = spec.dictionary_versions.get(name)
            if path is None:
                continue
            coded = [v.field for v in spec.variables.values() if v.dictionary == name and v.field]
            for record in getattr(data, _KIND_LISTS[spec.record]):
                if any(getattr(record, field) for field in coded):
                    setattr(record, path, version)
    return data


#: The StudyData list of each record kind.
_KIND_LISTS = {"study": "studies", "subject": "subjects", "harvest": "harvests", "infusion": "infusions",
               "isncsci_exam": "isncsci_exams", "scim_assessment": "scim_assessments",
               "adverse_event": "adverse_events"}
