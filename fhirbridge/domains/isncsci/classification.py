"""Classification of an ISNCSCI exam (2019 revision of the International Standards).

Ported from the ISNCSCI reference algorithm (praxis-isncsci/algorithm, Apache-2.0), release 2.0.6 of the
``isncsci`` package. The port keeps the reference's semantics to the letter, because a classification that
differs from the reference in a corner case would be reported as a site error by validation:

* a cell tagged as impaired for a reason other than the SCI and ``NT`` (not testable) make some answers uncertain;
  the reference then reports every possibility, comma-joined (``C5,C6``, ``B,C,D``), and flags answers that rely
  on a tagged cell with ``*`` (``C6*``, ``INT*``, ``E*``). In the reference (and so here) a single star means
  "consider not normal for classification" and a double star "consider normal": ``1*`` ends a sensory level
  like ``1``, ``0**`` lets it continue like ``2``;
* a level without key muscle takes its motor level from sensation (C1-C4, T2-L1, S2-S5);
* ``ND`` marks a total that cannot be computed because a cell is ``NT``; ``NA`` marks a zone of partial
  preservation that does not apply (or may not apply) because the S4-5 segments are spared;
* a lowest non-key muscle with motor function more than three levels below the motor level makes an
  otherwise sensory-incomplete injury motor incomplete (AIS C rather than B) and can stand in for the motor
  zone of partial preservation.

Reference behaviours that may surprise are kept so that the results match: a lowest non-key muscle is only taken
into account at one of the ten key-muscle levels (C5-T1, L2-S1); the neurological level walk judges the last key
muscle of a limb (T1, S1) on its grade alone, where the motor level walk also looks at the sensation below it;
and a motor ZPP level is starred by the reference's heuristic (a ``0*``/``0**`` key muscle, a starred sensory
cell, or a level in the run of normal levels that follows the first starred cell).

Everything here works on the raw cell strings of an :class:`IsncsciExam`; the cells are read once into flat
lists indexed by level (C1 = 0 … S4-5 = 28) and every per-cell decision is a lookup in a table computed at import
time from small rule functions that mirror the reference. The module does no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import getitem, itemgetter
from typing import TYPE_CHECKING, Final, NamedTuple

from fhirbridge.domains.isncsci.structure import DERMATOMES, LEVELS, MOTOR_VALUES, MYOTOMES, SENSORY_VALUES

if TYPE_CHECKING:  # the records are imported where a model is built: printing totals needs none (start-up time)
    from fhirbridge.records.isncsci import IsncsciClassification, IsncsciExam, IsncsciSide

__all__ = ["AisDecision", "SideCells", "classify", "classify_cells", "decide_ais", "explain_ais", "totals_of_cells"]

# --------------------------------------------------------------------------------------------------------------
# Levels
# --------------------------------------------------------------------------------------------------------------

_N: Final = len(LEVELS)  # 29: C1 … S4-5
_IDX: Final[dict[str, int]] = {level: i for i, level in enumerate(LEVELS)}
_C4, _T1, _L1, _S1, _S3, _S45 = (_IDX[x] for x in ("C4", "T1", "L1", "S1", "S3", "S4-5"))
#: Level index of each key muscle, in MYOTOMES order (C5 … T1, L2 … S1).
_KEY_IDX: Final[tuple[int, ...]] = tuple(_IDX[m] for m in MYOTOMES)
_KEY_SET: Final[frozenset[int]] = frozenset(_KEY_IDX)
_STARRED_NAME: Final[tuple[str, ...]] = tuple(level + "*" for level in LEVELS)


def _name(i: int, star: bool) -> str:
    return _STARRED_NAME[i] if star else LEVELS[i]


def _start_key(level_index: int) -> int:
    """Position (0-10) in MYOTOMES of the first key muscle at or below a level; 10 when there is none.

    The reference's ``startingMotorIndex``: above C5 every key muscle counts, between T2 and L1 the lower limb
    ones, below S1 (and, as in the reference, at C1) none.
    """
    if 1 <= level_index <= 3:
        return 0
    if 4 <= level_index <= 8:
        return level_index - 4
    if 9 <= level_index <= 20:
        return 5
    if 21 <= level_index <= 25:
        return level_index - 16
    return 10


# How each level's step is taken in the level walks: by the next dermatome, at the level above a limb's first
# key muscle (C4, L1), at a key muscle followed by another, at a limb's last key muscle (T1, S1), or by VAC (S4-5).
_SENSORY, _BEFORE_KEY, _KEY, _LAST_KEY, _SACRAL = range(5)
_KIND: Final[tuple[int, ...]] = tuple(
    _BEFORE_KEY if i in (_C4, _L1)
    else _LAST_KEY if i in (_T1, _S1)
    else _KEY if i in _KEY_SET
    else _SACRAL if i == _S45
    else _SENSORY
    for i in range(_N)
)  # fmt: skip
#: For a level of a stretch walked by sensation only, the index where that stretch ends.
_STRETCH_END: Final[tuple[int, ...]] = tuple(
    next((j for j in range(i, _N) if _KIND[j] != _SENSORY), _N) for i in range(_N)
)


def _level_index(name: str) -> int:
    """Index of a level as printed by the classification (``C6``, ``C6*``, ``INT`` → S4-5)."""
    bare = name.rstrip("*")
    return _S45 if bare == "INT" else _IDX[bare]


# --------------------------------------------------------------------------------------------------------------
# Cell values
# --------------------------------------------------------------------------------------------------------------

_WEAK: Final = frozenset({"0", "1", "2"})  # motor grade below 3, not starred
_WEAK_STAR: Final = frozenset({"0*", "1*", "2*"})
_WEAK_STARSTAR: Final = frozenset({"0**", "1**", "2**"})
_STARSTAR: Final = frozenset({"0**", "1**", "2**", "3**", "4**", "NT**"})
_STAR_OR_STRONG: Final = frozenset({"0*", "1*", "2*", "NT*", "3", "4", "3*", "4*"})
_ONE_STAR_WEAK_OR_NT: Final = frozenset({"0*", "1*", "2*", "NT*"})
_WEAK_ANY_OR_NT: Final = frozenset({"0", "1", "2", "0*", "1*", "2*", "NT", "NT*"})
_SENSORY_ABNORMAL: Final = frozenset({"0", "1", "0*", "1*"})
_SENSORY_MAY_BE_ABSENT: Final = frozenset({"0", "NT", "0*", "NT*"})
_MOTOR_MAY_BE_ABSENT: Final = frozenset({"0", "NT", "0*", "NT*"})


#: The grade a motor cell adds to a total; NT adds enough below zero that every total including it is negative (ND).
_MOTOR_GRADE: Final[dict[str, int]] = {v: -1000 if v.startswith("NT") else int(v[0]) for v in MOTOR_VALUES}


def _motor_score(cells: Sequence[str]) -> int:
    """Sum of the grades of motor cells; negative when one is NT."""
    return sum(map(_MOTOR_GRADE.__getitem__, cells))


def _sensory_score(joined_cells: str) -> int:
    """Sum of the grades of sensory cells joined into one string (every cell is one grade digit 0-2, possibly
    starred, or NT); negative when one is NT, so that every total including it is negative (ND)."""
    if "N" in joined_cells:
        return -1000
    return joined_cells.count("1") + 2 * joined_cells.count("2")


#: A step of the reference's level walks: (continue, level to record: None / plain False / starred True,
#: whether the result has become "variable", i.e. depends on a starred or untestable cell).
_Step = tuple[bool, bool | None, bool]


def _sensory_step(lt: str, pp: str, variable: bool) -> _Step:
    """Is the *next* dermatome normal? The reference's ``checkSensoryLevel``.

    A dermatome is normal with 2/2; an abnormal value (0, 1, and 0*, 1*: consider not normal) ends the walk at
    the current level; ``NT*`` ends it with a starred level; ``NT`` keeps walking but records the current level as
    a possibility; ``0**``, ``1**`` and ``NT**`` (consider normal) keep walking but make the result variable.
    """
    if lt == "2" and pp == "2":
        return True, None, variable
    if lt in _SENSORY_ABNORMAL or pp in _SENSORY_ABNORMAL:
        return False, variable, variable
    if lt == "NT*" or pp == "NT*":
        return False, True, True
    if lt == "NT" or pp == "NT":
        if lt in ("0**", "1**") or pp in ("0**", "1**"):
            return True, variable, True
        return True, variable, variable
    return True, None, True


def _motor_step(m: str, n: str, variable: bool) -> _Step:
    """Key muscle ``m`` followed by key muscle ``n`` in the same limb. The reference's ``checkMotorLevel``.

    The walk goes on past a muscle graded 5 (or considered so) when the next one may be 3 or more; it records
    the level when the next muscle may be below 3 or the current one is not certainly normal.
    """
    cont = m not in _WEAK and m not in _STAR_OR_STRONG and n not in _WEAK
    star: bool | None = None
    if not ((m == "5" or m in _STARSTAR) and n not in _WEAK_ANY_OR_NT):
        star = m in _ONE_STAR_WEAK_OR_NT or (m in _WEAK_STARSTAR and n in _WEAK_ANY_OR_NT and n not in _WEAK)
        star = star or variable
    var = variable
    if m not in ("5", "3", "4", "3*", "4*", "NT"):
        if m in _STARSTAR:
            if n not in _WEAK:
                var = True
        else:
            var = True
    elif m == "5" and n in _WEAK_STARSTAR:
        var = True
    return cont, star, var


def _before_key_step(n: str, variable: bool) -> _Step:
    """C4 and L1: the level above the first key muscle of a limb. The reference's
    ``checkMotorLevelBeforeStartOfKeyMuscles``."""
    return (
        n not in _WEAK,
        variable if n in _WEAK_ANY_OR_NT else None,
        variable or n in _WEAK_STARSTAR,
    )


def _with_sensory_check_step(m: str, s_cont: bool, s_level: bool, s_var: bool, variable: bool) -> _Step:
    """T1 and S1, the last key muscle of a limb, where sensation below decides. The reference's
    ``checkWithSensoryCheckLevelResult``; ``s_*`` summarise the sensory walk over the limb's dermatomes."""
    cont = not (m in ("3", "4", "0*", "1*", "2*", "3*", "4*", "NT*") or not s_cont)
    star: bool | None = None
    if m == "NT" or not ((m == "5" or m in _STARSTAR) and s_cont and not s_level):
        star = m in _ONE_STAR_WEAK_OR_NT or (m in _WEAK_STARSTAR and (s_level or not s_cont)) or variable
    var = variable
    if (
        m in _ONE_STAR_WEAK_OR_NT
        or m in _WEAK_STARSTAR
        or (m in ("3**", "4**", "NT**") and s_cont)
        or (m in ("5", "NT") and s_cont and s_var and not s_level)
    ):
        var = True
    return cont, star, var


