"""Write the example study (``honmou2021/csv``) again in the shapes real sites export, from its default-layout files.

* ``wide/``: one row per subject in ``wide.csv`` (demographics, harvest, infusion, and the ISNCSCI exam and SCIM-III
  of every visit in columns named per visit: ``ais_v1``, ``ais_v2``; dates as 31/07/2013 and 31/07/2013 10:45),
  with the study and the adverse events in their default files.
* ``long/``: one row per subject and visit in ``visits.csv`` (``;``-separated, dates as 31.07.2013; the
  demographics repeated on every row, a visit column, the exam and the SCIM-III of the visit), with the study,
  harvests, infusions and adverse events in their default files.
* ``redcap/``: a REDCap project of the study: its data dictionary (``project/data_dictionary.csv``) and events
  (``project/events.csv``), and its records exported raw (``raw/``) and as labels (``labels/``), each with the
  study file (a REDCap export holds no study record).

The reshaping is plain text work on the default files (no fhirbridge code), so that reading these exports with
their layouts and comparing with the default export tests fhirbridge's reader, not a copy of it. The columns come
from the default files and the default layout (``mappings/csv-default.yaml``), never from a list here: a column
added to the default layout and the example flows into every shape, into the wide and long layouts (written here
from the default layout, their column names renamed as the shape names them) and into the REDCap project (as a
field named as the default column, typed from its spec). Only what a shape renames or leaves out is written here:
the REDCap fields named as a REDCap project names them (``dob``, ``ae_onset``), the harvest and infusion ids the
REDCap forms do not hold. A re-run writes the checked-in files byte for byte (``tests/test_site_exports.py`` holds
it to that); ``redcap/layout.yaml`` is drafted from the dictionary by ``fhirbridge layout from-redcap``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_LAYOUT = HERE.parent / "mappings" / "csv-default.yaml"
KEYS = ("study_id", "subject_id", "visit")
VISITS = {"BASELINE": "v1", "DAY1": "v2", "MONTH6": "v3"}
TIMEZONE = "+09:00"  # the example site's times, written without their offset by every shape
EVENTS = {"BASELINE": ("Baseline", "baseline_arm_1"), "DAY1": ("Day 1", "day1_arm_1"),
          "MONTH6": ("Month 6", "month6_arm_1")}
AE_EVENT = "DAY1"  # the event whose repeating instrument holds the adverse events
RECORDS_NAME = "HONMOU2021_DATA_2024-05-01_1200.csv"
LABELS_NAME = "HONMOU2021_DATA_LABELS_2024-05-01_1200.csv"

Row = dict[str, str]
Spec = dict[str, Any]  # a column of the default layout: {column, type, values, optional}


def read(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def text(header: list[str], rows: list[Row], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def day_first(iso: str, sep: str) -> str:
    """``2013-07-31`` → ``31/07/2013``; ``2013-07-31T10:45:00+09:00`` → ``31/07/2013 10:45`` (the site's time)."""
    if not iso:
        return iso
    date, _, time = iso.partition("T")
    year, month, day = date.split("-")
    assert not time or time[5:] == f":00{TIMEZONE}", f"a time with seconds or another offset: {iso}"
    return f"{day}{sep}{month}{sep}{year}" + (f" {time[:5]}" if time else "")


def ymd_minutes(iso: str) -> str:
    """REDCap's export form of a date-time: ``2013-07-31 10:45`` (the site's time, no offset)."""
    if "T" not in iso:
        return iso
    assert iso.endswith(f":00{TIMEZONE}"), iso
    return iso[:16].replace("T", " ")


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}


def q(value: Any) -> str:
    """A YAML scalar: plain when it reads back as the same text, else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    value = str(value)
    return value if _PLAIN.fullmatch(value) and value.casefold() not in _YAML_WORDS else json.dumps(value)


class Default:
    """The default layout (``mappings/csv-default.yaml``): its file specs, and its text, whose value maps the site
    layouts copy as written."""

    def __init__(self, path: Path) -> None:
        self.text = path.read_text(encoding="utf-8")
        layout = yaml.safe_load(self.text)
        self.files: dict[str, dict[str, Any]] = layout["files"]
        self.value_maps: dict[str, dict[Any, Any]] = layout["value_maps"]
        self.list_separator: str = layout["list_separator"]
        self.comments = _column_comments(self.text)

    def columns(self, name: str) -> dict[str, Spec]:
        """Field path → its column's spec, in file spec ``name`` (a bare column name made a spec)."""
        return {path: spec if isinstance(spec, dict) else {"column": spec}
                for path, spec in self.files[name]["columns"].items()}

    def by_column(self, name: str) -> dict[str, Spec]:
        return {spec["column"]: spec for spec in self.columns(name).values()}

    def value_maps_text(self) -> str:
        """The ``value_maps:`` block as the default layout writes it (comments and quoting kept)."""
        block = self.text.split("\nvalue_maps:\n", 1)[1].split("\nfiles:\n", 1)[0]
        return "value_maps:\n" + block.rstrip("\n")


