"""Drafting a layout spec from a REDCap data dictionary (``fhirbridge layout from-redcap``).

A REDCap records export is one file: ``record_id`` (the dictionary's first field), ``redcap_event_name`` in a
longitudinal project, ``redcap_repeat_instrument`` / ``redcap_repeat_instance`` for repeating instruments (adverse
events), a ``FORM_complete`` column per instrument, and each checkbox field as ``FIELD___CODE`` columns. Every
instrument whose fields make a record kind clear becomes a file spec reading that one file; choices become value
maps (their codes for a raw export and their labels for a label export); date validation types become date
formats; events become visits through the ``events`` value map. Whatever is not matched is written as comments.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhirbridge.layouts.draft import Draft, DraftFile, default_study
from fhirbridge.layouts.names import Match, Matcher, best_cell_scheme, normal
from fhirbridge.mapping.loader import MappingError

RECORDS_FILE = "*_DATA_*.csv"  # REDCap names its exports PROJECT_DATA_YYYY-MM-DD_HHMM.csv (…_DATA_LABELS_… too)
REDCAP_COLUMNS = ["redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
                  "redcap_data_access_group", "redcap_survey_identifier", "*_complete", "*_timestamp"]
_DATE_FORMATS = {"ymd": "%Y-%m-%d", "dmy": "%d-%m-%Y", "mdy": "%m-%d-%Y"}
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}
_IMPLIED_CHOICES = {"yesno": [("1", "Yes"), ("0", "No")], "truefalse": [("1", "True"), ("0", "False")]}
_ARM = re.compile(r"_arm_\d+[a-z]?$")


@dataclass
class Field:
    name: str
    form: str
    type: str
    label: str
    choices: list[tuple[str, str]]
    validation: str


def read_dictionary(path: Path) -> list[Field]:
    """The fields of a REDCap data dictionary (its standard columns, found by name)."""
    rows = _rows(path)
    wanted = {"variable_field_name": "name", "form_name": "form", "field_type": "type", "field_label": "label",
              "choices_calculations_or_slider_labels": "choices",
              "text_validation_type_or_show_slider_number": "validation"}
    if not rows or not {"variable_field_name", "form_name", "field_type"} <= {normal(h) for h in rows[0]}:
        raise MappingError(f"{path}: not a REDCap data dictionary (no 'Variable / Field Name', 'Form Name' and "
                          "'Field Type' columns)")
    fields = []
    for row in rows:
        cells = {wanted[normal(k)]: (v or "").strip() for k, v in row.items() if k and normal(k) in wanted}
        choices = [(c.partition(",")[0].strip(), c.partition(",")[2].strip())
                   for c in cells.get("choices", "").split("|") if c.strip()] if cells["type"] in (
            "radio", "dropdown", "checkbox") else _IMPLIED_CHOICES.get(cells["type"], [])
        fields.append(Field(cells["name"], cells["form"], cells["type"], re.sub(r"<[^>]+>", "", cells.get("label", "")),
                            choices, cells.get("validation", "")))
    return fields


def read_events(path: Path) -> dict[str, str]:
    """Event → visit, from REDCap's events export: the visit is the unique event name without its arm
    (``month6_arm_1`` → ``MONTH6``). A labels export names an event ``LABEL (Arm N: ARM NAME)``; the arm's name is
    the file's ``arm_name`` column where it has one, else REDCap's default ``Arm N``."""
    rows = _rows(path)
    if not rows or "unique_event_name" not in {normal(h) for h in rows[0]}:
        raise MappingError(f"{path}: not a REDCap events file (no 'unique_event_name' column)")
    events: dict[str, str] = {}
    for row in rows:
        cells = {normal(k): (v or "").strip() for k, v in row.items() if k}
        visit = _ARM.sub("", cells["unique_event_name"]).upper()
        events[cells["unique_event_name"]] = visit
        if label := cells.get("event_name"):
            arm = cells.get("arm_num", "1")
            events.setdefault(f"{label} (Arm {arm}: {cells.get('arm_name') or f'Arm {arm}'})", visit)
    return events


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise MappingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        text = path.read_bytes().decode("cp1252", errors="replace")
    return list(csv.DictReader(io.StringIO(text)))


def draft_from_redcap(dictionary: Path, events: Path | None = None, study_id: str | None = None,
                      timezone: str = "Z", matcher: Matcher | None = None) -> Draft:
    """A layout spec drafted from a REDCap data dictionary (and its events, for a longitudinal project)."""
    matcher = matcher or Matcher()
    fields = [f for f in read_dictionary(dictionary) if f.type != "descriptive"]
    if not fields:
        raise MappingError(f"{dictionary}: the data dictionary has no fields")
    event_visits = read_events(events) if events is not None else None
    record_id = fields[0].name
    draft = Draft(name=f"redcap-{normal(dictionary.stem).replace('_', '-')}",
                  description=f"drafted by fhirbridge layout from-redcap from {dictionary.name}", timezone=timezone,
                  ignore_columns=list(REDCAP_COLUMNS))
    draft.notes = [
        f"Drafted from the REDCap data dictionary {dictionary.name}. Check every line; fill in the commented ones.",
        "It reads a REDCap records export (CSV, raw or labels, with raw column names) as one file; each",
        "instrument matched to a kind of record reads its own columns of each row (rows that leave them blank",
        "hold no such record).",
    ]
    if timezone == "Z":
        draft.notes.append("timezone: REDCap times have no UTC offset; write the site's offset (e.g. +09:00).")
    forms: dict[str, list[Field]] = {}
    for field in fields[1:]:
        forms.setdefault(field.form, []).append(field)
    draft.files.append(default_study(matcher))
    validations: set[str] = set()
    for form, members in forms.items():
        kind = matcher.kind_of([(f.name, f.label) for f in members])
        if kind is None:
            draft.unplaced.append((f"instrument {form}", [(f.name, f"{f.type}: {f.label}") for f in members]))
            continue
        draft.files.append(_form_spec(form, kind, members, record_id, study_id, event_visits, draft, matcher,
                                      validations))
    draft.date_formats, draft.datetime_formats = _date_formats(validations, draft)
    if event_visits is not None:
        draft.value_maps["events"] = dict(event_visits)
        draft.map_notes["events"] = ["REDCap event (unique name, and label as a labels export writes it) → visit"]
    return draft


def _form_spec(form: str, kind: str, members: list[Field], record_id: str, study_id: str | None,
               event_visits: dict[str, str] | None, draft: Draft, matcher: Matcher, validations: set[str]
               ) -> DraftFile:
    spec = DraftFile(form, RECORDS_FILE, kind, notes=[f"instrument {form}"])
    subject = matcher.match("subject", "subject_id")
    assert subject is not None
    spec.take("subject_id", record_id, subject)
    if study_id:
        spec.constants["study_id"] = study_id
    else:
        spec.notes.append("FILL IN: constants: {study_id: YOUR-STUDY} (a REDCap export has no study id)")
    if "visit" in matcher.specs[kind].columns:
        visit = matcher.match(kind, "visit")
        assert visit is not None
        spec.take("visit", "redcap_event_name", visit, **({"values": "events"} if event_visits is not None else {}))
        if event_visits is None:
            spec.notes.append("the visit is the REDCap event name as exported; give --events to map events to visits")
    cells = best_cell_scheme([f.name for f in members]) if kind == "isncsci_exam" else None
    cell_paths = cells[1] if cells is not None else {}
    if cells is not None and set(cell_paths) <= {f.name for f in members}:
        spec.cells = cells[0]  # all 132 cells named by one scheme: the isncsci_cells block, else one by one
    for field in members:
        if spec.cells is not None and field.name in cell_paths:
            continue
        match = matcher.match(kind, field.name, field.label)
        if match is None and field.name in cell_paths:
            match = Match(cell_paths[field.name], matcher.specs[kind].columns[cell_paths[field.name]])
        if match is None or not _take(spec, match, field, draft, matcher):
            spec.unmatched.append((field.name, f"{field.type}: {field.label}"))
        elif match.spec.type in ("date", "datetime"):
            validations.add(field.validation)
    if kind == "subject" and "site_id" not in spec.columns:
        spec.notes.append("site_id: no field matched; a project with data access groups has them in the column "
                          "redcap_data_access_group (write site_id: redcap_data_access_group), else a constant")
    if kind == "adverse_event" and "ae_id" not in spec.columns:
        ae_id = matcher.match(kind, "ae_id")
        assert ae_id is not None
        spec.take("ae_id", "redcap_repeat_instance", ae_id)
        spec.notes.append("ae_id: the instance number of the repeating instrument")
    return spec


def _take(spec: DraftFile, match: Match, field: Field, draft: Draft, matcher: Matcher) -> bool:
    """Read ``field`` into the spec: its choices as a value map named after it, a checkbox as checkboxes."""
    extra: dict[str, Any] = {}
    if field.type == "checkbox":
        extra = {"type": "checkboxes", "values": field.name}
    elif field.choices and (match.spec.values or match.spec.type == "bool"):
        extra = {"values": field.name}
    if not spec.take(match.path, field.name, match, **extra):
        return False
    if "values" in extra:
        table, notes = _choice_map(field, match, matcher.layout.value_maps.get(match.spec.values or "", {}))
        draft.value_maps[field.name] = table
        if notes:
            draft.map_notes[field.name] = notes
    return True


def _choice_map(field: Field, match: Match, default: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Each choice's code (and label, but for checkboxes, whose columns carry codes) → fhirbridge's value, through
    the default layout's value map of the field (``default``)."""
    table: dict[str, Any] = {}
    notes = []
    for code, label in field.choices:
        value = next((v for v in (_choice_value(c, default, match.spec.type == "bool") for c in (code, label))
                      if v is not None), None)
        if value is None:
            expected = ", ".join(sorted({str(v) for v in default.values()})) if default else "a value"
            notes.append(f"FILL IN: {code}: ?   ({label}) no fhirbridge value matched; one of {expected}")
            continue
        table[code] = value
        if field.type != "checkbox" and label and normal(label) != normal(code):
            table.setdefault(label, value)
    return table, notes