def _zpp_kind(lt: str, pp: str) -> int:
    """How a dermatome reads for the sensory ZPP (the reference's ``checkLevelForSensoryZPP``):
    0 absent (keep going up), 1 present (record and stop), 2 may be absent because of NT (record, keep going),
    3 absent but starred (record with ``*``, keep going)."""
    if pp == "0" and lt == "0":
        return 0
    if pp not in _SENSORY_MAY_BE_ABSENT or lt not in _SENSORY_MAY_BE_ABSENT:
        return 1
    if pp in ("NT", "NT*") or lt in ("NT", "NT*"):
        return 2
    return 3


def _is_consecutive_normal(lt: str, pp: str, m: str) -> bool:
    """The reference's test for the run of normal levels that carries a ``*`` down in the motor ZPP;
    a level without key muscle never counts as normal there."""
    return (
        m != ""
        and (lt == "2" or lt.endswith("**"))
        and (pp == "2" or pp.endswith("**"))
        and (m == "5" or m.endswith("**"))
    )


# Tables: every per-cell decision above, for every valid value, looked up in the hot path.
_SENSORY_STEP: Final[dict[tuple[str, str], tuple[_Step, _Step]]] = {
    (lt, pp): (_sensory_step(lt, pp, False), _sensory_step(lt, pp, True))
    for lt in SENSORY_VALUES
    for pp in SENSORY_VALUES
}
#: ``_SENSORY_STEP`` by light touch then pin prick: looked up by ``map`` over both lists, without a tuple per cell.
_SENSORY_STEP_BY_LT: Final[dict[str, dict[str, tuple[_Step, _Step]]]] = {
    lt: {pp: _SENSORY_STEP[lt, pp] for pp in SENSORY_VALUES} for lt in SENSORY_VALUES
}
_MOTOR_STEP: Final[dict[tuple[str, str], tuple[_Step, _Step]]] = {
    (m, n): (_motor_step(m, n, False), _motor_step(m, n, True)) for m in MOTOR_VALUES for n in MOTOR_VALUES
}
_BEFORE_KEY_STEP: Final[dict[str, tuple[_Step, _Step]]] = {
    n: (_before_key_step(n, False), _before_key_step(n, True)) for n in MOTOR_VALUES
}
_NORMAL_STEP: Final = _SENSORY_STEP["2", "2"]
_ZPP_KIND: Final[dict[tuple[str, str], int]] = {
    (lt, pp): _zpp_kind(lt, pp) for lt in SENSORY_VALUES for pp in SENSORY_VALUES
}


