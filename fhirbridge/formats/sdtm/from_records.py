"""Hub records → SDTM datasets, driven by the SDTM mapping spec (the write direction).

The engine knows the two shapes of a domain: one row per record (DM, EX, PR, AE) and one row per value
(findings: TS, QS, NV, RS), plus SUPP-- for values without a standard variable. Everything else (names,
test codes, terminology, units, visits) comes from the mapping spec.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fhirbridge.formats.options import Derived
from fhirbridge.formats.sdtm.dataset import Column, Dataset, Row, Value, as_text, data_type, number
from fhirbridge.issues.issue import Issue
from fhirbridge.mapping.csv_layout import RECORD_TYPES
from fhirbridge.mapping.sdtm_mapping import DomainSpec, SdtmMapping, VariableSpec
from fhirbridge.records import Record, Study, StudyData
from fhirbridge.records.paths import value_at

#: Derivations filled after the record's own values (they read them: the group of a row reads its VISIT).
_LATE = ("seq", "group", "visitnum")


class _Writer:
    def __init__(self, data: StudyData, mapping: SdtmMapping, derived: Derived, issues: list[Issue]) -> None:
        self.data = data
        self.mapping = mapping
        self.derived = derived
        self.issues = issues
        self.studies: dict[str, Study] = {s.study_id: s for s in data.studies}
        self.first_infusion: dict[tuple[str, str], str] = {}
        for infusion in sorted(data.infusions, key=lambda i: i.start, reverse=True):
            self.first_infusion[(infusion.study_id, infusion.subject_id)] = infusion.start
        self.warned_visits: set[str] = set()

    def datasets(self) -> list[Dataset]:
        out = []
        for name, spec in self.mapping.domains.items():
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
            record_rows = [base] if spec.kind == "rows" else self._findings_rows(spec, record, values, base)
            for row in record_rows:
                owner = str(row.get("USUBJID") or row.get("STUDYID"))
                seq[owner] += 1
                self._late(name, spec, row, seq[owner])
                rows.append({v: row.get(v) for v in spec.variables})
            if record_rows:
                supp.extend(self._supp(name, spec, record, values, record_rows[0]))
        return rows, supp

    def _base_row(self, name: str, spec: DomainSpec, record: Record, values: dict[str, Any]) -> Row:
        row: Row = {}
        for var, v in spec.variables.items():
            if v.field is not None:
                row[var] = self._value(value_at(values, v.field), v, record, var)
            elif v.constant is not None:
                row[var] = None if v.when is not None and row.get(v.when) is None else v.constant
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
            elif v.derive == "first_infusion_start":
                row[var] = self.first_infusion.get((values["study_id"], values["subject_id"]))
        return row

    def _findings_rows(self, spec: DomainSpec, record: Record, values: dict[str, Any], base: Row) -> list[Row]:
        flagged = False
        if spec.computed is not None and values.get(spec.computed) is None and record.key() in self.derived:
            values = {**values, spec.computed: self.derived[record.key()].model_dump()}
            flagged = True
        lat_var = spec.variable_with("lat")
        lat_codes = spec.variables[lat_var].codelist if lat_var else None
        rows = []
        for path, test in spec.all_tests().items():
            value = value_at(values, path)
            if value is None and test.when_missing == "omit":
                continue
            text = None
            if value is not None:
                text = self._coded(value, test.codelist, record, f"{test.testcd} ({path})")
            result = {"testcd": test.testcd, "test": test.test, "orres": text, "stresc": text,
                      "stresn": _numeric(text), "stat": "NOT DONE" if value is None else None,
                      "loc": test.loc, "derived_flag": "Y" if flagged else None,
                      "lat": self._coded(test.lat, lat_codes, record, "laterality") if test.lat else None}
            row = dict(base)
            for var, v in spec.variables.items():
                if v.derive in result:
                    row[var] = result[v.derive]
            rows.append(row)
        return rows

    def _late(self, name: str, spec: DomainSpec, row: Row, seq: int) -> None:
        for var, v in spec.variables.items():
            if v.derive == "seq":
                row[var] = seq
            elif v.derive == "group":
                row[var] = "-".join(as_text(row.get(k)) for k in spec.record_key if k not in ("STUDYID", "USUBJID"))
            elif v.derive == "visitnum":
                visit = row.get("VISIT")
                row[var] = self.mapping.visits.get(str(visit)) if visit is not None else None
                if visit is not None and row[var] is None and visit not in self.warned_visits:
                    self.warned_visits.add(str(visit))
                    self.issues.append(Issue.of(
                        "FB-SDTM-014", f"visit {visit!r} has no VISITNUM in the SDTM mapping; VISITNUM is left empty",
                        column=var, value=visit, expected=", ".join(self.mapping.visits)))

    def _supp(self, name: str, spec: DomainSpec, record: Record, values: dict[str, Any], row: Row) -> list[Row]:
        out = []
        for path, s in spec.supp.items():
            value = value_at(values, path)
            if value is None or value == []:
                continue
            out.append({
                "STUDYID": values["study_id"], "RDOMAIN": name, "USUBJID": row.get("USUBJID"),
                "IDVAR": spec.supp_idvar, "IDVARVAL": as_text(row.get(spec.supp_idvar)) if spec.supp_idvar else None,
                "QNAM": s.qnam, "QLABEL": s.qlabel,
                "QVAL": self._coded(value, s.codelist, record, f"{s.qnam} ({path})"),
                "QORIG": "CRF", "QEVAL": None,
            })
        return out

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


def _numeric(text: str | None) -> int | None:
    """The number of a whole-number result; ``isdecimal`` because ``isdigit`` also accepts ``²``, which ``int``
    refuses."""
    return int(text) if text is not None and text.isdecimal() else None


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
        if type(record) is not RECORD_TYPES[spec.record]:
            continue
        mapped.update(v.field for v in spec.variables.values() if v.field)
        mapped.update(v.flag.field for v in spec.variables.values() if v.flag)
        mapped.update(spec.all_tests())
        mapped.update(spec.supp)
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


def to_datasets(data: StudyData, mapping: SdtmMapping, derived: Derived, issues: list[Issue]) -> list[Dataset]:
    """The datasets of every domain that has records, in the mapping's order, each followed by its SUPP--."""
    for record in data.records():
        for path in unmapped_fields(mapping, record):
            issues.append(Issue.of("FB-SDTM-014", f"{type(record).__name__} {'/'.join(record.key())}: the SDTM "
                                   f"mapping has no variable for {path}; its value is not written",
                                   source=record.source, field=path))
    return _Writer(data, mapping, derived, issues).datasets()
