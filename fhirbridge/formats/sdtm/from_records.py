"""Hub records → SDTM datasets, driven by the SDTM mapping spec (the write direction).

The engine knows the shapes of a domain: one row per record (DM, EX, PR, AE), one row per value (findings: TS,
QS, NV, RS, with the result convention of ``results``), rows derived from the trial design (TA, TE, TV, TI)
and from each subject's dates and visits (SE, SV; see ``design``), plus SUPP-- for values without a standard
variable. Everything else (names, test codes, terminology, units, visits) comes from the mapping spec.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fhirbridge.formats.options import Derived
from fhirbridge.formats.sdtm.dataset import Column, Dataset, Row, Value, as_text, data_type, number
from fhirbridge.formats.sdtm.design import StudyFacts, design_rows, parameter_rows, subject_dates, subject_visits
from fhirbridge.formats.sdtm.results import split
from fhirbridge.formats.sdtm.times import before, to_local
from fhirbridge.issues.issue import Issue
from fhirbridge.mapping.csv_layout import RECORD_TYPES
from fhirbridge.mapping.sdtm_mapping import DomainSpec, SdtmMapping, SuppSpec, VariableSpec
from fhirbridge.records import Record, Study, StudyData
from fhirbridge.records.paths import value_at

#: Derivations filled after the record's own values (they read them: the group of a row reads its VISIT).
_LATE = ("seq", "group", "visitnum", "visitdy", "epoch")


class _Writer:
    def __init__(self, data: StudyData, mapping: SdtmMapping, derived: Derived, issues: list[Issue],
                 facts: StudyFacts) -> None:
        self.data = data
        self.mapping = mapping
        self.derived = derived
        self.issues = issues
        self.facts = facts
        self.studies: dict[str, Study] = {s.study_id: s for s in data.studies}
        self.subjects = subject_dates(data, mapping, facts)
        self.warned_visits: set[str] = set()
        self.shifted = False

    def datasets(self, study_level: bool = True) -> list[Dataset]:
        out = []
        for name, spec in self.mapping.domains.items():
            if not study_level and not spec.has_subjects():
                continue
            kind = RECORD_TYPES[spec.record]
            # SDTM datasets are ordered by subject; within a subject the records keep their order
            records = sorted((r for r in self.data.records() if type(r) is kind),
                             key=lambda r: (getattr(r, "study_id", ""), getattr(r, "subject_id", "")))
            if not records:
                continue
            rows, supp = self._domain(name, spec, records)
            if rows:
                out.append(_dataset(name, spec.label, spec.variables, rows))
            if supp:
                out.append(_dataset(f"SUPP{name}", f"Supplemental Qualifiers for {name}",
                                    self.mapping.supp_variables, supp))
        return out

    def _domain(self, name: str, spec: DomainSpec, records: list[Record]) -> tuple[list[Row], list[Row]]:
        rows: list[Row] = []
        supp: list[Row] = []
        seq: dict[str, int] = defaultdict(int)
        for record in records:
            values = record.model_dump()
            base = self._base_row(name, spec, record, values)
            record_rows, flags = self._rows_of(spec, record, values, base)
            for row, flag in zip(record_rows, flags, strict=True):
                owner = str(row.get("USUBJID") or row.get("STUDYID"))
                seq[owner] += 1
                self._late(name, spec, row, seq[owner])
                rows.append({v: row.get(v) for v in spec.variables})
                if flag and spec.result_flag is not None:
                    supp.append(self._qualifier(name, spec, spec.result_flag, rows[-1], flag))
            if record_rows and spec.kind in ("rows", "findings"):
                supp.extend(self._supp(name, spec, record, values, record_rows[0]))
        self._last_before_exposure(spec, rows)
        return rows, supp

    def _rows_of(self, spec: DomainSpec, record: Record, values: dict[str, Any],
                 base: Row) -> tuple[list[Row], list[str | None]]:
        """The rows of one record, and the * / ** flag of each."""
        if spec.kind == "findings":
            return self._findings_rows(spec, record, values, base)
        items: list[dict[str, Any]] = []
        if spec.kind == "design":
            study = self.studies.get(values["study_id"])
            if any(v.core == "Req" and (study is None or getattr(study, v.study) is None)
                   for v in spec.variables.values() if v.study is not None):
                return [], []  # TA describes the study's arm: without its code and description there is none
            items = design_rows(str(spec.rows_from), self.mapping)
        elif spec.kind in ("elements", "visits"):
            dates = self.subjects.get((values["study_id"], values["subject_id"]))
            if dates is not None:
                items = dates.elements if spec.kind == "elements" else subject_visits(dates, self.mapping)
        else:
            return [base], [None]
        rows = []
        for item in items:
            row = dict(base)
            row.update({var: item.get(str(v.item)) for var, v in spec.variables.items() if v.item is not None})
            rows.append(row)
        return rows, [None] * len(rows)

    def _base_row(self, name: str, spec: DomainSpec, record: Record, values: dict[str, Any]) -> Row:
        row: Row = {}
        dates = self.subjects.get((values.get("study_id", ""), values.get("subject_id", "")))
        for var, v in spec.variables.items():
            if v.field is not None:
                row[var] = self._value(value_at(values, v.field), v, record, var)
            elif v.constant is not None:
                row[var] = None if not v.constant or (v.when is not None and row.get(v.when) is None) else v.constant
            elif v.study is not None:
                study = self.studies.get(values["study_id"])
                found = getattr(study, v.study) if study is not None else None
                row[var] = found if found is not None else v.missing
            elif v.flag is not None:
                held = v.flag.value in (value_at(values, v.flag.field) or [])
                applies = v.flag.only_if is None or bool(value_at(values, v.flag.only_if))
                row[var] = "Y" if held else "N" if applies else None
            elif v.derive == "domain":
                row[var] = name
            elif v.derive == "usubjid":
                row[var] = f"{values['study_id']}-{values['subject_id']}"
            elif v.derive == "arm_null_reason":
                study = self.studies.get(values["study_id"])
                row[var] = "NOT ASSIGNED" if study is None or study.arm_code is None else None
            elif v.derive in _SUBJECT_DATES:
                row[var] = getattr(dates, _SUBJECT_DATES[v.derive]) if dates is not None else None
            elif v.derive == "death_flag":
                row[var] = "Y" if dates is not None and dates.death_date else None
        return row

    def _findings_rows(self, spec: DomainSpec, record: Record, values: dict[str, Any],
                       base: Row) -> tuple[list[Row], list[str | None]]:
        flagged = False
        if spec.computed is not None and values.get(spec.computed) is None and record.key() in self.derived:
            values = {**values, spec.computed: self.derived[record.key()].model_dump()}
            flagged = True
        lat_var = spec.variable_with("lat")
        lat_codes = spec.variables[lat_var].codelist if lat_var else None
        rows, flags = [], []
        for path, test in spec.all_tests().items():
            value = value_at(values, path)
            if value is None and test.when_missing == "omit":
                continue
            result = split(None if value is None else str(value), spec.not_done_values, spec.result_flag is not None)
            orres = result.orres
            if orres is not None and test.codelist is not None:
                orres = self._coded(orres, test.codelist, record, f"{test.testcd} ({path})")
            derived = {"testcd": test.testcd, "test": test.test, "orres": orres,
                       "stresc": orres if result.stresc is not None else None,
                       "stresn": result.stresn, "stat": result.stat, "reasnd": result.reasnd, "loc": test.loc,
                       "derived_flag": "Y" if flagged else None,
                       "lat": self._coded(test.lat, lat_codes, record, "laterality") if test.lat else None}
            row = dict(base)
            for var, v in spec.variables.items():
                if v.derive in derived:
                    row[var] = derived[v.derive]
            rows.append(row)
            flags.append(result.flag)
        if spec.design_parameters and isinstance(record, Study):
            rows.extend(self._parameter_row(spec, base, item) for item in parameter_rows(record, self.facts,
                                                                                        self.mapping))
            flags.extend([None] * (len(rows) - len(flags)))
        return rows, flags

    def _parameter_row(self, spec: DomainSpec, base: Row, item: dict[str, Any]) -> Row:
        row = dict(base)
        for var, v in spec.variables.items():
            if v.derive in ("testcd", "test", "orres", "valcd", "vcdref", "vcdver"):
                row[var] = item.get(str(v.derive))
        return row

    def _late(self, name: str, spec: DomainSpec, row: Row, seq: int) -> None:
        for var, v in spec.variables.items():
            if v.derive == "seq":
                row[var] = seq
            elif v.derive == "group":
                row[var] = "-".join(as_text(row.get(k)) for k in spec.record_key if k not in ("STUDYID", "USUBJID"))
            elif v.derive == "visitnum":
                visit = row.get("VISIT")
                row[var] = self.mapping.visitnum(str(visit)) if visit is not None else None
                if visit is not None and row[var] is None and visit not in self.warned_visits:
                    self.warned_visits.add(str(visit))
                    self.issues.append(Issue.of(
                        "FB-SDTM-014", f"visit {visit!r} has no VISITNUM in the SDTM mapping; VISITNUM is left empty",
                        column=var, value=visit, expected=", ".join(self.mapping.trial_design.visits)))
            elif v.derive == "visitdy":
                planned = self.mapping.trial_design.visits.get(str(row.get("VISIT")))
                row[var] = planned.visitdy if planned is not None else None
            elif v.derive == "epoch":
                dates = self.subjects.get(_subject_key(row))
                date = spec.date_variable()
                row[var] = dates.epoch_at(as_text(row.get(date)) or None) if dates and date else None

    def _last_before_exposure(self, spec: DomainSpec, rows: list[Row]) -> None:
        """--LOBXFL: Y on the last result of each subject and test dated before the subject's first infusion."""
        flag = spec.variable_with("lobxfl")
        date = spec.date_variable()
        if flag is None or date is None:
            return
        orres = spec.variable_with("orres")
        ident = [v for v in (spec.variable_with("testcd"), spec.variable_with("loc"), spec.variable_with("lat")) if v]
        last: dict[tuple[Any, ...], Row] = {}
        for row in rows:
            dates = self.subjects.get(_subject_key(row))
            when = as_text(row.get(date))
            if dates is None or not dates.first_infusion or not when or (orres and row.get(orres) is None):
                continue
            if before(when, dates.first_infusion):
                key = (row.get("USUBJID"), *(row.get(v) for v in ident))
                if key not in last or not before(when, as_text(last[key].get(date))):
                    last[key] = row
        for row in last.values():
            row[flag] = "Y"

    def _supp(self, name: str, spec: DomainSpec, record: Record, values: dict[str, Any], row: Row) -> list[Row]:
        out = []
        for path, s in spec.supp.items():
            value = value_at(values, path)
            if value is None or value == []:
                continue
            out.append(self._qualifier(name, spec, s, row, self._coded(value, s.codelist, record,
                                                                       f"{s.qnam} ({path})")))
        return out

    def _qualifier(self, name: str, spec: DomainSpec, s: SuppSpec, row: Row, value: Value) -> Row:
        """A SUPP-- row qualifying ``row`` (by the qualifier's IDVAR, else the domain's, else the subject)."""
        idvar = s.idvar or (spec.seq_variable() if s is spec.result_flag else spec.supp_idvar)
        return {"STUDYID": row.get("STUDYID"), "RDOMAIN": name, "USUBJID": row.get("USUBJID"),
                "IDVAR": idvar, "IDVARVAL": as_text(row.get(idvar)) if idvar else None,
                "QNAM": s.qnam, "QLABEL": s.qlabel, "QVAL": value, "QORIG": "CRF", "QEVAL": None}

    def _value(self, value: Any, v: VariableSpec, record: Record, var: str) -> Value:
        if value is None or value == []:
            return None
        if v.codelist is not None:
            return self._coded(value, v.codelist, record, var)
        if v.type == "Num":
            try:
                value = number(str(value)) if not isinstance(value, int | float) else value
                return int(value) if isinstance(value, float) and value.is_integer() else value
            except ValueError:
                self._unwritable(record, var, value, "it is not a number")
                return None
        if var.endswith("DTC") and isinstance(value, str):
            local, shifted = to_local(value, self.mapping.timezone)
            if shifted and not self.shifted:
                self.shifted = True
                self.issues.append(Issue.of(
                    "FB-SDTM-026", f"{type(record).__name__} {'/'.join(record.key())}: {var} {value} is not at the "
                    f"study's UTC offset {self.mapping.timezone}; it is written as the study's local time {local} "
                    "(later times at another offset likewise, without a further issue)", column=var, value=value,
                    source=record.source))
            return local
        return as_text(value) if isinstance(value, float) else str(value)

    def _coded(self, value: Any, codelist: str | None, record: Record, where: str) -> str | None:
        if codelist is None:
            return as_text(value) if isinstance(value, float) else str(value)
        coded = self.mapping.codelists[codelist].submission(value)
        if coded is None:
            self._unwritable(record, where, value, f"codelist {codelist} has no submission value for it")
        return coded

    def _unwritable(self, record: Record, where: str, value: Any, why: str) -> None:
        self.issues.append(Issue.of("FB-SDTM-014", f"{type(record).__name__} {'/'.join(record.key())}: {where} "
                                    f"{value!r} is not written: {why}", column=where.split(" ")[0],
                                    value=str(value)))