# --------------------------------------------------------------------------------------------------------------
# One side of the exam, read once
# --------------------------------------------------------------------------------------------------------------


class SideCells(NamedTuple):
    """The cells of one side in level order: what the classifier reads of an exam.

    ``light_touch`` and ``pin_prick`` hold the 28 dermatomes (C2 … S4-5, as ``DERMATOMES``), ``motor`` the 10 key
    muscles (C5 … S1, as ``MYOTOMES``). Every value must be one the worksheet allows (``SENSORY_VALUES``,
    ``MOTOR_VALUES``, ``NON_KEY_MUSCLE_LEVELS`` or None): :func:`classify_cells` trusts its caller on that.
    """

    light_touch: Sequence[str]
    pin_prick: Sequence[str]
    motor: Sequence[str]
    lowest_non_key_muscle: str | None


class _Side:
    """The cells of one side as flat lists indexed by level (C1 = 0 … S4-5 = 28).

    ``lt``/``pp`` hold "2" at C1 (never examined); ``motor`` holds "" at levels without key muscle. ``step[i]``
    is the pair of sensory steps (not variable, variable) for dermatome ``i``; ``starred`` tells whether any cell
    carries a ``*``, which lets exams without one skip the work that only stars need.
    """

    __slots__ = ("joined_lt", "joined_pp", "keys", "lt", "motor", "non_key", "non_key_name", "normal", "pp",
                 "starred", "step")  # fmt: skip

    def __init__(
        self, lt: list[str], pp: list[str], motor: list[str], keys: tuple[str, ...], non_key_name: str | None
    ) -> None:
        self.lt = lt
        self.pp = pp
        self.motor = motor
        self.non_key_name = non_key_name
        # The reference only recognises a non-key muscle named at one of the key-muscle levels.
        index = _IDX.get(non_key_name) if non_key_name else None
        self.non_key: int | None = index if index in _KEY_SET else None
        self.keys = keys  # the ten key muscles, C5 … S1
        self.joined_lt = joined_lt = "".join(lt)
        self.joined_pp = joined_pp = "".join(pp)
        self.starred = "*" in joined_lt or "*" in joined_pp or "*" in "".join(self.keys)
        # Dermatomes C2 … ``normal`` all read 2/2 (only the value "2" starts with a 2).
        self.normal = normal = (
            min(len(joined_lt) - len(joined_lt.lstrip("2")), len(joined_pp) - len(joined_pp.lstrip("2"))) - 1
        )
        self.step = [_NORMAL_STEP] * (normal + 1)
        self.step += map(getitem, map(_SENSORY_STEP_BY_LT.__getitem__, lt[normal + 1 :]), pp[normal + 1 :])

    @classmethod
    def read(cls, side: IsncsciSide) -> _Side:
        return cls.of(SideCells(_GET_DERMATOMES(side.light_touch), _GET_DERMATOMES(side.pin_prick),
                                _GET_MYOTOMES(side.motor), side.lowest_non_key_muscle))  # fmt: skip

    @classmethod
    def of(cls, cells: SideCells) -> _Side:
        m = cells.motor
        motor = ["", "", "", "", *m[:5], *_NO_KEY_T2_L1, *m[5:], "", "", ""]
        # tuple() of the tuple a reader gives is that tuple; keys are concatenated with the other side's.
        return cls(["2", *cells.light_touch], ["2", *cells.pin_prick], motor, tuple(m), cells.lowest_non_key_muscle)

    def without_stars(self) -> _Side:
        """The same side with every ``*`` and ``**`` dropped (the reference's ``removeStars``)."""
        if not self.starred:
            return self
        plain = _PLAIN.__getitem__
        side = _Side.__new__(_Side)
        side.lt = lt = [*map(plain, self.lt)]
        side.pp = pp = [*map(plain, self.pp)]
        side.motor = [*map(plain, self.motor)]
        side.keys = tuple(map(plain, self.keys))
        side.step = [*map(getitem, map(_SENSORY_STEP_BY_LT.__getitem__, lt), pp)]
        side.joined_lt, side.joined_pp = "".join(lt), "".join(pp)
        side.normal = self.normal  # no "2" carries a star
        side.starred = False
        side.non_key, side.non_key_name = self.non_key, self.non_key_name
        return side


_NO_KEY_T2_L1: Final = ("",) * (_IDX["L2"] - _IDX["T2"])
_PLAIN: Final[dict[str, str]] = {v: v.rstrip("*") for v in ("", *MOTOR_VALUES, *SENSORY_VALUES)}
_GET_DERMATOMES: Final = itemgetter(*DERMATOMES)
_GET_MYOTOMES: Final = itemgetter(*MYOTOMES)