_SPEC_LINE = re.compile(r"^  ([A-Za-z_][A-Za-z0-9_]*):\s*$")
_COLUMN_LINE = re.compile(r"^      ([^\s#:][^:]*):")


def _column_comments(layout: str) -> dict[tuple[str, str], tuple[list[str], str]]:
    """(file spec, field path) → the comment lines above the field's line in the default layout, and the comment
    after it (the site layouts keep them)."""
    comments: dict[tuple[str, str], tuple[list[str], str]] = {}
    spec, above = "", list[str]()
    for line in layout.split("\nfiles:\n", 1)[1].splitlines():
        if match := _SPEC_LINE.match(line):
            spec, above = match.group(1), []
        elif line.startswith("      # "):
            above.append(line.strip())
        elif match := _COLUMN_LINE.match(line):
            _, _, after = line.partition("  # ")
            comments[(spec, match.group(1))] = (above, f"  # {after}" if after else "")
            above = []
    return comments


class Source:
    """The default-layout files of the example study, by the default layout's file spec that reads each."""

    def __init__(self, folder: Path, layout: Default) -> None:
        self.folder = folder
        self.layout = layout
        self.names: dict[str, str] = {}
        self.rows: dict[str, list[Row]] = {}
        self.headers: dict[str, list[str]] = {}
        for name, spec in layout.files.items():
            found = sorted(folder.glob(spec["file"]))
            assert len(found) == 1, f"{folder}: {len(found)} files match {spec['file']!r} (file spec {name})"
            self.names[name] = found[0].name
            self.rows[name] = read(found[0])
            with found[0].open(encoding="utf-8", newline="") as handle:
                self.headers[name] = next(csv.reader(handle))
        (self.study_id,) = {row["study_id"] for row in self.rows["study"]}
        self.subjects = self.rows["subjects"]

    def of(self, name: str, subject: str) -> list[Row]:
        return [row for row in self.rows[name] if row["subject_id"] == subject]

    def site_row(self, name: str, record: Row, sep: str, list_separator: str) -> Row:
        """A default-layout row in a site's conventions: dates day first, lists with the site's separator."""
        specs = self.layout.by_column(name)
        kind = {c: specs[c].get("type", "str") if c in specs else "str" for c in record}
        return {c: day_first(v, sep) if kind[c] in ("date", "datetime") else
                list_separator.join(v.split(self.layout.list_separator)) if kind[c] == "list" and v else v
                for c, v in record.items()}

    def rewrite(self, name: str, target: Path, sep: str, delimiter: str, list_separator: str) -> Path:
        """A default file in the site's conventions, and with the site's delimiter."""
        rows = [self.site_row(name, r, sep, list_separator) for r in self.rows[name]]
        path = target / self.names[name]
        path.write_text(text(self.headers[name], rows, delimiter), encoding="utf-8", newline="")
        return path

    def copy(self, name: str, target: Path) -> Path:
        path = target / self.names[name]
        path.write_bytes((self.folder / self.names[name]).read_bytes())
        return path


# wide and long -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shared:
    """A file spec of the default layout whose records a shape writes into its one shared file: keys as they are,
    study_id left out (the layout gives it as a constant), the other columns named with a prefix, or, when the
    shape gives each visit its own columns, with the visit's token after them (``ais_v1``)."""

    prefix: str = ""
    visits: dict[str, str] | None = None  # visit → the token naming its columns

    def name(self, column: str, token: str) -> str | None:
        """The shared file's column of a default column (None: not written there)."""
        if column == "study_id" or (column == "visit" and self.visits):
            return None
        if column in KEYS:
            return column
        return f"{self.prefix}{column}_{token}" if self.visits else f"{self.prefix}{column}"

    def tokens(self) -> list[str]:
        return list(self.visits.values()) if self.visits else [""]