def _choice_value(text: str, default: dict[str, Any], boolean: bool) -> Any:
    wanted = normal(text)
    for code, value in default.items():
        if normal(code) == wanted:
            return value
    for value in default.values():
        if isinstance(value, str) and normal(value) == wanted:
            return value
    if boolean:
        return True if wanted in _YES else False if wanted in _NO else None
    return None


def _date_formats(validations: set[str], draft: Draft) -> tuple[list[str], list[str]]:
    """REDCap exports dates as Y-M-D whatever the field's validation; a date_dmy or date_mdy field may also come
    day or month first (the export's date option), read as such unless both kinds of field are there."""
    orders = {v.split("_")[1] for v in validations if v.count("_") >= 1 and v.split("_")[1] in _DATE_FORMATS}
    seconds = any(v.startswith("datetime_seconds") for v in validations)
    if {"dmy", "mdy"} <= orders:
        draft.notes.append("date formats: both day-first and month-first fields; only Y-M-D dates are read")
        orders -= {"dmy", "mdy"}
    dates = [_DATE_FORMATS[o] for o in ("ymd", *sorted(orders - {"ymd"}))]
    times = [f"{d} %H:%M" for d in dates] + ([f"{d} %H:%M:%S" for d in dates] if seconds else [])
    return dates, times