class _Exam:
    """Both sides of an exam, read once, with VAC and DAP."""

    __slots__ = ("dap", "left", "right", "vac")

    def __init__(self, right: _Side, left: _Side, vac: str, dap: str) -> None:
        self.right = right
        self.left = left
        self.vac = vac
        self.dap = dap

    @classmethod
    def read(cls, exam: IsncsciExam) -> _Exam:
        return cls(_Side.read(exam.right), _Side.read(exam.left), exam.vac, exam.dap)

    @classmethod
    def of(cls, right: SideCells, left: SideCells, vac: str, dap: str) -> _Exam:
        return cls(_Side.of(right), _Side.of(left), vac, dap)

    def without_stars(self) -> _Exam:
        if not (self.right.starred or self.left.starred):
            return self
        return _Exam(self.right.without_stars(), self.left.without_stars(), self.vac, self.dap)

    @property
    def s45(self) -> tuple[str, str, str, str]:
        """Light touch and pin prick at S4-5, right then left."""
        r, lft = self.right, self.left
        return r.lt[_S45], r.pp[_S45], lft.lt[_S45], lft.pp[_S45]


# --------------------------------------------------------------------------------------------------------------
# Sensory and motor levels
# --------------------------------------------------------------------------------------------------------------


def _sensory_level(side: _Side) -> str:
    """Lowest level with normal sensation on this side, with every possibility the NT cells leave open."""
    levels: list[str] = []
    variable = False
    step = side.step
    # Levels followed by a normal dermatome change nothing: start below the leading run of them.
    for i in range(side.normal, _N - 1):
        cont, star, variable = step[i + 1][variable]
        if star is not None:
            levels.append(_name(i, star))
        if not cont:
            return ",".join(levels)
    levels.append("INT*" if variable else "INT")
    return ",".join(levels)


def _limb_sensory_summary(side: _Side, last_key: int) -> tuple[bool, bool, bool]:
    """The reference's ``checkMotorLevelUsingSensoryValues``: the sensory steps over the six dermatomes
    from the limb's first key muscle to the level below its last one (C5-T2 or L2-S2), without
    carrying variability: (all continue, some level recorded, some step variable)."""
    cont, level, variable = True, False, False
    for i in range(last_key - 4, last_key + 2):
        s_cont, s_star, s_var = side.step[i][False]
        cont = cont and s_cont
        level = level or s_star is not None
        variable = variable or s_var
    return cont, level, variable


def _motor_level(side: _Side, vac: str) -> str:
    """Lowest level with normal motor function on this side (the reference's ``determineMotorLevel``).

    Key muscles decide at C4-T1 and L1-S1; elsewhere the motor level follows sensation. Below S3 VAC decides:
    without VAC the level cannot be INT.
    """
    levels: list[str] = []
    variable = False
    motor, step, normal = side.motor, side.step, side.normal
    i = 0
    while i < _S45:
        kind = _KIND[i]
        if kind == _SENSORY:
            if i < normal:  # a run of levels followed by normal dermatomes changes nothing
                i = min(normal, _STRETCH_END[i])
                continue
            cont, star, variable = step[i + 1][variable]
        elif kind == _KEY:
            cont, star, variable = _MOTOR_STEP[motor[i], motor[i + 1]][variable]
        elif kind == _BEFORE_KEY:
            cont, star, variable = _BEFORE_KEY_STEP[motor[i + 1]][variable]
        else:
            s_cont, s_level, s_var = _limb_sensory_summary(side, i)
            cont, star, variable = _with_sensory_check_step(motor[i], s_cont, s_level, s_var, variable)
        if star is not None:
            levels.append(_name(i, star))
        if not cont:
            return ",".join(levels)
        i += 1
    # Past S3: VAC decides whether the motor level can be INT.
    has_s3 = "S3" in levels or "S3*" in levels
    suffix = "*" if variable else ""
    if vac == "No":
        if not has_s3:
            levels.append("S3" + suffix)
    else:
        if vac == "NT" and not has_s3:
            levels.append("S3" + suffix)
        levels.append("INT" + suffix)
    return ",".join(levels)


# --------------------------------------------------------------------------------------------------------------
# Neurological level of injury
# --------------------------------------------------------------------------------------------------------------


def _neurological_level(exam: _Exam) -> str:
    """The most caudal level with normal sensation and motor function on both sides, with every possibility
    (the reference's ``determineNeurologicalLevelOfInjury``)."""
    levels: list[str] = []
    variable = False
    left, right = exam.left, exam.right
    l_step, r_step, l_motor, r_motor = left.step, right.step, left.motor, right.motor
    normal = min(left.normal, right.normal)
    i = 0
    while i < _S45:
        kind = _KIND[i]
        if kind == _SENSORY and i < normal:
            i = min(normal, _STRETCH_END[i])
            continue
        l_cont, l_star, l_var = l_step[i + 1][variable]
        r_cont, r_star, r_var = r_step[i + 1][variable]
        # Both sides' sensation.
        if l_star is not None or r_star is not None:
            s_star: bool | None = bool(l_star and r_star) or variable
        else:
            s_star = None
        s_cont = l_cont and r_cont
        s_var = variable or l_var or r_var
        if kind == _SENSORY:
            cont, star, var = s_cont, s_star, s_var
        else:
            if kind == _KEY:
                lm_cont, lm_star, lm_var = _MOTOR_STEP[l_motor[i], l_motor[i + 1]][variable]
                rm_cont, rm_star, rm_var = _MOTOR_STEP[r_motor[i], r_motor[i + 1]][variable]
            elif kind == _BEFORE_KEY:
                lm_cont, lm_star, lm_var = _BEFORE_KEY_STEP[l_motor[i + 1]][variable]
                rm_cont, rm_star, rm_var = _BEFORE_KEY_STEP[r_motor[i + 1]][variable]
            else:
                # As in the reference, the last key muscle is compared with itself, without sensation below.
                lm_cont, lm_star, lm_var = _MOTOR_STEP[l_motor[i], l_motor[i]][variable]
                rm_cont, rm_star, rm_var = _MOTOR_STEP[r_motor[i], r_motor[i]][variable]
            if lm_star is not None or rm_star is not None or s_star is not None:
                star = (lm_star is not None and rm_star is not None and (lm_star or rm_star)) or variable
            else:
                star = None
            if not s_cont:
                cont, var = False, s_var
            else:
                cont, var = lm_cont and rm_cont, s_var or lm_var or rm_var
        variable = variable or var
        if star is not None:
            levels.append(_name(i, star))
        if not cont:
            return ",".join(levels)
        i += 1
    levels.append("INT*" if variable else "INT")
    return ",".join(levels)