@dataclass(frozen=True)
class Shape:
    """A site's export: one shared file holding some kinds of record, the others in their default files, written
    with the site's delimiter, list separator and day-first dates."""

    name: str
    notes: tuple[str, ...]  # the opening comment of its layout
    description: str
    delimiter: str
    list_separator: str
    date_sep: str
    shared_file: str
    shared: dict[str, Shared]

    def date_formats(self) -> tuple[str, str]:
        date = self.date_sep.join(("%d", "%m", "%Y"))
        return date, f"{date} %H:%M"


WIDE = Shape("wide", (
    "A site exporting one row per subject (wide.csv): five file specs read that one file; the exam and the",
    "SCIM-III come once per visit, from the columns whose {visit} is v1, v2 or v3. See docs/site-layouts.md.",
    "Written by examples/exports.py from mappings/csv-default.yaml: edit that, not this."),
    "the example study as one row per subject (wide.csv), with the study and adverse events in their own files",
    ",", ";", "/", "wide.csv", {
        "subjects": Shared(), "harvests": Shared("harvest_"), "infusions": Shared("infusion_"),
        "isncsci": Shared(visits=VISITS),
        "scim": Shared(visits={"BASELINE": "v1", "MONTH6": "v3"})})  # no SCIM-III one day after the infusion
LONG = Shape("long", (
    "A site exporting one ;-separated row per subject and visit (visits.csv): subjects, exams and SCIM-III are",
    "three file specs reading that one file, the visit from its visit column. See docs/site-layouts.md.",
    "Written by examples/exports.py from mappings/csv-default.yaml: edit that, not this."),
    "the example study as one row per subject and visit (visits.csv), with the study, procedures and adverse events "
    "in their own files",
    ";", ",", ".", "visits.csv", {"subjects": Shared(), "isncsci": Shared(), "scim": Shared()})


def shared_header(shape: Shape, source: Source) -> list[str]:
    header: dict[str, None] = {}
    for name, shared in shape.shared.items():
        for token in shared.tokens():
            header |= {column: None for c in source.headers[name] if (column := shared.name(c, token))}
    return list(header)


def shared_rows(shape: Shape, source: Source) -> list[Row]:
    """One row per subject, or per subject and visit when a shared kind has a visit column (the subject's cells
    repeated on each)."""
    rows = []
    for subject in source.subjects:
        sid = subject["subject_id"]
        row: Row = {}
        per_visit: dict[str, Row] = {}
        for name, shared in shape.shared.items():
            for record in source.of(name, sid):
                cells = source.site_row(name, record, shape.date_sep, shape.list_separator)
                if shared.visits:
                    assert record["visit"] in shared.visits, f"{name}: visit {record['visit']} has no columns"
                    token = shared.visits[record["visit"]]
                elif "visit" in record:
                    assert record["visit"] in VISITS, f"{name}: visit {record['visit']} not in {list(VISITS)}"
                    row_of_visit = per_visit.setdefault(record["visit"], {})
                    row_of_visit |= {column: v for c, v in cells.items() if (column := shared.name(c, ""))}
                    continue
                else:
                    assert len(source.of(name, sid)) == 1, f"{name}: one record per subject in a shared row"
                    token = ""
                row |= {column: v for c, v in cells.items() if (column := shared.name(c, token))}
        if any("visit" in source.headers[n] and not s.visits for n, s in shape.shared.items()):
            assert per_visit, f"subject {sid} has no visit, so no row"
            rows += [row | per_visit[visit] for visit in VISITS if visit in per_visit]
        else:
            rows.append(row)
    return rows


