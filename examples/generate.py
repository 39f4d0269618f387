"""Write the example study: SYNTHETIC data re-created after the published design of Honmou et al. 2021.

Honmou O, et al. Intravenous infusion of auto serum-expanded autologous mesenchymal stem cells in spinal cord
injury patients: 13 case series. Clin Neurol Neurosurg 2021; registry JMA-IIA00154. Thirteen subjects with a
spinal cord injury received one intravenous infusion of their own bone-marrow mesenchymal stem cells (MSC).
Nothing here is patient data: demographics, dates, exam values and scores are invented, and only the design
(visits, procedures, kinds of adverse event) and the published AIS shifts at six months are followed.

Writes, in the default CSV layout (``mappings/csv-default.yaml``):

* ``honmou2021/csv/``: the clean export of all 13 subjects, whose ISNCSCI classifications are those the
  classification engine computes from the raw exams (and the script checks that each raw exam yields the
  intended AIS grade);
* ``messy/``: an export of five subjects spoiled on purpose, with a README listing every fault and the issue
  fhirbridge reports for it.

The output depends on nothing but this file and fhirbridge: the random generator is seeded and no clock is read,
so a re-run reproduces the checked-in files byte for byte (``tests/test_examples.py`` holds it to that).

Usage: ``python examples/generate.py [FOLDER]`` (default: the folder of this script).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fhirbridge.domains.isncsci.classification import classify
from fhirbridge.domains.isncsci.structure import (
    DERMATOMES,
    LEVEL_INDEX,
    MODALITIES,
    MYOTOMES,
    SIDES,
    Side,
)
from fhirbridge.domains.scim import INSTRUMENT, ITEMS, SUBSCALES, SUBSCORES, subscale_sums, subscore_sums
from fhirbridge.issues.registry import RULES
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.records import IsncsciClassification, IsncsciExam, IsncsciSide

SEED = 2021
STUDY_ID = "HONMOU2021"
SITE_ID = "01"
TZ = "+09:00"  # the site's UTC offset (Japan), written into every date-time
VISITS = ("BASELINE", "DAY1", "MONTH6")
# MedDRA is licensed: the example is coded to preferred terms only, as many exports are, and ships no other level
MEDDRA_VERSION = "27.0"
MEDDRA_COLUMNS = ("meddra_version", "meddra_llt_code", "meddra_llt", "meddra_pt_code", "meddra_pt",
                  "meddra_hlt_code", "meddra_hlt", "meddra_hlgt_code", "meddra_hlgt", "meddra_soc_code", "meddra_soc")

STUDY = {
    "study_id": STUDY_ID,
    "title": "Intravenous infusion of auto-serum-expanded autologous bone marrow mesenchymal stem cells in "
    "spinal cord injury (SYNTHETIC example data after Honmou et al. 2021)",
    "registry_id": "JMA-IIA00154",
    "sponsor": "",
    "country": "JPN",
    "arm_code": "MSC",
    "arm": "Single intravenous infusion of autologous bone marrow mesenchymal stem cells expanded in the "
    "subject's own serum",
}


@dataclass(frozen=True)
class Plan:
    """One subject as designed: who, which injury, and the AIS grade at each visit."""

    subject_id: str
    sex: str
    injury_level: str
    injury_date: str
    grades: tuple[str, str, str]  # BASELINE, DAY1, MONTH6
    weight_kg: int


# The published shifts at six months: of 6 AIS A, 3 -> B, 2 -> C, 1 stays A; of 2 AIS B, 1 -> C, 1 -> D; all
# 5 AIS C -> D, already one day after the infusion.
PLANS = (
    Plan("001", "M", "C5", "2013-06-14", ("A", "A", "B"), 64),
    Plan("002", "M", "C6", "2013-11-02", ("A", "A", "C"), 71),
    Plan("003", "M", "C4", "2014-04-19", ("A", "A", "B"), 58),
    Plan("004", "M", "T8", "2014-09-07", ("A", "A", "A"), 76),
    Plan("005", "F", "C7", "2015-02-23", ("A", "A", "C"), 52),
    Plan("006", "M", "T4", "2015-08-30", ("A", "A", "B"), 68),
    Plan("007", "M", "C6", "2016-01-16", ("B", "B", "C"), 62),
    Plan("008", "M", "T11", "2016-06-05", ("B", "B", "D"), 80),
    Plan("009", "M", "C4", "2016-12-11", ("C", "D", "D"), 66),
    Plan("010", "M", "C5", "2017-05-28", ("C", "D", "D"), 59),
    Plan("011", "F", "C6", "2017-10-21", ("C", "D", "D"), 49),
    Plan("012", "M", "C4", "2018-03-09", ("C", "D", "D"), 73),
    Plan("013", "M", "C7", "2018-07-09", ("C", "D", "D"), 67),
)

#: How much function is preserved below the injury at each visit (0 none … 1 full), by AIS trajectory.
STRENGTH = {
    ("A", "A", "A"): (0.0, 0.0, 0.1),
    ("A", "A", "B"): (0.0, 0.0, 0.2),
    ("A", "A", "C"): (0.0, 0.0, 0.35),
    ("B", "B", "C"): (0.2, 0.22, 0.4),
    ("B", "B", "D"): (0.25, 0.27, 0.6),
    ("C", "D", "D"): (0.35, 0.5, 0.7),
}

#: SCIM-III function level before the infusion and the gain at six months, by AIS trajectory.
SCIM_COURSE = {
    ("A", "A", "A"): (0.12, 0.08),
    ("A", "A", "B"): (0.12, 0.15),
    ("A", "A", "C"): (0.12, 0.25),
    ("B", "B", "C"): (0.18, 0.30),
    ("B", "B", "D"): (0.18, 0.45),
    ("C", "D", "D"): (0.25, 0.50),
}

FEVER = ("Low-grade fever", "10037660", "Pyrexia")
HEADACHE = ("Headache", "10019211", "Headache")
NAUSEA = ("Nausea", "10028813", "Nausea")

#: How the cell product was made from the harvested marrow (Honmou et al.: expanded in the subject's own serum).
PROCESSING = "Culture expansion of bone marrow MSC in autologous serum"

#: Adverse events: subject, (verbatim term, MedDRA PT code, PT), hours after the end of the infusion, duration
#: in hours, severity, relationship to the infusion (the procedure the investigator judged it against).
ADVERSE_EVENTS = (
    ("001", FEVER, 6, 20, "MILD", "POSSIBLY RELATED"),
    ("003", HEADACHE, 3, 5, "MILD", "UNLIKELY RELATED"),
    ("004", FEVER, 8, 30, "MILD", "POSSIBLY RELATED"),
    ("007", NAUSEA, 2, 4, "MILD", "POSSIBLY RELATED"),
    ("009", FEVER, 5, 18, "MILD", "POSSIBLY RELATED"),
    ("009", HEADACHE, 30, 6, "MILD", "NOT RELATED"),
    ("011", NAUSEA, 26, 10, "MODERATE", "UNLIKELY RELATED"),
    ("013", FEVER, 7, 24, "MILD", "POSSIBLY RELATED"),
)

# --------------------------------------------------------------------------------------------------------------
# Columns of the default layout, in the order the files are written
# --------------------------------------------------------------------------------------------------------------

#: Classification column → field of IsncsciClassification.
CLASSIFICATION_COLUMNS = {
    "ais": "asia_impairment_scale",
    "complete_incomplete": "injury_complete",
    "nli": "neurological_level_of_injury",
    "r_sensory_level": "right_sensory",
    "l_sensory_level": "left_sensory",
    "r_motor_level": "right_motor",
    "l_motor_level": "left_motor",
    "uems": "upper_motor_total",
    "lems": "lower_motor_total",
    "r_motor_total": "right_motor_total",
    "l_motor_total": "left_motor_total",
    "lt_total": "touch_total",
    "pp_total": "prick_total",
    "r_sensory_zpp": "right_sensory_zpp",
    "l_sensory_zpp": "left_sensory_zpp",
    "r_motor_zpp": "right_motor_zpp",
    "l_motor_zpp": "left_motor_zpp",
}
SIDE_PREFIX = {"right": "r", "left": "l"}
MODALITY_SUFFIX = {"motor": "motor", "light_touch": "lt", "pin_prick": "pp"}
SCIM_COLUMNS = {
    "1": "scim_01_feeding",
    "2A": "scim_02a_bathing_upper",
    "2B": "scim_02b_bathing_lower",
    "3A": "scim_03a_dressing_upper",
    "3B": "scim_03b_dressing_lower",
    "4": "scim_04_grooming",
    "5": "scim_05_respiration",
    "6": "scim_06_bladder",
    "7": "scim_07_bowel",
    "8": "scim_08_toilet",
    "9": "scim_09_bed_mobility",
    "10": "scim_10_transfer_bed_wheelchair",
    "11": "scim_11_transfer_wheelchair_toilet",
    "12": "scim_12_mobility_indoors",
    "13": "scim_13_mobility_moderate",
    "14": "scim_14_mobility_outdoors",
    "15": "scim_15_stairs",
    "16": "scim_16_transfer_wheelchair_car",
    "17": "scim_17_transfer_ground_wheelchair",
}
SCIM_SUBSCALE_COLUMNS = {
    "self_care": "scim_self_care",
    "respiration_sphincter": "scim_respiration_sphincter",
    "mobility": "scim_mobility",
}


def cell_column(side: Side, modality: str, level: str) -> str:
    return f"{SIDE_PREFIX[side]}_{level.lower().replace('-', '')}_{MODALITY_SUFFIX[modality]}"


def _cell_columns() -> list[str]:
    return [
        cell_column(side, modality, level)
        for side in SIDES
        for modality in MODALITIES
        for level in (MYOTOMES if modality == "motor" else DERMATOMES)
    ]


FILES: dict[str, tuple[str, list[str]]] = {
    # layout entry: (file name, columns)
    "study": ("study.csv", list(STUDY)),
    "subjects": ("subjects.csv", ["study_id", "site_id", "subject_id", "sex", "birth_date", "age", "injury_date",
                                  "injury_level", "enrolment_date"]),
    "harvests": ("harvest.csv", ["study_id", "subject_id", "harvest_id", "harvest_date", "status", "body_site",
                                 "volume_ml"]),
    "infusions": ("infusion.csv", ["study_id", "subject_id", "infusion_id", "start", "end", "status", "product",
                                   "lot", "total_cells", "dose_cells_per_kg", "volume_ml", "route",
                                   "source_harvest_id", "processing"]),
    "isncsci": ("isncsci.csv", ["study_id", "subject_id", "visit", "exam_date", "examiner", "vac", "dap",
                                "r_lowest_non_key_muscle", "l_lowest_non_key_muscle", "non_sci_condition",
                                *CLASSIFICATION_COLUMNS,
                                *_cell_columns()]),
    "scim": ("scim.csv", ["study_id", "subject_id", "visit", "assessment_date", *SCIM_COLUMNS.values(),
                          *SCIM_SUBSCALE_COLUMNS.values(), "scim_total", *(f"scim_{k}" for k in SUBSCORES),
                          "instrument"]),
    "adverse_events": ("adverse_events.csv", ["study_id", "subject_id", "ae_id", "term", *MEDDRA_COLUMNS,
                                              "onset_date", "resolution_date", "severity", "serious",
                                              "serious_criteria", "relationship", "related_procedure", "outcome",
                                              "action_taken"]),
}


def check_columns_against_layout() -> None:
    """Every file has exactly the columns the default layout reads: no missing and no extra column."""
    layout = load_csv_layout()
    for name, (_, columns) in FILES.items():
        wanted = {c.column for c in layout.files[name].columns.values()}
        if set(columns) != wanted or len(columns) != len(set(columns)):
            raise SystemExit(f"{name}: columns differ from the default layout: missing "
                             f"{sorted(wanted - set(columns))}, extra {sorted(set(columns) - wanted)}")


# --------------------------------------------------------------------------------------------------------------
# ISNCSCI exams built to yield an intended AIS grade
# --------------------------------------------------------------------------------------------------------------

_S45 = LEVEL_INDEX["S4-5"]


@dataclass
class ExamProfile:
    """What stays the same for one subject from visit to visit, so that the exams change plausibly.

    ``sensory``/``motor`` hold a fixed random propensity per cell: a lower value recovers earlier.
    """

    nli: int
    left_offset: int  # the left sensory level is this many levels below the NLI
    zpp_depth: dict[str, int]  # partially preserved dermatomes below the sensory level in a complete injury
    dap_in_b: bool
    sensory: dict[tuple[str, str, str], float]
    motor: dict[tuple[str, str], float]


def exam_profile(plan: Plan, rng: random.Random) -> ExamProfile:
    return ExamProfile(
        nli=LEVEL_INDEX[plan.injury_level],
        left_offset=rng.choice((0, 0, 1)),
        zpp_depth={side: rng.randint(1, 3) for side in SIDES},
        dap_in_b=rng.random() < 0.5,
        sensory={(side, modality, level): rng.random()
                 for side in SIDES for modality in ("light_touch", "pin_prick") for level in DERMATOMES},
        motor={(side, level): rng.random() for side in SIDES for level in MYOTOMES},
    )


def _sensory(profile: ExamProfile, side: Side, modality: str, grade: str, strength: float) -> dict[str, str]:
    level_of_side = profile.nli + (profile.left_offset if side == "left" else 0)
    cells: dict[str, str] = {}
    for level in DERMATOMES:
        i = LEVEL_INDEX[level]
        u = profile.sensory[side, modality, level]
        if i <= level_of_side:
            value = 2
        elif grade == "A":
            within_zpp = i <= level_of_side + profile.zpp_depth[side] + (strength > 0) and i != _S45
            value = 1 if within_zpp and (modality == "light_touch" or u < 0.6) else 0
        elif i == _S45:
            spared = {"B": 1 if modality == "light_touch" or u < 0.5 else 0, "C": 1}.get(grade)
            value = spared if spared is not None else 2 if u < strength - 0.2 else 1
        else:
            value = 2 if u < strength * 0.7 - 0.15 else 1 if u < strength + 0.15 else 0
            if i == level_of_side + 1:
                value = min(value, 1)  # the first dermatome below the sensory level is abnormal
        cells[level] = str(value)
    return cells


def _motor(profile: ExamProfile, grade: str, strength: float) -> dict[Side, dict[str, str]]:
    """Key muscles: normal above the NLI, 4 at it, and below it as many at grade 3 or more as the AIS wants."""
    nli = profile.nli
    cells: dict[Side, dict[str, str]] = {side: {} for side in SIDES}
    below = [(side, m) for side in SIDES for m in MYOTOMES if LEVEL_INDEX[m] > nli]
    first_below = next((m for m in MYOTOMES if LEVEL_INDEX[m] > nli), None)
    strong: set[tuple[Side, str]] = set()
    if grade in ("C", "D"):
        half = math.ceil(len(below) / 2)  # AIS D: at least half of the key muscles below the NLI at grade >= 3
        count = (min(half - 1, max(1, round(len(below) * strength * 0.7))) if grade == "C"
                 else max(half, min(len(below), round(len(below) * strength))))
        strong = set(sorted(below, key=lambda k: profile.motor[k])[:count])
    for side in SIDES:
        for m in MYOTOMES:
            u = profile.motor[side, m]
            i = LEVEL_INDEX[m]
            if i < nli:
                value = 5
            elif i == nli:
                value = 4
            elif grade in ("A", "B"):
                # a flicker just below the injury at most: nothing more than three levels below the motor level
                value = 1 if m == first_below and i - nli <= 2 and u < 0.5 else 0
            elif (side, m) in strong:
                value = 3 + (u < strength) + (u < strength - 0.3)
            else:
                value = 2 if u < strength * 0.8 else 1 if u < strength * 1.5 else 0
            cells[side][m] = str(value)
    return cells


def build_exam(plan: Plan, profile: ExamProfile, visit: str, exam_date: str, examiner: str) -> IsncsciExam:
    index = VISITS.index(visit)
    grade = plan.grades[index]
    strength = STRENGTH[plan.grades][index]
    motor = _motor(profile, grade, strength)
    sides = {
        side: IsncsciSide(
            motor=motor[side],
            light_touch=_sensory(profile, side, "light_touch", grade, strength),
            pin_prick=_sensory(profile, side, "pin_prick", grade, strength),
        )
        for side in SIDES
    }
    incomplete_motor = grade in ("C", "D")
    exam = IsncsciExam(
        study_id=STUDY_ID, subject_id=plan.subject_id, visit=visit, exam_date=exam_date, examiner=examiner,
        right=sides["right"], left=sides["left"],
        vac="Yes" if incomplete_motor else "No",
        dap="Yes" if incomplete_motor or (grade == "B" and profile.dap_in_b) else "No",
    )
    computed = classify(exam).asia_impairment_scale
    if computed != grade:
        raise AssertionError(f"subject {plan.subject_id} {visit}: exam built for AIS {grade} classifies as "
                             f"{computed}")
    return exam


def exam_row(exam: IsncsciExam, classification: IsncsciClassification) -> dict[str, str]:
    row = {
        "study_id": exam.study_id, "subject_id": exam.subject_id, "visit": exam.visit,
        "exam_date": exam.exam_date or "", "examiner": exam.examiner or "",
        "vac": exam.vac[0], "dap": exam.dap[0], "r_lowest_non_key_muscle": "", "l_lowest_non_key_muscle": "",
        "non_sci_condition": exam.non_sci_condition or "",
    }
    values = classification.model_dump()
    row.update({column: values[field] for column, field in CLASSIFICATION_COLUMNS.items()})
    for side in SIDES:
        for modality in MODALITIES:
            for level in MYOTOMES if modality == "motor" else DERMATOMES:
                row[cell_column(side, modality, level)] = exam.cell(side, modality, level)
    return row


# --------------------------------------------------------------------------------------------------------------
# SCIM-III
# --------------------------------------------------------------------------------------------------------------

_SELF_CARE = ("1", "2A", "2B", "3A", "3B", "4")
_SPHINCTER = ("6", "7", "8")
_TRANSFERS = ("9", "10", "11", "16", "17")
_WALKING = ("12", "13", "14", "15")


def scim_items(plan: Plan, function: float, noise: dict[str, float]) -> dict[str, int]:
    """Item scores for a function level; the injury level decides which items lag or lead."""
    thoracic = plan.injury_level.startswith("T")
    high_cervical = plan.injury_level in ("C3", "C4")
    items = {}
    for key, item in ITEMS.items():
        if key in _SELF_CARE:
            x = function + (0.35 if thoracic else -0.05 if high_cervical else 0.0)
        elif key == "5":
            x = 1.0 if thoracic else function + (0.45 if high_cervical else 0.6)
        elif key in _SPHINCTER:
            x = function - 0.05
        elif key in _TRANSFERS:
            x = function + (0.15 if thoracic else 0.0)
        else:
            assert key in _WALKING
            x = function - 0.1
        x = min(1.0, max(0.0, x + noise[key]))
        items[key] = item.allowed[round(x * (len(item.allowed) - 1))]
    return items


def scim_row(plan: Plan, visit: str, date: str, items: dict[str, int]) -> dict[str, str]:
    sums = subscale_sums(dict(items))
    row = {"study_id": STUDY_ID, "subject_id": plan.subject_id, "visit": visit, "assessment_date": date}
    row.update({SCIM_COLUMNS[key]: str(score) for key, score in items.items()})
    row.update({SCIM_SUBSCALE_COLUMNS[key]: str(sums[key]) for key in SUBSCALES})
    row["scim_total"] = str(sum(s for s in sums.values() if s is not None))
    row.update({f"scim_{key}": str(score) for key, score in subscore_sums(dict(items)).items()})
    row["instrument"] = INSTRUMENT
    return row


# --------------------------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------------------------


def _date(value: dt.date) -> str:
    return value.isoformat()


def _datetime(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S") + TZ


Rows = dict[str, list[dict[str, str]]]  # the rows of each file, by layout entry


def build_study() -> Rows:
    rng = random.Random(SEED)
    rows: Rows = {name: [] for name in FILES}
    rows["study"].append(dict(STUDY))
    infusion_ends: dict[str, dt.datetime] = {}
    for plan in PLANS:
        injury = dt.date.fromisoformat(plan.injury_date)
        enrolment = injury + dt.timedelta(days=rng.randint(14, 28))
        age = rng.randint(19, 70)
        birth = dt.date(injury.year - age - 1, 1, 1) + dt.timedelta(days=rng.randint(0, 364))
        age_at_enrolment = enrolment.year - birth.year - ((enrolment.month, enrolment.day) < (birth.month, birth.day))
        rows["subjects"].append({
            "study_id": STUDY_ID, "site_id": SITE_ID, "subject_id": plan.subject_id, "sex": plan.sex,
            "birth_date": _date(birth), "age": str(age_at_enrolment), "injury_date": plan.injury_date,
            "injury_level": plan.injury_level, "enrolment_date": _date(enrolment),
        })

        harvest = dt.datetime.combine(enrolment + dt.timedelta(days=rng.randint(1, 3)), dt.time(9, 30))
        rows["harvests"].append({
            "study_id": STUDY_ID, "subject_id": plan.subject_id, "harvest_id": "1", "harvest_date": _datetime(harvest),
            "status": "completed", "body_site": "posterior iliac crest", "volume_ml": str(rng.choice((40, 45, 50, 55))),
        })

        start = dt.datetime.combine(harvest.date() + dt.timedelta(days=rng.randint(14, 21)),
                                    dt.time(rng.randint(10, 14), rng.choice((0, 15, 30, 45))))
        end = start + dt.timedelta(minutes=rng.choice((30, 35, 40, 45)))
        infusion_ends[plan.subject_id] = end
        total_cells = rng.randint(60, 150) * 1_000_000
        rows["infusions"].append({
            "study_id": STUDY_ID, "subject_id": plan.subject_id, "infusion_id": "1", "start": _datetime(start),
            "end": _datetime(end), "status": "completed", "product": "Autologous auto-serum-expanded bone marrow MSC",
            "lot": f"MSC{start.year % 100:02d}-{plan.subject_id}", "total_cells": str(total_cells),
            "dose_cells_per_kg": str(round(total_cells / plan.weight_kg, -3)).removesuffix(".0"),
            "volume_ml": "40", "route": "IV", "source_harvest_id": "1", "processing": PROCESSING,
        })

        profile = exam_profile(plan, rng)
        visit_dates = {
            "BASELINE": start.date() - dt.timedelta(days=rng.randint(1, 2)),
            "DAY1": start.date() + dt.timedelta(days=1),
            "MONTH6": start.date() + dt.timedelta(days=rng.randint(180, 186)),
        }
        examiner = rng.choice(("Examiner 1", "Examiner 2"))
        for visit in VISITS:
            exam = build_exam(plan, profile, visit, _date(visit_dates[visit]), examiner)
            rows["isncsci"].append(exam_row(exam, classify(exam)))

        base, gain = SCIM_COURSE[plan.grades]
        function = base + (0.1 if plan.injury_level.startswith("T") else 0.0) + rng.uniform(-0.03, 0.03)
        noise = {key: rng.uniform(-0.1, 0.1) for key in ITEMS}
        before = scim_items(plan, function, noise)
        after = scim_items(plan, function + gain + rng.uniform(-0.03, 0.03), noise)
        after = {key: max(after[key], before[key]) for key in ITEMS}
        rows["scim"].append(scim_row(plan, "BASELINE", _date(visit_dates["BASELINE"]), before))
        rows["scim"].append(scim_row(plan, "MONTH6", _date(visit_dates["MONTH6"]), after))

    numbers: dict[str, int] = {}
    for subject_id, (term, code, pt), after_hours, hours, severity, relationship in ADVERSE_EVENTS:
        numbers[subject_id] = numbers.get(subject_id, 0) + 1
        onset = infusion_ends[subject_id] + dt.timedelta(hours=after_hours, minutes=rng.choice((0, 10, 20, 40)))
        rows["adverse_events"].append({
            "study_id": STUDY_ID, "subject_id": subject_id, "ae_id": str(numbers[subject_id]), "term": term,
            **dict.fromkeys(MEDDRA_COLUMNS, ""), "meddra_version": MEDDRA_VERSION,
            "meddra_pt_code": code, "meddra_pt": pt, "onset_date": _datetime(onset),
            "resolution_date": _datetime(onset + dt.timedelta(hours=hours)), "severity": severity, "serious": "N",
            "serious_criteria": "", "relationship": relationship, "outcome": "RECOVERED/RESOLVED",
            "action_taken": "NOT APPLICABLE", "related_procedure": "INFUSION",
        })
    return rows


# --------------------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------------------


def csv_text(columns: list[str], rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_tables(folder: Path, rows: Rows,
                 columns: Callable[[str], list[str]] = lambda name: FILES[name][1]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (file_name, _) in FILES.items():
        path = folder / file_name
        path.write_text(csv_text(columns(name), rows[name]), encoding="utf-8", newline="")
        written.append(path)
    return written


EXAMPLE_README = """\
# Example study: Honmou 2021 — SYNTHETIC data