# --------------------------------------------------------------------------------------------------------------
# Completeness and AIS
# --------------------------------------------------------------------------------------------------------------


_S45_ABSENT: Final = ("0", "0", "0", "0")


def _injury_complete(exam: _Exam) -> str:
    """``C`` (complete), ``I`` (incomplete) or both, from VAC, DAP and the four S4-5 sensory cells."""
    s45 = exam.s45
    if exam.vac == "No" and exam.dap == "No":
        if s45 == _S45_ABSENT:
            return "C"
        if _ZERO_OR_STAR.issuperset(s45):
            return "C*,I*"
        if _ZERO_OR_STARSTAR.issuperset(s45):
            return "I*"
    if exam.vac != "Yes" and exam.dap != "Yes" and _SENSORY_MAY_BE_ABSENT.issuperset(s45):
        return "C,I"
    return "I"


def _sensory_preserved(exam: _Exam) -> tuple[bool, bool]:
    """Can there be sacral sensory sparing (DAP, or any S4-5 sensation)? (result, variable)."""
    s45 = exam.s45
    if s45 == _S45_ABSENT:
        return exam.dap != "No", False
    return True, exam.dap == "No" and _ZERO_ANY.issuperset(s45)


_ZERO_OR_STAR: Final = frozenset({"0", "0*"})
_ZERO_OR_STARSTAR: Final = frozenset({"0", "0**"})
_ZERO_ANY: Final = frozenset({"0", "0*", "0**"})


# The level lists the walks produce (``C5``, ``C6*,C7``, ``S3,INT``) recur from exam to exam: what the AIS and ZPP
# rules derive from them alone is computed once per distinct list.


@lru_cache(maxsize=4096)
def _keys_more_than_three_below(motor_level: str) -> tuple[tuple[int, ...], ...]:
    """For each possible motor level, the level indices of the key muscles more than three levels below it."""
    return tuple(
        _KEY_IDX[_start_key(_S45 if m.startswith("INT") else _level_index(m) + 4) :] for m in motor_level.split(",")
    )


@lru_cache(maxsize=4096)
def _c_starts(nli: str) -> tuple[int, ...]:
    """For each possible NLI, the position in MYOTOMES of the first key muscle below it (10: none)."""
    return tuple(_start_key(_level_index(level) + 1) for level in nli.replace("*", "").split(","))


@lru_cache(maxsize=4096)
def _d_starts(nli: str) -> tuple[int, ...]:
    """As :func:`_c_starts`, for the possible NLIs before INT: the reference's D test stops there."""
    levels = nli.replace("*", "").split(",")
    if "INT" in levels:
        levels = levels[: levels.index("INT")]
    return tuple(_start_key(_IDX[level] + 1) for level in levels)


def _no_motor_more_than_three_below(side: _Side, motor_level: str) -> tuple[bool, bool]:
    """Can this side have no motor function more than three levels below its motor level? (result, variable)."""
    variable = False
    motor, non_key = side.motor, side.non_key
    for below in _keys_more_than_three_below(motor_level):
        for i in below:
            v = motor[i]
            if v in ("0*", "0**"):
                variable = True
            if v not in _MOTOR_MAY_BE_ABSENT or i == non_key:
                break
        else:
            return True, variable
    return False, False


def _motor_more_than_three_below(side: _Side, motor_level: str) -> tuple[bool, bool]:
    """Can this side have motor function (key or non-key muscle) more than three levels below its motor level?"""
    variable = False
    motor, non_key = side.motor, side.non_key
    for below in _keys_more_than_three_below(motor_level):
        for i in below:
            v = motor[i]
            if v == "0**":
                variable = True
            if v != "0" or i == non_key:
                return True, variable
    return variable, variable


# Per key-muscle cell: counts towards "grade below 3" (C) / "grade 3 or more" (D), and whether only thanks to a star.
_C_COUNT: Final[dict[str, int]] = {v: int(v in ("0", "1", "2", "NT", "NT*") or v in _WEAK_STAR) for v in MOTOR_VALUES}
_C_VARIABLE: Final[dict[str, int]] = {v: int(v in _WEAK_STAR) for v in MOTOR_VALUES}
_D_COUNT: Final[dict[str, int]] = {v: int(v not in _WEAK) for v in MOTOR_VALUES}
_D_VARIABLE: Final[dict[str, int]] = {v: int(v in _WEAK_STAR or v in _WEAK_STARSTAR) for v in MOTOR_VALUES}


def _less_than_half_at_least_3(exam: _Exam, nli: str) -> tuple[bool, bool]:
    """AIS C test: can more than half of the key muscles below the NLI have a grade below 3? (result, variable)"""
    left, right = exam.left.keys, exam.right.keys
    for start in _c_starts(nli):
        half = 10 - start
        below = left[start:] + right[start:]
        count = sum(map(_C_COUNT.__getitem__, below))
        if count > half:
            return True, count - sum(map(_C_VARIABLE.__getitem__, below)) <= half
    return False, False


def _at_least_half_at_least_3(exam: _Exam, nli: str) -> tuple[bool, bool]:
    """AIS D test: can at least half of the key muscles below the NLI have grade 3 or more? (result, variable)"""
    result = False
    left, right = exam.left.keys, exam.right.keys
    for start in _d_starts(nli):
        half = 10 - start
        if half == 0:
            return True, False
        below = left[start:] + right[start:]
        count = sum(map(_D_COUNT.__getitem__, below))
        if count >= half:
            if count - sum(map(_D_VARIABLE.__getitem__, below)) >= half:
                return True, False
            result = True
    return result, result


