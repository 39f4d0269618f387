"""The fixed shape of an ISNCSCI exam (2019 revision of the International Standards).

This is the structural knowledge a mapping spec cannot express well: which segments carry a key muscle,
which dermatomes are tested, and which values a single cell of the worksheet may hold.
"""

from __future__ import annotations

import re
from typing import Final, Literal, get_args

Side = Literal["right", "left"]
SIDES: Final[tuple[Side, Side]] = ("right", "left")

#: Every neurological level from C1 to S4-5, in cranio-caudal order.
LEVELS: Final[tuple[str, ...]] = (
    "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8",
    "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12",
    "L1", "L2", "L3", "L4", "L5",
    "S1", "S2", "S3", "S4-5",
)  # fmt: skip
LEVEL_INDEX: Final[dict[str, int]] = {level: i for i, level in enumerate(LEVELS)}

#: The 28 dermatomes tested for light touch and pin prick on each side.
DERMATOMES: Final[tuple[str, ...]] = LEVELS[1:]

#: The 10 key muscles tested for motor strength on each side, with the muscle group they stand for.
KEY_MUSCLES: Final[dict[str, str]] = {
    "C5": "elbow flexors",
    "C6": "wrist extensors",
    "C7": "elbow extensors",
    "C8": "finger flexors",
    "T1": "finger abductors",
    "L2": "hip flexors",
    "L3": "knee extensors",
    "L4": "ankle dorsiflexors",
    "L5": "long toe extensors",
    "S1": "ankle plantar flexors",
}
MYOTOMES: Final[tuple[str, ...]] = tuple(KEY_MUSCLES)
UPPER_MYOTOMES: Final[tuple[str, ...]] = MYOTOMES[:5]
LOWER_MYOTOMES: Final[tuple[str, ...]] = MYOTOMES[5:]

#: Levels that may be named as the lowest non-key muscle with motor function (C5 to S1). Exports do name
#: thoracic levels (the reference cases include T5); the reference algorithm, and so the classification,
#: takes only the key-muscle levels into account.
NON_KEY_MUSCLE_LEVELS: Final[tuple[str, ...]] = LEVELS[LEVEL_INDEX["C5"] : LEVEL_INDEX["S1"] + 1]

Modality = Literal["motor", "light_touch", "pin_prick"]
MODALITIES: Final[tuple[Modality, Modality, Modality]] = ("motor", "light_touch", "pin_prick")

#: A motor cell: 0-5, or NT (not testable); 0-4 and NT may carry `*` (impairment not due to SCI,
#: consider not normal for classification) or `**` (not due to SCI, consider normal), as the ISNCSCI
#: reference algorithm reads them. `5*` does not exist.
MOTOR_VALUE: Final[re.Pattern[str]] = re.compile(r"(?:[0-4]|NT)\*{0,2}|5")
#: A sensory cell: 0-2 or NT; 0, 1 and NT may carry `*` or `**`.
SENSORY_VALUE: Final[re.Pattern[str]] = re.compile(r"(?:[01]|NT)\*{0,2}|2")
#: Every value a motor or sensory cell may hold, spelled out from the grammars above, so that a cell can be checked
#: by one lookup (``value in MOTOR_VALUES``) and tables can be computed for every value.
_STARS: Final = ("", "*", "**")
MOTOR_VALUES: Final[frozenset[str]] = frozenset(
    v for grade in ("0", "1", "2", "3", "4", "5", "NT") for star in _STARS if MOTOR_VALUE.fullmatch(v := grade + star)
)
SENSORY_VALUES: Final[frozenset[str]] = frozenset(
    v for grade in ("0", "1", "2", "NT") for star in _STARS if SENSORY_VALUE.fullmatch(v := grade + star)
)
#: Voluntary anal contraction and deep anal pressure.
AnalValue = Literal["Yes", "No", "NT"]
ANAL_VALUES: Final[tuple[str, ...]] = get_args(AnalValue)

#: AIS grades with their definitions (2019 revision).
AIS_GRADES: Final[dict[str, str]] = {
    "A": "Complete: no sensory or motor function preserved in the sacral segments S4-5",
    "B": "Sensory incomplete: sensory but no motor function preserved below the neurological level",
    "C": "Motor incomplete: less than half of key muscles below the single neurological level have "
    "muscle grade 3 or more",
    "D": "Motor incomplete: at least half of key muscles below the single neurological level have "
    "muscle grade 3 or more",
    "E": "Normal: sensation and motor function normal in all segments, with prior deficits",
}