def _dataset(name: str, label: str, variables: dict[str, VariableSpec], rows: list[Row]) -> Dataset:
    columns = [Column(name=var, label=v.label, type=v.type,
                      data_type=data_type(v.type, [r.get(var) for r in rows], var)) for var, v in variables.items()]
    return Dataset(name=name, label=label, columns=columns, rows=rows)


def _subject_key(row: Row) -> tuple[str, str]:
    study = as_text(row.get("STUDYID"))
    return study, as_text(row.get("USUBJID")).removeprefix(f"{study}-")


#: DM variables derived from the subject's dates: derivation → attribute of ``SubjectDates``.
_SUBJECT_DATES = {"first_infusion_start": "first_infusion", "last_infusion_end": "last_infusion_end",
                  "last_date": "last_date", "death_date": "death_date"}


def unmapped_fields(mapping: SdtmMapping, record: Record) -> list[str]:
    """Record fields holding a value (other than their default) that no variable, test or SUPP-- qualifier
    of the mapping writes."""
    mapped: set[str] = {"study_id"}
    for spec in mapping.domains.values():
        if spec.has_subjects() and type(record) is RECORD_TYPES[spec.record]:
            mapped.add("subject_id")
        for v in spec.variables.values():
            if v.study is not None and isinstance(record, Study):
                mapped.add(v.study)
        if type(record) is not RECORD_TYPES[spec.record] or spec.derived():
            continue
        mapped.update(v.field for v in spec.variables.values() if v.field)
        mapped.update(v.flag.field for v in spec.variables.values() if v.flag)
        mapped.update(spec.all_tests())
        mapped.update(spec.supp)
        mapped.update(spec.dictionary_versions.values())
    defaults = {name: f.default for name, f in type(record).model_fields.items()}
    return _unmapped(record.model_dump(), mapped, defaults)