class _AisParts(NamedTuple):
    """The partial findings from which the AIS is assembled (kept for explanations)."""

    normal: str | None  # "E"/"E*" when the NLI is INT and VAC is Yes, decided before anything else
    a: str | None
    b: str | None
    sensory_preserved: tuple[bool, bool]
    motor_not_preserved: tuple[bool, bool, bool, bool]  # right result, left result, right var, left var
    motor_incomplete: tuple[bool, bool]
    motor_incomplete_sides: tuple[tuple[bool, bool], tuple[bool, bool]] | None  # (right, left) when tested
    c: str | None
    d: str | None
    e: str | None

    @property
    def grade(self) -> str:
        if self.normal is not None:
            return self.normal
        return ",".join(g for g in (self.a, self.b, self.c, self.d, self.e) if g is not None)


def _ais_parts(exam: _Exam, injury_complete: str, motor_right: str, motor_left: str, nli: str) -> _AisParts:
    """Every AIS finding of the reference's ``determineASIAImpairmentScale``, in its order."""
    vac = exam.vac
    if vac == "Yes" and nli in ("INT", "INT*"):
        return _AisParts("E" if nli == "INT" else "E*", None, None, (False, False), (False, False, False, False),
                         (False, False), None, None, None, None)  # fmt: skip

    a = ("A*" if "*" in injury_complete else "A") if "C" in injury_complete else None

    # B: sensory but no motor function preserved more than three levels below the motor level on either side.
    preserved = _sensory_preserved(exam)
    r_none, r_none_var = _no_motor_more_than_three_below(exam.right, motor_right)
    l_none, l_none_var = _no_motor_more_than_three_below(exam.left, motor_left)
    not_preserved = vac != "Yes" and r_none and l_none
    not_preserved_var = vac == "No" and (l_none_var or r_none_var)
    b = None
    if preserved[0] and not_preserved:
        b = "B*" if preserved[1] or not_preserved_var else "B"

    # C and D need motor incompleteness: VAC, or sacral sensory sparing with motor function more than three
    # levels below the motor level on some side (a non-key muscle counts).
    sides = None
    if vac != "No":
        incomplete = (True, False)
    elif preserved[0]:
        right = _motor_more_than_three_below(exam.right, motor_right)
        left = _motor_more_than_three_below(exam.left, motor_left)
        sides = (right, left)
        incomplete = (right[0] or left[0], (right[0] or left[0]) and (right[1] or left[1]))
    else:
        incomplete = (False, False)

    c = d = None
    if incomplete[0]:
        c_result, c_var = _less_than_half_at_least_3(exam, nli)
        if c_result:
            # C is starred as well when it would not hold if every starred cell were taken at face value.
            if c_var or incomplete[1]:
                c = "C*"
            else:
                plain = exam.without_stars()
                c = "C" if plain is exam or _less_than_half_at_least_3(plain, _neurological_level(plain))[0] else "C*"
        d_result, d_var = _at_least_half_at_least_3(exam, nli)
        if d_result:
            d = "D*" if d_var or incomplete[1] else "D"

    e = None
    if vac != "No":
        if "INT*" in nli:
            e = "E*"
        elif "INT" in nli:
            e = "E"
    return _AisParts(None, a, b, preserved, (r_none, l_none, r_none_var, l_none_var), incomplete, sides, c, d, e)


# --------------------------------------------------------------------------------------------------------------
# Zones of partial preservation
# --------------------------------------------------------------------------------------------------------------


def _sensory_zpp(side: _Side, dap: str) -> str:
    """Most caudal dermatome with some sensation, walking up from S3; ``NA`` when S4-5 is (or may be) spared."""
    lt45, pp45 = side.lt[_S45], side.pp[_S45]
    if dap == "Yes" or lt45 not in _SENSORY_MAY_BE_ABSENT or pp45 not in _SENSORY_MAY_BE_ABSENT:
        return "NA"
    zpp: list[str] = []
    if dap == "NT" or _ZPP_KIND[lt45, pp45] != 0:
        zpp.append("NA")
    levels: list[str] = []
    variable = False
    lt, pp = side.lt, side.pp
    for i in range(_S3, 0, -1):
        kind = _ZPP_KIND[lt[i], pp[i]]
        if kind == 0:
            continue
        if kind == 3:
            levels.append(LEVELS[i] + "*")
            variable = True
            continue
        levels.append(_name(i, variable))
        if kind == 1:
            break
    else:
        levels.append("C1")
    levels.reverse()
    zpp.extend(levels)
    return ",".join(zpp)


@lru_cache(maxsize=4096)
def _zpp_range(motor_level: str) -> tuple[int, int, tuple[int, ...]]:
    """The motor ZPP's range for a motor level (the reference's ``getTopAndBottomLevelsForCheck``): its top (the
    first motor level), its bottom (S1, or the lowest motor level when it lies below S1; S3 for INT), and the
    levels its walk up from the bottom stops at: key muscles and the listed motor levels without one."""
    names = motor_level.replace("*", "").split(",")
    top = _IDX[names[0]]
    lowest = names[-1]
    below_s1 = any(n in ("S2", "S3", "INT") for n in names)
    bottom = (_S3 if lowest == "INT" else _IDX[lowest]) if below_s1 else _S1
    stops = {i for i in _KEY_IDX if top <= i <= bottom}
    stops.update(i for i in map(_IDX.get, names) if i is not None)
    return top, bottom, tuple(sorted(stops, reverse=True))


def _first_starred(cells: list[str]) -> int:
    """Index of the first cell with a ``*`` (``_N`` when none), found by the C string functions."""
    joined = "|".join(cells)
    position = joined.find("*")
    return _N if position < 0 else joined.count("|", 0, position)