**These data are synthetic. They are not patient data.** No value in these files was measured on a person.

The files re-create, as invented data, the published design of

> Honmou O, et al. *Intravenous infusion of auto serum-expanded autologous mesenchymal stem cells in spinal
> cord injury patients: 13 case series.* Clinical Neurology and Neurosurgery, 2021. Registry JMA-IIA00154.

What follows the publication: 13 subjects with a spinal cord injury at one site; a bone-marrow aspiration from
the posterior iliac crest, then a single intravenous infusion of the autologous mesenchymal stem cells (MSC)
expanded in the subject's own serum; ISNCSCI examinations before the infusion, one day after it and at six
months; SCIM-III before and at six months; and the published AIS shifts at six months (of 6 AIS A, 3 became B,
2 became C and 1 stayed A; of 2 AIS B, 1 became C and 1 became D; all 5 AIS C became D, already one day after
the infusion).

What is invented: every identifier, sex, birth date, age, date, injury level, cell count, dose, volume, lot,
examiner, every raw ISNCSCI value, every SCIM-III score and every adverse event. The raw ISNCSCI exams were
built so that the ISNCSCI 2019 rules give the intended AIS grade, and every reported classification value
(AIS, levels, motor and sensory totals, zones of partial preservation) is the one fhirbridge computes from the
raw exam. Adverse events are non-serious events of the kinds such trials report (low-grade fever, headache,
nausea), coded to MedDRA preferred terms.