def _unmapped(values: dict[str, Any], mapped: set[str], defaults: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if value in (None, []) or path in mapped or (not prefix and value == defaults.get(path)):
            continue
        if isinstance(value, dict) and any(m.startswith(f"{path}.") for m in mapped):
            out.extend(_unmapped(value, mapped, defaults, f"{path}."))
        else:
            out.append(path)
    return out


def to_datasets(data: StudyData, mapping: SdtmMapping, derived: Derived, issues: list[Issue],
                facts: StudyFacts | None = None, study_level: bool = True) -> list[Dataset]:
    """The datasets of every domain that has records, in the mapping's order, each followed by its SUPP--.

    ``facts`` gathers what TS derives from all subjects when the study is written a chunk at a time (the TS of
    a chunk then counts the subjects of every chunk so far); without ``study_level``, datasets without
    subjects (TS and the trial design) are left out.
    """
    for record in data.records():
        for path in unmapped_fields(mapping, record):
            issues.append(Issue.of("FB-SDTM-014", f"{type(record).__name__} {'/'.join(record.key())}: the SDTM "
                                   f"mapping has no variable for {path}; its value is not written",
                                   source=record.source, field=path))
    writer = _Writer(data, mapping, derived, issues, facts if facts is not None else StudyFacts())
    datasets = writer.datasets(study_level)
    _report_partial_meddra(data, mapping, issues)
    return datasets


def _report_partial_meddra(data: StudyData, mapping: SdtmMapping, issues: list[Issue]) -> None:
    """Once per conversion: adverse events coded to a preferred term without the rest of the MedDRA hierarchy
    (the export did not carry it; fhirbridge does not look it up)."""
    partial = [e for e in data.adverse_events if (e.meddra_code or e.meddra_term) and not (e.meddra_soc or
                                                                                          e.meddra_soc_code)]
    if partial and not any(i.code == "FB-SDTM-021" for i in issues):
        first = partial[0]
        issues.append(Issue.of("FB-SDTM-021", "adverse events are coded to a MedDRA preferred term without the other "
                               "levels of the hierarchy; AELLT, AEHLT, AEHLGT, AEBODSYS and AESOC (and their codes) "
                               "are left empty, not looked up (reported once, for the first such event)",
                               source=first.source, subject=f"{first.study_id}-{first.subject_id}",
                               record=first.ae_id))