def _motor_zpp(side: _Side, vac: str, ais: str, motor_level: str) -> str:
    """Most caudal level with motor function below the motor level, walking up from S1 (or the lowest motor
    level when it lies below S1) to the motor level; the reference's step machine ``determineMotorZPP``.

    ``NA`` applies with VAC (certainly, with Yes; possibly, with NT). With an AIS that may be C, a non-key muscle
    more than three levels below a level replaces that level in the zone.
    """
    if vac == "Yes":
        return "NA"
    zpp: list[str] = ["NA"] if vac == "NT" else []
    top, bottom, walk = _zpp_range(motor_level)
    lt, pp, motor = side.lt, side.pp, side.motor

    # What the reference's getLevelsRange finds while walking from C1 to the bottom of the range: the first
    # starred cell and the end of the run of normal levels below the top, which together decide where a
    # ZPP level is starred. Without any star no level is.
    first_star = last_normal = -1
    if side.starred:
        first_star = min(_first_starred(lt), _first_starred(pp), _first_starred(motor))
        if first_star > bottom:
            first_star = -1
        last_normal = top + 1
        while last_normal <= bottom and _is_consecutive_normal(lt[last_normal], pp[last_normal], motor[last_normal]):
            last_normal += 1
        last_normal -= 1

    def name(i: int) -> str:
        """The level's name, starred as the reference's ``hasStarOnCurrentOrAboveLevel`` decides."""
        if first_star < 0:
            return LEVELS[i]
        m, t, p = motor[i], lt[i], pp[i]
        if m:
            star = "0*" in m
        else:
            star = (t[0].isdigit() and "*" in t) or (p[0].isdigit() and "*" in p) or first_star <= i <= last_normal
        return _name(i, star)

    non_key = side.non_key
    # With an AIS that may be C, levels more than three above the non-key muscle give way to it.
    override_above = non_key - 3 if non_key is not None and "C" in ais.upper() else -1
    add_non_key = non_key_added = False
    found: list[tuple[int, str]] = []
    for i in walk:
        m = motor[i]
        if not m:  # a listed motor level without key muscle is part of the zone
            if i < override_above:
                add_non_key = True
            else:
                found.append((i, name(i)))
            continue
        if m == "0":
            continue
        if i < override_above:
            add_non_key = True
        else:
            found.append((i, name(i)))
            non_key_added = non_key_added or i == non_key
        if m not in _MOTOR_MAY_BE_ABSENT:
            break  # motor function: the zone ends here; NT or 0 not due to SCI: keep going up
    if add_non_key and not non_key_added and non_key is not None:
        found.append((non_key, LEVELS[non_key]))
    found.sort()
    zpp.extend(level for _, level in found)
    return ",".join(zpp)


# --------------------------------------------------------------------------------------------------------------
# Totals
# --------------------------------------------------------------------------------------------------------------


#: Totals as the reference prints them; a negative sum (a cell was not testable) is missing, hence ``ND``.
_TOTAL_TEXT: Final[dict[int, str]] = {n: str(n) for n in range(113)}


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------


def classify(exam: IsncsciExam) -> IsncsciClassification:
    """Classify an exam exactly as the reference algorithm does; every field is filled.

    Values are the reference's strings: levels (``C6``, ``INT``), possibilities (``C5,C6``, ``B,C,D``), ``*``
    when an answer relies on a cell marked as impaired for a reason other than the SCI, ``ND`` for a total that
    includes an NT cell, ``NA`` for a zone of partial preservation that does not apply. As in the reference, a
    lowest non-key muscle at a level without key muscle (T2-L1) is ignored.
    """
    return _model(_classify(_Exam.read(exam)))


def classify_cells(right: SideCells, left: SideCells, vac: str, dap: str) -> IsncsciClassification:
    """Classify an exam given as its checked cells, exactly as :func:`classify` classifies the record holding them.

    For readers that can check the cells more cheaply than building the record does (a file of thousands of exams,
    where validating each record would cost more than classifying it); the values are not checked again here.
    """
    return _model(_classify(_Exam.of(right, left, vac, dap)))


def totals_of_cells(right: SideCells, left: SideCells, vac: str, dap: str) -> dict[str, str]:
    """``classify_cells(...).model_dump(by_alias=True)``: the reference's ``totals`` object, for callers that only
    print the classification (building and dumping the model costs about a fifth of classifying the exam)."""
    return dict(zip(_ALIASES, _classify(_Exam.of(right, left, vac, dap)), strict=True))


def _classify(ex: _Exam) -> tuple[str, ...]:
    """Every value of the classification, in the order of :class:`IsncsciClassification`'s fields."""
    right, left = ex.right, ex.left
    sensory_right = _sensory_level(right)
    sensory_left = _sensory_level(left)
    motor_right = _motor_level(right, ex.vac)
    motor_left = _motor_level(left, ex.vac)
    nli = _neurological_level(ex)
    injury_complete = _injury_complete(ex)
    ais = _ais_parts(ex, injury_complete, motor_right, motor_left, nli).grade

    # C1's placeholder "2" is not scored.
    r_upper, r_lower = _motor_score(right.keys[:5]), _motor_score(right.keys[5:])
    l_upper, l_lower = _motor_score(left.keys[:5]), _motor_score(left.keys[5:])
    r_touch, l_touch = _sensory_score(right.joined_lt) - 2, _sensory_score(left.joined_lt) - 2
    r_prick, l_prick = _sensory_score(right.joined_pp) - 2, _sensory_score(left.joined_pp) - 2

    total = _TOTAL_TEXT.get
    # In the order of IsncsciClassification's fields (_empty_model, _ALIASES).
    return (
        ais, injury_complete, nli, sensory_right, sensory_left, motor_right, motor_left,
        _sensory_zpp(right, ex.dap), _sensory_zpp(left, ex.dap),
        _motor_zpp(right, ex.vac, ais, motor_right), _motor_zpp(left, ex.vac, ais, motor_left),
        total(r_upper, "ND"), total(l_upper, "ND"), total(r_lower, "ND"), total(l_lower, "ND"),
        total(r_upper + r_lower, "ND"), total(l_upper + l_lower, "ND"),
        total(r_upper + l_upper, "ND"), total(r_lower + l_lower, "ND"),
        total(r_touch, "ND"), total(l_touch, "ND"), total(r_touch + l_touch, "ND"),
        total(r_prick, "ND"), total(l_prick, "ND"), total(r_prick + l_prick, "ND"),
    )  # fmt: skip


