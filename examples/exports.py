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
their layouts and comparing with the default export tests fhirbridge's reader, not a copy of it. A re-run writes
the checked-in files byte for byte (``tests/test_site_exports.py`` holds it to that).

Usage: ``python examples/exports.py [FOLDER]`` (default: the folder of this script).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEYS = ("study_id", "subject_id", "visit")
VISITS = {"BASELINE": "v1", "DAY1": "v2", "MONTH6": "v3"}
EVENTS = {"BASELINE": ("Baseline", "baseline_arm_1"), "DAY1": ("Day 1", "day1_arm_1"),
          "MONTH6": ("Month 6", "month6_arm_1")}
AE_EVENT = "DAY1"  # the event whose repeating instrument holds the adverse events
RECORDS_NAME = "HONMOU2021_DATA_2024-05-01_1200.csv"
LABELS_NAME = "HONMOU2021_DATA_LABELS_2024-05-01_1200.csv"

Row = dict[str, str]


def read(folder: Path, name: str) -> list[Row]:
    with (folder / name).open(encoding="utf-8", newline="") as handle:
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
    assert not time or time[5:] == ":00+09:00", f"a time with seconds or another offset: {iso}"
    return f"{day}{sep}{month}{sep}{year}" + (f" {time[:5]}" if time else "")


def dated(record: Row, sep: str) -> Row:
    """A default-layout row with its dates written day first."""
    return {c: day_first(v, sep) if c in DATES else v for c, v in record.items()}


def ymd_minutes(iso: str) -> str:
    """REDCap's export form of a date-time: ``2013-07-31 10:45`` (the site's time, no offset)."""
    if "T" not in iso:
        return iso
    assert iso.endswith(":00+09:00"), iso
    return iso[:16].replace("T", " ")