def value_pattern(modality: Modality) -> re.Pattern[str]:
    """The grammar of one exam cell of the given modality."""
    return MOTOR_VALUE if modality == "motor" else SENSORY_VALUE


def cells() -> list[tuple[Side, Modality, str]]:
    """Every raw cell of an exam as (side, modality, level): 2 x (10 + 28 + 28) = 132 cells."""
    return [
        (side, modality, level)
        for side in SIDES
        for modality in MODALITIES
        for level in (MYOTOMES if modality == "motor" else DERMATOMES)
    ]


_MODALITY_KEY: Final[dict[str, str]] = {"motor": "Motor", "light_touch": "Touch", "pin_prick": "Prick"}
_MODALITY_TITLE: Final[dict[str, str]] = {"motor": "motor", "light_touch": "light touch", "pin_prick": "pin prick"}


def cell_code(side: Side, modality: Modality, level: str) -> str:
    """The code of one worksheet cell, as the reference algorithm names it (``c5RightMotor``, ``s4_5LeftPrick``)."""
    return f"{level.lower().replace('-', '_')}{side.capitalize()}{_MODALITY_KEY[modality]}"


def cell_title(side: Side, modality: Modality, level: str) -> str:
    muscle = f" ({KEY_MUSCLES[level]})" if modality == "motor" else ""
    return f"{side.capitalize()} {level} {_MODALITY_TITLE[modality]}{muscle}"


#: Codes and titles of the exam values that are not cells (reference algorithm names).
EXAM_EXTRAS: Final[dict[str, str]] = {
    "analContraction": "Voluntary anal contraction (VAC)",
    "analSensation": "Deep anal pressure (DAP)",
    "rightLowestNonKeyMuscleWithMotorFunction": "Right lowest non-key muscle with motor function",
    "leftLowestNonKeyMuscleWithMotorFunction": "Left lowest non-key muscle with motor function",
}

#: The worksheet's comment that gives the reason for `*` values (the non-SCI condition, e.g. a tendon transfer or a
#: peripheral nerve injury): its code and title.
NON_SCI_CONDITION: Final[tuple[str, str]] = ("nonSciCondition", "Non-SCI condition behind values marked *")

#: Levels between T2 and L1: a segment without a key muscle, where no lowest non-key muscle should be named.
NO_KEY_MUSCLE_LEVELS: Final[tuple[str, ...]] = LEVELS[LEVEL_INDEX["T2"] : LEVEL_INDEX["L1"] + 1]

#: The classification values, by record field name, with their titles.
CLASSIFICATION_TITLES: Final[dict[str, str]] = {
    "asia_impairment_scale": "ASIA Impairment Scale (AIS) grade",
    "injury_complete": "Complete or incomplete injury",
    "neurological_level_of_injury": "Neurological level of injury (NLI)",
    "right_sensory": "Right sensory level",
    "left_sensory": "Left sensory level",
    "right_motor": "Right motor level",
    "left_motor": "Left motor level",
    "right_sensory_zpp": "Right sensory zone of partial preservation",
    "left_sensory_zpp": "Left sensory zone of partial preservation",
    "right_motor_zpp": "Right motor zone of partial preservation",
    "left_motor_zpp": "Left motor zone of partial preservation",
    "right_upper_motor_total": "Right upper extremity motor score",
    "left_upper_motor_total": "Left upper extremity motor score",
    "right_lower_motor_total": "Right lower extremity motor score",
    "left_lower_motor_total": "Left lower extremity motor score",
    "right_motor_total": "Right motor score",
    "left_motor_total": "Left motor score",
    "upper_motor_total": "Upper extremity motor score (UEMS)",
    "lower_motor_total": "Lower extremity motor score (LEMS)",
    "right_touch_total": "Right light touch score",
    "left_touch_total": "Left light touch score",
    "touch_total": "Light touch score",
    "right_prick_total": "Right pin prick score",
    "left_prick_total": "Left pin prick score",
    "prick_total": "Pin prick score",
}