def _model(values: tuple[str, ...]) -> IsncsciClassification:
    # A copy of an empty classification updated with trusted values: every value is a string of the reference's
    # grammar, and this is several times cheaper than validating or model_construct.
    empty, fields = _empty_model()
    return empty.model_copy(update=dict(zip(fields, values, strict=True)))


@lru_cache(maxsize=1)
def _empty_model() -> tuple[IsncsciClassification, tuple[str, ...]]:
    """An empty classification and the names of its fields (the model is imported on first use)."""
    from fhirbridge.records.isncsci import IsncsciClassification

    return IsncsciClassification(), tuple(IsncsciClassification.model_fields)


#: The reference's ``totals`` keys, in the order of :class:`IsncsciClassification`'s fields (whose camelCase
#: aliases they are; ``tests/test_isncsci_praxis.py`` holds them to the model): what ``model_dump(by_alias=True)``
#: of a classification gives, written out so that printing totals does not import the model.
_ALIASES: Final[tuple[str, ...]] = (
    "asiaImpairmentScale", "injuryComplete", "neurologicalLevelOfInjury", "rightSensory", "leftSensory",
    "rightMotor", "leftMotor", "rightSensoryZpp", "leftSensoryZpp", "rightMotorZpp", "leftMotorZpp",
    "rightUpperMotorTotal", "leftUpperMotorTotal", "rightLowerMotorTotal", "leftLowerMotorTotal",
    "rightMotorTotal", "leftMotorTotal", "upperMotorTotal", "lowerMotorTotal", "rightTouchTotal",
    "leftTouchTotal", "touchTotal", "rightPrickTotal", "leftPrickTotal", "prickTotal",
)


@dataclass(frozen=True, slots=True)
class AisDecision:
    """The AIS grade with the finding behind each grade admitted (``("C", "…")``) or ruled out
    (``("not A", "…")``), admitted grades first."""

    grade: str
    findings: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        parts = [f"{label}: {text}" for label, text in self.findings]
        if "," not in self.grade and self.findings and self.findings[0][0] == self.grade:
            parts[0] = self.findings[0][1]  # a single grade: its finding needs no label
        return f"AIS {self.grade} — " + "; ".join(parts)


def _side_names(right: bool, left: bool) -> str:
    return "both sides" if right and left else "the right side" if right else "the left side"


def _starred(grade: str | None) -> str:
    return " (relying on a cell marked * or **)" if grade and grade.endswith("*") else ""


def decide_ais(exam: IsncsciExam) -> AisDecision:
    """The AIS grade of an exam with the rules that decided it, for explanations in validation reports."""
    ex = _Exam.read(exam)
    motor_right = _motor_level(ex.right, ex.vac)
    motor_left = _motor_level(ex.left, ex.vac)
    nli = _neurological_level(ex)
    injury_complete = _injury_complete(ex)
    parts = _ais_parts(ex, injury_complete, motor_right, motor_left, nli)
    if parts.normal is not None:
        why = f"sensation and motor function are normal in all segments (NLI {nli}) and VAC is Yes"
        return AisDecision(parts.grade, ((parts.normal, f"{why}{_starred(parts.normal)}"),))

    admitted: list[tuple[str, str]] = []
    ruled_out: list[tuple[str, str]] = []
    s45 = ", ".join(ex.s45)
    sacral = f"VAC {ex.vac}, DAP {ex.dap}, S4-5 light touch/pin prick {s45}"
    if parts.a is not None:
        why = "no sacral sparing" if injury_complete == "C" else "sacral sparing not established"
        admitted.append((parts.a, f"{why} ({sacral}){_starred(parts.a)}"))
    else:
        spared = [w for w, ok in (("VAC present", ex.vac == "Yes"), ("DAP present", ex.dap == "Yes")) if ok]
        ruled_out.append(("not A", f"sacral sparing ({' and '.join(spared) if spared else sacral})"))

    preserved = parts.sensory_preserved[0]
    r_none, l_none, _, _ = parts.motor_not_preserved
    if parts.b is not None:
        admitted.append((
            parts.b,
            "sacral sensory sparing but no motor function more than three levels below the motor level on either "
            f"side (motor levels right {motor_right}, left {motor_left}){_starred(parts.b)}",
        ))  # fmt: skip
    elif ex.vac == "Yes":
        ruled_out.append(("not B", "VAC present"))
    elif preserved:
        sides = _side_names(not r_none, not l_none)
        ruled_out.append(("not B", f"motor function more than three levels below the motor level on {sides}"))

    if parts.motor_incomplete[0]:
        if ex.vac != "No":
            why = f"motor incomplete (VAC {ex.vac})"
        else:
            (r_ok, _), (l_ok, _) = parts.motor_incomplete_sides or ((False, False), (False, False))
            why = (
                "motor incomplete by sacral sensory sparing with motor function (key or non-key muscle) more than "
                f"three levels below the motor level on {_side_names(r_ok, l_ok)}"
            )
        if parts.c is not None:
            admitted.append((parts.c, f"{why} and fewer than half of the key muscles below NLI {nli} with grade 3 "
                                      f"or more{_starred(parts.c)}"))  # fmt: skip
        if parts.d is not None:
            admitted.append((parts.d, f"{why} and at least half of the key muscles below NLI {nli} with grade 3 "
                                      f"or more{_starred(parts.d)}"))  # fmt: skip
    elif preserved:
        ruled_out.append(
            ("not C/D", "no VAC and no motor function more than three levels below the motor level on either side")
        )
    else:
        ruled_out.append(("not C/D", "no VAC and no sacral sensory sparing"))

    if parts.e is not None:
        admitted.append((parts.e, f"NLI may be INT ({nli}) and VAC is {ex.vac}{_starred(parts.e)}"))
    return AisDecision(parts.grade, (*admitted, *ruled_out))


def explain_ais(exam: IsncsciExam) -> str:
    """One sentence stating the rules that decided the AIS grade of an exam."""
    return str(decide_ais(exam))