def by_subject(rows: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for row in rows:
        out.setdefault(row["subject_id"], []).append(row)
    return out


class Source:
    """The default-layout files of the example study."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.subjects = read(folder, "subjects.csv")
        self.harvests = by_subject(read(folder, "harvest.csv"))
        self.infusions = by_subject(read(folder, "infusion.csv"))
        self.exams = by_subject(read(folder, "isncsci.csv"))
        self.scims = by_subject(read(folder, "scim.csv"))
        self.adverse_events = by_subject(read(folder, "adverse_events.csv"))
        self.exam_columns = [c for c in next(iter(self.exams.values()))[0] if c not in KEYS]
        self.scim_columns = [c for c in next(iter(self.scims.values()))[0] if c not in KEYS]

    def rewrite(self, name: str, target: Path, sep: str, delimiter: str) -> Path:
        """A default file in the site's conventions: dates day first, the site's delimiter."""
        rows = read(self.folder, name)
        (target / name).write_text(text(list(rows[0]), [dated(r, sep) for r in rows], delimiter),
                                   encoding="utf-8", newline="")
        return target / name

    def copy(self, name: str, target: Path) -> Path:
        path = target / name
        path.write_bytes((self.folder / name).read_bytes())
        return path


# wide --------------------------------------------------------------------------------------------------------

SUBJECT_COLUMNS = ("site_id", "subject_id", "sex", "birth_date", "age", "injury_date", "injury_level",
                   "enrolment_date")
DATES = {"birth_date", "injury_date", "enrolment_date", "exam_date", "assessment_date", "harvest_date", "start",
         "end", "onset_date", "resolution_date"}


def wide(source: Source, target: Path) -> list[Path]:
    header = [*SUBJECT_COLUMNS]
    header += [f"harvest_{c}" for c in ("harvest_id", "harvest_date", "status", "body_site", "volume_ml")]
    infusion_columns = [c for c in next(iter(source.infusions.values()))[0] if c not in ("study_id", "subject_id")]
    header += [f"infusion_{c}" for c in infusion_columns]
    for visit, token in VISITS.items():
        header += [f"{c}_{token}" for c in source.exam_columns]
        if visit != "DAY1":  # no SCIM-III one day after the infusion
            header += [f"{c}_{token}" for c in source.scim_columns]
    rows = []
    for subject in source.subjects:
        sid = subject["subject_id"]
        row = {c: v for c, v in dated(subject, "/").items() if c in SUBJECT_COLUMNS}
        (harvest,) = source.harvests[sid]
        row |= {f"harvest_{c}": v for c, v in dated(harvest, "/").items() if c not in ("study_id", "subject_id")}
        (infusion,) = source.infusions[sid]
        row |= {f"infusion_{c}": v for c, v in dated(infusion, "/").items() if c not in ("study_id", "subject_id")}
        for visit_rows in (source.exams[sid], source.scims[sid]):
            for record in visit_rows:
                row |= {f"{c}_{VISITS[record['visit']]}": v for c, v in dated(record, "/").items() if c not in KEYS}
        rows.append(row)
    target.mkdir(parents=True, exist_ok=True)
    (target / "wide.csv").write_text(text(header, rows), encoding="utf-8", newline="")
    return [target / "wide.csv", *(source.rewrite(name, target, "/", ",") for name in (
        "study.csv", "adverse_events.csv"))]


# long --------------------------------------------------------------------------------------------------------


def long(source: Source, target: Path) -> list[Path]:
    header = [*SUBJECT_COLUMNS, "visit", *source.exam_columns, *source.scim_columns]
    rows = []
    for subject in source.subjects:
        sid = subject["subject_id"]
        exams = {r["visit"]: r for r in source.exams[sid]}
        scims = {r["visit"]: r for r in source.scims[sid]}
        for visit in VISITS:
            if visit not in exams and visit not in scims:
                continue
            row = {c: v for c, v in dated(subject, ".").items() if c in SUBJECT_COLUMNS} | {"visit": visit}
            for record in (exams.get(visit, {}), scims.get(visit, {})):
                row |= {c: v for c, v in dated(record, ".").items() if c not in KEYS}
            rows.append({c: row.get(c, "") for c in header})
    target.mkdir(parents=True, exist_ok=True)
    (target / "visits.csv").write_text(text(header, rows, ";"), encoding="utf-8", newline="")
    return [target / "visits.csv", *(source.rewrite(name, target, ".", ";") for name in (
        "study.csv", "harvest.csv", "infusion.csv", "adverse_events.csv"))]


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
FORMS: dict[str, list[Field]] = {
    "demographics": [
        ("record_id", "subject_id", "text", "Record ID", None, ""),
        ("site_id", "site_id", "text", "Site", None, ""),
        ("sex", "sex", "radio", "Sex", SEX, ""),
        ("dob", "birth_date", "text", "Date of birth", None, "date_dmy"),
        ("age", "age", "text", "Age at enrolment (years)", None, "integer"),
        ("doi", "injury_date", "text", "Date of injury", None, "date_dmy"),
        ("injury_level", "injury_level", "text", "Neurological level of injury at admission", None, ""),
        ("enrolment_date", "enrolment_date", "text", "Date of enrolment", None, "date_dmy"),
        ("weight_kg", "", "text", "Body weight (kg)", None, "number"),
    ],
    "bone_marrow_harvest": [
        ("harvest_date", "harvest_date", "text", "Date and time of the aspiration", None, "datetime_dmy"),
        ("harvest_status", "status", "dropdown", "Status", STATUS, ""),
        ("harvest_body_site", "body_site", "text", "Body site", None, ""),
        ("harvest_volume_ml", "volume_ml", "text", "Volume aspirated (mL)", None, "number"),
    ],
    "msc_infusion": [
        ("infusion_start", "start", "text", "Infusion start", None, "datetime_dmy"),
        ("infusion_end", "end", "text", "Infusion end", None, "datetime_dmy"),
        ("infusion_status", "status", "dropdown", "Status", STATUS, ""),
        ("product", "product", "text", "Product", None, ""),
        ("lot", "lot", "text", "Lot number", None, ""),
        ("total_cells", "total_cells", "text", "Total cells infused", None, "number"),
        ("dose_cells_per_kg", "dose_cells_per_kg", "text", "Dose (cells/kg)", None, "number"),
        ("infusion_volume_ml", "volume_ml", "text", "Volume infused (mL)", None, "number"),
        ("infusion_route", "route", "dropdown", "Route", ROUTE, ""),
    ],
    "isncsci": [],  # filled from the default columns below
    "scim_iii": [],
    "adverse_events": [
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
    ],
}
# which event each form is filled in (the instrument-event designations of the project)
DESIGNATED = {"demographics": ("BASELINE",), "bone_marrow_harvest": ("BASELINE",), "msc_infusion": ("DAY1",),
              "isncsci": ("BASELINE", "DAY1", "MONTH6"), "scim_iii": ("BASELINE", "MONTH6"),
              "adverse_events": (AE_EVENT,)}


def _fill_assessment_forms(source: Source) -> None:
    exam = [("exam_date", "exam_date", "text", "Date of examination", None, "date_dmy"),
            ("examiner", "examiner", "text", "Examiner", None, ""),
            ("vac", "vac", "radio", "Voluntary anal contraction", ANAL, ""),
            ("dap", "dap", "radio", "Deep anal pressure", ANAL, "")]
    done = {f[0] for f in exam}
    exam += [(c, c, "text", c.replace("_", " ").upper(), None, "") for c in source.exam_columns if c not in done]
    FORMS["isncsci"] = exam
    scim = [("assessment_date", "assessment_date", "text", "Date of assessment", None, "date_dmy")]
    scim += [(c, c, "text", f"SCIM-III {c.removeprefix('scim_').replace('_', ' ')}", None, "integer")
             for c in source.scim_columns if c != "assessment_date"]
    FORMS["scim_iii"] = scim


def dictionary() -> str:
    rows = []
    for form, fields in FORMS.items():
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
    _, _, _, _, choices, validation = field
    if value and validation.startswith("datetime"):
        return ymd_minutes(value)
    if value and choices:
        (code, label) = next((c, t) for c, t, default in choices if default == value)
        return label if labels else code
    return value


def _checkboxes(field: Field, value: str, labels: bool) -> dict[str, str]:
    name, _, _, _, choices, _ = field
    chosen = set(value.split(";")) if value else set()
    return {f"{name}___{code.lower()}": ("Checked" if default in chosen else "Unchecked") if labels
            else ("1" if default in chosen else "0") for code, _, default in choices or []}


def _header() -> list[str]:
    header = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]
    for form, fields in FORMS.items():
        for field in fields:
            if field[0] == "record_id":
                continue
            header += list(_checkboxes(field, "", False)) if field[2] == "checkbox" else [field[0]]
        header.append(f"{form}_complete")
    return header


def _form_cells(form: str, record: Row, labels: bool) -> Row:
    cells: Row = {}
    for field in FORMS[form]:
        if field[0] == "record_id":
            continue
        value = record.get(field[1], "") if field[1] else ""
        if field[2] == "checkbox":
            cells |= _checkboxes(field, value, labels)
        else:
            cells[field[0]] = _value(field, value, labels)
    cells[f"{form}_complete"] = "Complete" if labels else "2"
    return cells


def records(source: Source, labels: bool) -> str:
    header = _header()
    rows: list[Row] = []
    for subject in source.subjects:
        sid = subject["subject_id"]
        per_event: dict[str, list[Row]] = {
            "demographics": [subject], "bone_marrow_harvest": source.harvests.get(sid, []),
            "msc_infusion": source.infusions.get(sid, []), "isncsci": source.exams.get(sid, []),
            "scim_iii": source.scims.get(sid, [])}
        for visit, (label, event) in EVENTS.items():
            row: Row = {"record_id": sid, "redcap_event_name": f"{label} (Arm 1: Arm 1)" if labels else event}
            for form, filled in per_event.items():
                mine = [r for r in filled if r.get("visit", DESIGNATED[form][0]) == visit]
                if mine and visit in DESIGNATED[form]:
                    row |= _form_cells(form, mine[0], labels)
            rows.append(row)
            if visit == AE_EVENT:
                for n, ae in enumerate(source.adverse_events.get(sid, []), start=1):
                    assert ae["ae_id"] == str(n), "REDCap numbers the instances of a repeating instrument 1, 2, …"
                    rows.append({"record_id": sid, "redcap_event_name": row["redcap_event_name"],
                                 "redcap_repeat_instrument": "Adverse Events" if labels else "adverse_events",
                                 "redcap_repeat_instance": str(n)} | _form_cells("adverse_events", ae, labels))
    return text(header, [{h: r.get(h, "") for h in header} for r in rows])


def redcap(source: Source, target: Path) -> list[Path]:
    _fill_assessment_forms(source)
    written = []
    for folder, name, content in (("project", "data_dictionary.csv", dictionary()), ("project", "events.csv", events()),
                                  ("raw", RECORDS_NAME, records(source, False)),
                                  ("labels", LABELS_NAME, records(source, True))):
        (target / folder).mkdir(parents=True, exist_ok=True)
        (target / folder / name).write_text(content, encoding="utf-8", newline="")
        written.append(target / folder / name)
    return [*written, source.copy("study.csv", target / "raw"), source.copy("study.csv", target / "labels")]


def generate(root: Path, default: Path = HERE / "honmou2021" / "csv") -> list[Path]:
    """Write the three shapes of the default export in ``default`` under ``root``; returns the files written."""
    source = Source(default)
    return wide(source, root / "wide") + long(source, root / "long") + redcap(source, root / "redcap")


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else HERE
    for path in generate(root):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