def layout(shape: Shape, source: Source) -> str:
    """The shape's layout: the default layout's, each shared file spec reading the shared file's columns."""
    date, time = shape.date_formats()
    out = [*(f"# {line}" for line in shape.notes), "spec: fhirbridge/csv-layout", 'version: "1.0"',
           f"name: {shape.name}-example", f"description: {shape.description}", f"delimiter: {q(shape.delimiter)}",
           'missing: [""]', f"list_separator: {q(shape.list_separator)}", f"date_formats: [{q(date)}]",
           f"datetime_formats: [{q(time)}]", f"timezone: {q(TIMEZONE)}", source.layout.value_maps_text(), "",
           "files:"]
    for name, spec in source.layout.files.items():
        unknown = set(spec) - {"file", "name", "record", "columns", "isncsci_cells"}
        assert not unknown, f"file spec {name}: exports.py does not write {sorted(unknown)} into a site layout"
        shared = shape.shared.get(name)
        pattern = shape.shared_file.replace(".csv", "*.csv") if shared else spec["file"]
        out += [f"  {name}:", f"    file: {q(pattern)}", f"    record: {spec['record']}"]
        if "name" in spec and not shared:  # the file name written, where it differs from the glob
            out.append(f"    name: {q(spec['name'])}")
        if shared:
            out.append(f"    constants: {{study_id: {q(source.study_id)}}}")
        if shared and shared.visits:
            out.append(f"    visits: {{{', '.join(f'{q(v)}: {q(t)}' for v, t in shared.visits.items())}}}")
        out.append("    columns:")
        for path, column in source.layout.columns(name).items():
            named = shared.name(column["column"], "{visit}") if shared else column["column"]
            if named is None:
                continue
            cells = {"column": named} | {k: v for k, v in column.items() if k != "column"}
            above, after = source.layout.comments.get((name, path), ([], ""))
            out += [f"      {line}" for line in above]
            out.append((f"      {path}: {q(named)}" if len(cells) == 1 else
                        f"      {path}: {{{', '.join(f'{k}: {q(v)}' for k, v in cells.items())}}}") + after)
        if "isncsci_cells" in spec:
            cells = dict(spec["isncsci_cells"])
            if shared:
                cells["template"] = shared.name(cells["template"], "{visit}")
            out.append("    isncsci_cells:")
            out += [f"      {k}: {{{', '.join(f'{q(a)}: {q(b)}' for a, b in v.items())}}}" if isinstance(v, dict)
                    else f"      {k}: {q(v)}" for k, v in cells.items()]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def site_export(shape: Shape, source: Source, target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    (target / shape.shared_file).write_text(text(shared_header(shape, source), shared_rows(shape, source),
                                                 shape.delimiter), encoding="utf-8", newline="")
    (target / "layout.yaml").write_text(layout(shape, source), encoding="utf-8", newline="")
    return [target / shape.shared_file, *(source.rewrite(name, target, shape.date_sep, shape.delimiter,
                                                         shape.list_separator)
                                          for name in source.layout.files if name not in shape.shared),
            target / "layout.yaml"]


# REDCap ------------------------------------------------------------------------------------------------------

DICTIONARY_HEADER = ["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
                     "Choices, Calculations, OR Slider Labels", "Field Note",
                     "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
                     "Identifier?", "Branching Logic (Show field only if...)", "Required Field?", "Custom Alignment",
                     "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?", "Field Annotation"]

SEX = [("1", "Male", "M"), ("2", "Female", "F"), ("3", "Other", "O"), ("4", "Unknown", "U")]
ANAL = [("Y", "Yes", "Y"), ("N", "No", "N"), ("NT", "Not testable", "NT")]
STATUS = [("completed", "Completed", "completed"), ("not-done", "Not done", "not-done"),
          ("stopped", "Stopped", "stopped")]
ROUTE = [("IV", "Intravenous", "IV")]
SEVERITY = [("1", "Mild", "MILD"), ("2", "Moderate", "MODERATE"), ("3", "Severe", "SEVERE")]
YES_NO = [("1", "Yes", "Y"), ("0", "No", "N")]
SERIOUS = [("1", "Death", "DEATH"), ("2", "Life threatening", "LIFE THREATENING"),
           ("3", "Hospitalization", "HOSPITALIZATION"), ("4", "Disability", "DISABILITY"),
           ("5", "Congenital anomaly", "CONGENITAL ANOMALY"), ("6", "Medically important", "MEDICALLY IMPORTANT")]
RELATIONSHIP = [("0", "Not related", "NOT RELATED"), ("1", "Unlikely related", "UNLIKELY RELATED"),
                ("2", "Possibly related", "POSSIBLY RELATED"), ("3", "Probably related", "PROBABLY RELATED"),
                ("4", "Related", "RELATED")]
OUTCOME = [("1", "Recovered/resolved", "RECOVERED/RESOLVED"), ("2", "Recovering/resolving", "RECOVERING/RESOLVING"),
           ("3", "Not recovered/not resolved", "NOT RECOVERED/NOT RESOLVED"),
           ("4", "Recovered/resolved with sequelae", "RECOVERED/RESOLVED WITH SEQUELAE"), ("5", "Fatal", "FATAL"),
           ("9", "Unknown", "UNKNOWN")]
ACTION = [("1", "Dose not changed", "DOSE NOT CHANGED"), ("2", "Drug withdrawn", "DRUG WITHDRAWN"),
          ("3", "Drug interrupted", "DRUG INTERRUPTED"), ("4", "Not applicable", "NOT APPLICABLE"),
          ("9", "Unknown", "UNKNOWN")]

# (REDCap field, default column, field type, label, choices, validation); choices are (code, label, default code)
Field = tuple[str, str, str, str, list[tuple[str, str, str]] | None, str]
# Each instrument: the default layout's file spec it holds, and the fields a REDCap project names its own way
# (which `fhirbridge layout from-redcap` must match through mappings/column-names.yaml); every other column of the
# default file follows as a field named as that column (see `fields_of`).
FORMS: dict[str, tuple[str, list[Field]]] = {
    "demographics": ("subjects", [
        ("record_id", "subject_id", "text", "Record ID", None, ""),
        ("site_id", "site_id", "text", "Site", None, ""),
        ("sex", "sex", "radio", "Sex", SEX, ""),
        ("dob", "birth_date", "text", "Date of birth", None, "date_dmy"),
        ("age", "age", "text", "Age at enrolment (years)", None, "integer"),
        ("doi", "injury_date", "text", "Date of injury", None, "date_dmy"),
        ("injury_level", "injury_level", "text", "Neurological level of injury at admission", None, ""),
        ("enrolment_date", "enrolment_date", "text", "Date of enrolment", None, "date_dmy"),
        ("weight_kg", "", "text", "Body weight (kg)", None, "number"),
    ]),
    "bone_marrow_harvest": ("harvests", [
        ("harvest_date", "harvest_date", "text", "Date and time of the aspiration", None, "datetime_dmy"),
        ("harvest_status", "status", "dropdown", "Status", STATUS, ""),
        ("harvest_body_site", "body_site", "text", "Body site", None, ""),
        ("harvest_volume_ml", "volume_ml", "text", "Volume aspirated (mL)", None, "number"),
    ]),
    "msc_infusion": ("infusions", [
        ("infusion_start", "start", "text", "Infusion start", None, "datetime_dmy"),
        ("infusion_end", "end", "text", "Infusion end", None, "datetime_dmy"),
        ("infusion_status", "status", "dropdown", "Status", STATUS, ""),
        ("product", "product", "text", "Product", None, ""),
        ("lot", "lot", "text", "Lot number", None, ""),
        ("total_cells", "total_cells", "text", "Total cells infused", None, "number"),
        ("dose_cells_per_kg", "dose_cells_per_kg", "text", "Dose (cells/kg)", None, "number"),
        ("infusion_volume_ml", "volume_ml", "text", "Volume infused (mL)", None, "number"),
        ("infusion_route", "route", "dropdown", "Route", ROUTE, ""),
    ]),
    "isncsci": ("isncsci", [
        ("exam_date", "exam_date", "text", "Date of examination", None, "date_dmy"),
        ("examiner", "examiner", "text", "Examiner", None, ""),
        ("vac", "vac", "radio", "Voluntary anal contraction", ANAL, ""),
        ("dap", "dap", "radio", "Deep anal pressure", ANAL, ""),
    ]),
    "scim_iii": ("scim", [
        ("assessment_date", "assessment_date", "text", "Date of assessment", None, "date_dmy"),
    ]),
    "adverse_events": ("adverse_events", [
        ("ae_term", "term", "text", "Adverse event (verbatim)", None, ""),
        ("meddra_pt_code", "meddra_pt_code", "text", "MedDRA PT code", None, ""),
        ("meddra_pt", "meddra_pt", "text", "MedDRA preferred term", None, ""),
        ("ae_onset", "onset_date", "text", "Onset date and time", None, "datetime_dmy"),
        ("ae_resolution", "resolution_date", "text", "Resolution date and time", None, "datetime_dmy"),
        ("ae_severity", "severity", "radio", "Severity", SEVERITY, ""),
        ("ae_serious", "serious", "yesno", "Serious?", YES_NO, ""),
        ("serious_criteria", "serious_criteria", "checkbox", "Seriousness criteria", SERIOUS, ""),
        ("ae_relationship", "relationship", "radio", "Relationship to the infusion", RELATIONSHIP, ""),
        ("ae_outcome", "outcome", "radio", "Outcome", OUTCOME, ""),
        ("ae_action_taken", "action_taken", "radio", "Action taken", ACTION, ""),
    ]),
}
# default columns no form holds: the keys (REDCap's record and event), the id of the one harvest and infusion of a
# subject, and the adverse event's (the instance of the repeating instrument)
NOT_IN_FORMS = {*KEYS, "harvest_id", "infusion_id", "ae_id"}
LABELS: dict[str, Callable[[str], str]] = {
    "isncsci": lambda column: column.replace("_", " ").upper(),
    "scim_iii": lambda column: f"SCIM-III {column.removeprefix('scim_').replace('_', ' ')}"}
VALIDATIONS = {"int": "integer", "float": "number", "date": "date_dmy", "datetime": "datetime_dmy"}
# which event each form is filled in (the instrument-event designations of the project)
DESIGNATED = {"demographics": ("BASELINE",), "bone_marrow_harvest": ("BASELINE",), "msc_infusion": ("DAY1",),
              "isncsci": ("BASELINE", "DAY1", "MONTH6"), "scim_iii": ("BASELINE", "MONTH6"),
              "adverse_events": (AE_EVENT,)}


def field_of(form: str, column: str, spec: Spec | None, layout: Default) -> Field:
    """A REDCap field named as the default column, typed as its spec: a value map becomes choices numbered in the
    map's order and labelled with its codes, a list of them checkboxes, a yes/no map a yesno field."""
    label = LABELS.get(form, lambda c: c.replace("_", " ").capitalize())(column)
    kind = (spec or {}).get("type", "str")
    values = layout.value_maps[spec["values"]] if spec and "values" in spec else None
    if values and kind == "bool":
        yes_no = [("1", "Yes", next(str(k) for k, v in values.items() if v is True)),
                  ("0", "No", next(str(k) for k, v in values.items() if v is False))]
        return column, column, "yesno", label, yes_no, ""
    if values:
        choices = [(str(n), str(code).capitalize(), str(code)) for n, code in enumerate(values, start=1)]
        return column, column, "checkbox" if kind == "list" else "dropdown", label, choices, ""
    return column, column, "text", label, None, VALIDATIONS.get(kind, "")


def fields_of(source: Source) -> dict[str, list[Field]]:
    """Each instrument's fields: those named here, then each other column of its default file."""
    forms = {}
    for form, (name, named) in FORMS.items():
        specs = source.layout.by_column(name)
        gone = [f[1] for f in named if f[1] and f[1] not in source.headers[name]]
        assert not gone, f"form {form}: {source.names[name]} has no column {gone}; rename its fields in FORMS"
        taken = {f[1] for f in named} | NOT_IN_FORMS
        forms[form] = named + [field_of(form, c, specs.get(c), source.layout) for c in source.headers[name]
                               if c not in taken]
    return forms


def dictionary(forms: dict[str, list[Field]]) -> str:
    rows = []
    for form, fields in forms.items():
        for name, _, kind, label, choices, validation in fields:
            rows.append({"Variable / Field Name": name, "Form Name": form, "Field Type": kind, "Field Label": label,
                         "Choices, Calculations, OR Slider Labels":
                             " | ".join(f"{code}, {text}" for code, text, _ in choices or [] if kind != "yesno"),
                         "Text Validation Type OR Show Slider Number": validation,
                         "Identifier?": "y" if name == "dob" else ""})
    return text(DICTIONARY_HEADER, [{h: r.get(h, "") for h in DICTIONARY_HEADER} for r in rows])


def events() -> str:
    return text(["event_name", "arm_num", "unique_event_name"],
                [{"event_name": label, "arm_num": "1", "unique_event_name": name} for label, name in EVENTS.values()])


def _value(field: Field, value: str, labels: bool) -> str:
    _, column, _, _, choices, validation = field
    if value and validation.startswith("datetime"):
        return ymd_minutes(value)
    if value and choices:
        chosen = [(c, t) for c, t, default in choices if default == value]
        assert chosen, f"{column}: {value!r} is none of the field's choices"
        (code, label), *_ = chosen
        return label if labels else code
    return value


def _checkboxes(field: Field, value: str, labels: bool) -> dict[str, str]:
    name, column, _, _, choices, _ = field
    chosen = set(value.split(";")) if value else set()
    assert chosen <= {default for _, _, default in choices or []}, f"{column}: {value!r} is not all choices"
    return {f"{name}___{code.lower()}": ("Checked" if default in chosen else "Unchecked") if labels
            else ("1" if default in chosen else "0") for code, _, default in choices or []}


def _header(forms: dict[str, list[Field]]) -> list[str]:
    header = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]
    for form, fields in forms.items():
        for field in fields:
            if field[0] == "record_id":
                continue
            header += list(_checkboxes(field, "", False)) if field[2] == "checkbox" else [field[0]]
        header.append(f"{form}_complete")
    return header