Layout: the default CSV layout of fhirbridge (`mappings/csv-default.yaml`), one file per kind of record.
Date-times carry the site's UTC offset (+09:00).

| file | rows |
|---|---|
{counts}

Do not edit these files by hand: they are written by `examples/generate.py` (`python examples/generate.py`),
and the tests check that the script still reproduces them byte for byte.
"""


def example_readme(rows: Rows) -> str:
    counts = "\n".join(f"| `{FILES[name][0]}` | {len(rows[name])} |" for name in FILES)
    return EXAMPLE_README.format(counts=counts)


# --------------------------------------------------------------------------------------------------------------
# The messy export
# --------------------------------------------------------------------------------------------------------------

MESSY_SUBJECTS = ("001", "002", "007", "009", "013")


@dataclass(frozen=True)
class Fault:
    """One deliberate fault and the issue fhirbridge reports for it."""

    file: str
    row: int | None  # line number as a spreadsheet shows it (header = 1); None for the whole file
    column: str | None
    what: str
    code: str
    effect: str
    #: (file, row) of further records the same issue code is reported on as a consequence
    consequences: tuple[tuple[str, int], ...] = ()


def _line(rows: list[dict[str, str]], **match: str) -> tuple[int, dict[str, str]]:
    for number, row in enumerate(rows, start=2):
        if all(row[k] == v for k, v in match.items()):
            return number, row
    raise LookupError(match)


def build_messy(study: Rows) -> tuple[Rows, list[str], list[Fault]]:
    """Five subjects of the example, spoiled on purpose; the rows, the subjects file's columns and the faults."""
    rows = {name: [dict(r) for r in table if name == "study" or r["subject_id"] in MESSY_SUBJECTS]
            for name, table in study.items()}
    faults: list[Fault] = []

    subjects_columns = [*FILES["subjects"][1], "comments"]
    for row in rows["subjects"]:
        row["comments"] = ""
    _, row = _line(rows["subjects"], subject_id="001")
    row["comments"] = "transferred from a regional hospital"
    faults.append(Fault("subjects.csv", 1, "comments", "a column the layout does not know", "FB-CSV-002",
                        "its values are not converted"))

    number, row = _line(rows["subjects"], subject_id="002")
    row["sex"] = "X"
    orphans = tuple((FILES[name][0], n) for name in ("harvests", "infusions", "isncsci", "scim", "adverse_events")
                    for n, r in enumerate(rows[name], start=2) if r["subject_id"] == "002")
    faults.append(Fault("subjects.csv", number, "sex", "sex code `X`, which the `sex` value map does not have",
                        "FB-CSV-004", f"subject 002 is not converted, and so neither are its {len(orphans)} other "
                        "records: FB-REF-001 (error) on each"))
    faults.append(Fault("subjects.csv", number, "sex", "(consequence of the above)", "FB-REF-001",
                        f"on the {len(orphans)} records of subject 002 in the other files", orphans))

    number, row = _line(rows["isncsci"], subject_id="001", visit="MONTH6")
    row["ais"] = "F"
    faults.append(Fault("isncsci.csv", number, "ais", "AIS grade `F`, which does not exist (A-E)", "FB-CSV-003",
                        "the exam is not converted"))

    number, row = _line(rows["isncsci"], subject_id="007", visit="MONTH6")
    computed = row["ais"]
    row["ais"] = "D"
    faults.append(Fault("isncsci.csv", number, "ais", f"reported AIS `D` where the raw exam gives {computed} (fewer "
                        "than half of the key muscles below the NLI are graded 3 or more)", "FB-ISN-001",
                        f"AIS reported D, computed {computed}, with the rules that decided it"))

    number, row = _line(rows["isncsci"], subject_id="009", visit="DAY1")
    row["r_l3_motor"] = "7"
    faults.append(Fault("isncsci.csv", number, "r_l3_motor", "motor score `7` (motor scores are 0-5)", "FB-CSV-003",
                        "the exam is not converted"))

    _, source = _line(rows["isncsci"], subject_id="013", visit="BASELINE")
    rows["isncsci"].append({**source, "subject_id": "014"})
    faults.append(Fault("isncsci.csv", len(rows["isncsci"]) + 1, "subject_id",
                        "an exam of subject `014`, who is not in subjects.csv", "FB-REF-001",
                        "the exam is not converted"))

    number, row = _line(rows["scim"], subject_id="007", visit="BASELINE")
    row["scim_06_bladder"] = "4"
    faults.append(Fault("scim.csv", number, "scim_06_bladder", "bladder score `4` (allowed: 0, 3, 6, 9, 11, 13, 15)",
                        "FB-CSV-003", "the assessment is not converted"))

    number, row = _line(rows["scim"], subject_id="009", visit="BASELINE")
    summed = row["scim_total"]
    row["scim_total"] = str(int(summed) + 10)
    faults.append(Fault("scim.csv", number, "scim_total", f"total `{row['scim_total']}`, but the subscales sum to "
                        f"{summed}", "FB-SCIM-002", f"total reported {row['scim_total']}, subscales sum to {summed}"))

    number, row = _line(rows["scim"], subject_id="013", visit="MONTH6")
    typed = row["assessment_date"]
    row["assessment_date"] = "2019-02-30"
    faults.append(Fault("scim.csv", number, "assessment_date", f"impossible date `2019-02-30` (a slip for {typed}, "
                        "the date of that visit's exam)", "FB-CSV-005", "the assessment is not converted"))

    _, row = _line(rows["adverse_events"], subject_id="007", ae_id="1")
    row["term"] = "Übelkeit"
    faults.append(Fault("adverse_events.csv", None, None, "written in Windows-1252 (Latin-1) with a UTF-8 byte "
                        "order mark in front, and a non-ASCII term (`Übelkeit`, subject 007)", "FB-IO-003",
                        "the file is read as cp1252; its rows convert, with the term read correctly"))

    number, row = _line(rows["adverse_events"], subject_id="009", ae_id="2")
    onset = dt.datetime.fromisoformat(row["onset_date"])
    row["resolution_date"] = _datetime((onset - dt.timedelta(days=1)).replace(tzinfo=None))
    faults.append(Fault("adverse_events.csv", number, "resolution_date", "resolution one day before the onset",
                        "FB-DATE-002", "the adverse event resolves before its onset; it is not converted"))
    return rows, subjects_columns, faults