def _form_cells(form: str, fields: list[Field], record: Row, labels: bool) -> Row:
    cells: Row = {}
    for field in fields:
        if field[0] == "record_id":
            continue
        value = record.get(field[1], "") if field[1] else ""
        if field[2] == "checkbox":
            cells |= _checkboxes(field, value, labels)
        else:
            cells[field[0]] = _value(field, value, labels)
    cells[f"{form}_complete"] = "Complete" if labels else "2"
    return cells


def records(source: Source, forms: dict[str, list[Field]], labels: bool) -> str:
    header = _header(forms)
    rows: list[Row] = []
    for subject in source.subjects:
        sid = subject["subject_id"]
        per_form = {form: source.of(name, sid) for form, (name, _) in FORMS.items() if form != "adverse_events"}
        for visit, (label, event) in EVENTS.items():
            row: Row = {"record_id": sid, "redcap_event_name": f"{label} (Arm 1: Arm 1)" if labels else event}
            for form, filled in per_form.items():
                mine = [r for r in filled if r.get("visit", DESIGNATED[form][0]) == visit]
                if mine and visit in DESIGNATED[form]:
                    row |= _form_cells(form, forms[form], mine[0], labels)
            rows.append(row)
            if visit == AE_EVENT:
                for n, ae in enumerate(source.of("adverse_events", sid), start=1):
                    assert ae["ae_id"] == str(n), "REDCap numbers the instances of a repeating instrument 1, 2, …"
                    rows.append({"record_id": sid, "redcap_event_name": row["redcap_event_name"],
                                 "redcap_repeat_instrument": "Adverse Events" if labels else "adverse_events",
                                 "redcap_repeat_instance": str(n)}
                                | _form_cells("adverse_events", forms["adverse_events"], ae, labels))
    return text(header, [{h: r.get(h, "") for h in header} for r in rows])