MESSY_README = """\
# A messy export — SYNTHETIC data with deliberate faults

**These data are synthetic. They are not patient data.** They are five subjects of the synthetic example study
(`examples/honmou2021/csv/`, after Honmou et al. 2021), exported in the default CSV layout and then spoiled on
purpose, to show how fhirbridge reports faults. Most rows are good and convert; each fault below affects only
the records named.

Written by `examples/generate.py`; do not edit by hand.

## Deliberate faults and what fhirbridge reports

Rows are the line numbers a spreadsheet shows (the header is row 1).

| file | row | column | fault | fhirbridge reports |
|---|---|---|---|---|
{faults}

Everything else converts: the study, subjects 001, 007, 009 and 013 and their other records.

Check it yourself: `fhirbridge validate examples/messy` (exit code 1: errors found).
"""


def messy_readme(faults: list[Fault]) -> str:
    lines = "\n".join(
        f"| `{f.file}` | {f.row if f.row is not None else 'all'} | {f'`{f.column}`' if f.column else '-'} "
        f"| {f.what} | {f.code} ({RULES[f.code].severity}): {f.effect} |"
        for f in faults
        if not f.consequences
    )
    return MESSY_README.format(faults=lines)


def write_messy(folder: Path, study: Rows) -> list[Path]:
    rows, subjects_columns, faults = build_messy(study)
    written = write_tables(folder, rows, lambda name: subjects_columns if name == "subjects" else FILES[name][1])
    events = folder / FILES["adverse_events"][0]
    text = csv_text(FILES["adverse_events"][1], rows["adverse_events"])
    events.write_bytes(b"\xef\xbb\xbf" + text.encode("cp1252"))
    readme = folder / "README.md"
    readme.write_text(messy_readme(faults), encoding="utf-8", newline="")
    return [*written, readme]


def generate(root: Path) -> list[Path]:
    """Write both examples under ``root``; returns the files written."""
    check_columns_against_layout()
    study = build_study()
    example = root / "honmou2021" / "csv"
    written = write_tables(example, study)
    readme = example / "README.md"
    readme.write_text(example_readme(study), encoding="utf-8", newline="")
    written.append(readme)
    written += write_messy(root / "messy", study)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="generate.py", description="Write the synthetic example study "
                                     "(honmou2021/csv) and the messy export (messy/) into FOLDER.")
    parser.add_argument("folder", nargs="?", type=Path, default=Path(__file__).resolve().parent,
                        help="where to write honmou2021/ and messy/ (default: the folder of this script)")
    root = parser.parse_args(argv[1:]).folder
    for path in generate(root):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