def redcap(source: Source, target: Path) -> list[Path]:
    forms = fields_of(source)
    written = []
    for folder, name, content in (("project", "data_dictionary.csv", dictionary(forms)),
                                  ("project", "events.csv", events()),
                                  ("raw", RECORDS_NAME, records(source, forms, False)),
                                  ("labels", LABELS_NAME, records(source, forms, True))):
        (target / folder).mkdir(parents=True, exist_ok=True)
        (target / folder / name).write_text(content, encoding="utf-8", newline="")
        written.append(target / folder / name)
    return [*written, source.copy("study", target / "raw"), source.copy("study", target / "labels")]


def generate(root: Path, default: Path = HERE / "honmou2021" / "csv", layout_path: Path = DEFAULT_LAYOUT
             ) -> list[Path]:
    """Write the three shapes of the default export in ``default`` (read by the default layout ``layout_path``)
    under ``root``; returns the files written."""
    source = Source(default, Default(layout_path))
    return (site_export(WIDE, source, root / "wide") + site_export(LONG, source, root / "long")
            + redcap(source, root / "redcap"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="examples/exports.py", description="Write the example study as a wide export (wide/), a long export "
        "(long/) and a REDCap project (redcap/), from its default-layout CSV files.")
    parser.add_argument("folder", nargs="?", type=Path, default=HERE,
                        help="where to write wide/, long/ and redcap/ (default: %(default)s)")
    parser.add_argument("--default", type=Path, default=HERE / "honmou2021" / "csv",
                        help="the default-layout CSV files to reshape (default: %(default)s)")
    parser.add_argument("--layout", type=Path, default=DEFAULT_LAYOUT,
                        help="the default layout they follow (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in generate(args.folder, args.default, args.layout):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
