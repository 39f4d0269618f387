"""Which record field a column of an export holds, by name only: the default layout's columns, the other names of
``mappings/column-names.yaml``, the ISNCSCI cell and SCIM-III item naming schemes. Nothing is matched by
likeness: a column is either known or listed as unknown for the person to map."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel, ConfigDict

from fhirbridge.domains.isncsci.structure import DERMATOMES, MYOTOMES
from fhirbridge.domains.scim import ITEMS
from fhirbridge.mapping.csv_layout import KEY_FIELDS, ColumnSpec, CsvLayout, FileSpec, load_csv_layout
from fhirbridge.mapping.loader import bundled, load_model

_NON_WORD = re.compile(r"[^0-9a-z]+")
_SCIM_ITEM = re.compile(r"^(?:scim_?(?:iii_?)?)?(?:item_?)?0?(\d{1,2})([ab])?(?:_[a-z_]*)?$")


def normal(name: str) -> str:
    """A name as compared: lower case, each run of other characters than letters and digits one underscore."""
    return _NON_WORD.sub("_", name.casefold()).strip("_")


class ColumnNames(BaseModel):
    """``mappings/column-names.yaml``: prefixes and other names of the default layout's fields, by record kind."""

    model_config = ConfigDict(extra="forbid")
    spec: str
    version: str
    prefixes: dict[str, list[str]]
    names: dict[str, dict[str, list[str]]]


@dataclass(frozen=True)
class Match:
    """A column's field in a record kind, and the default layout's spec of that field (type, value map)."""

    path: str
    spec: ColumnSpec


@dataclass(frozen=True)
class CellScheme:
    """An ISNCSCI cell naming scheme: the ``isncsci_cells`` block that names the cells this way."""

    template: str
    sides: tuple[str, str]
    modalities: tuple[str, str, str]
    s45: str
    upper: bool

    def column(self, side: int, modality: int, level: str) -> str:
        name = self.s45 if level == "S4-5" else level.lower()
        column = self.template.format(side=self.sides[side], level=name, modality=self.modalities[modality])
        return column.upper() if self.upper else column

    def columns(self) -> dict[str, str]:
        """Column name → cell field path."""
        out = {}
        for side_index, side in enumerate(("right", "left")):
            for index, modality in enumerate(("motor", "light_touch", "pin_prick")):
                for level in MYOTOMES if modality == "motor" else DERMATOMES:
                    out[self.column(side_index, index, level)] = f"{side}.{modality}.{level}"
        return out

    def probes(self) -> tuple[str, ...]:
        """Three cells of different side, modality and level: a header naming none of them is not this scheme."""
        return self.column(0, 0, "C5"), self.column(1, 1, "T1"), self.column(0, 2, "S4-5")

    def block(self) -> dict[str, object]:
        return {"template": self.template.upper().replace("{SIDE}", "{side}").replace("{LEVEL}", "{level}")
                .replace("{MODALITY}", "{modality}") if self.upper else self.template,
                "sides": {"right": self._case(self.sides[0]), "left": self._case(self.sides[1])},
                "modalities": {"motor": self._case(self.modalities[0]), "light_touch": self._case(self.modalities[1]),
                               "pin_prick": self._case(self.modalities[2])},
                "levels": {"S4-5": self._case(self.s45)}, "lowercase": not self.upper}

    def _case(self, token: str) -> str:
        return token.upper() if self.upper else token


_SIDES = (("r", "l"), ("right", "left"), ("rt", "lf"))
_MODALITIES = (("motor", "lt", "pp"), ("m", "lt", "pp"), ("mot", "lt", "pp"), ("motor", "light_touch", "pin_prick"),
               ("motor", "touch", "prick"), ("motor", "lighttouch", "pinprick"))
_S45 = ("s45", "s4_5", "s4-5")


@cache
def cell_schemes() -> tuple[CellScheme, ...]:
    """Every ISNCSCI cell naming scheme fhirbridge recognises."""
    return tuple(CellScheme(sep.join(order), sides, modalities, s45, upper)
                 for order in itertools.permutations(("{side}", "{level}", "{modality}"))
                 for sep, sides, modalities, s45, upper in itertools.product(("_", ""), _SIDES, _MODALITIES, _S45,
                                                                             (False, True)))


def best_cell_scheme(columns: list[str]) -> tuple[CellScheme, dict[str, str]] | None:
    """The scheme naming the most of ``columns`` (at least a third of the 132 cells), with its columns, if any."""
    present = set(columns)
    candidates = [(s, s.columns()) for s in cell_schemes() if present.intersection(s.probes())]
    if not candidates:
        return None
    best = max(candidates, key=lambda s: len(present & s[1].keys()))
    return best if len(present & best[1].keys()) >= 44 else None


class Matcher:
    """Matches columns (or REDCap fields) to the fields of each record kind of the default layout."""

    def __init__(self, layout: CsvLayout | None = None) -> None:
        self.layout = layout or load_csv_layout()
        known = load_model(bundled("column-names.yaml"), ColumnNames, "column names spec", keys_as_written=True)
        self.specs: dict[str, FileSpec] = {s.record: s for s in self.layout.files.values()}
        self.prefixes = known.prefixes
        self.by_name: dict[str, dict[str, Match]] = {}
        for kind, spec in self.specs.items():
            table = self.by_name.setdefault(kind, {})
            for path, column in spec.columns.items():
                table.setdefault(normal(column.column), Match(path, column))
            for path, others in known.names.get(kind, {}).items():
                for other in others:
                    table.setdefault(normal(other), Match(path, spec.columns[path]))

    def match(self, kind: str, name: str, label: str = "") -> Match | None:
        """The field of record kind ``kind`` that column ``name`` (with its label, if any) holds."""
        table = self.by_name.get(kind, {})
        spec = self.specs.get(kind)
        candidates = [normal(name)]
        candidates += [c.removeprefix(normal(p)).strip("_") for c in candidates[:1] for p in self.prefixes.get(kind, [])
                       if c.startswith(normal(p)) and c != normal(p)]
        candidates += [normal(label)] if label else []
        for candidate in candidates:
            if candidate in table:
                return table[candidate]
        if kind == "scim_assessment" and spec is not None and (item := _SCIM_ITEM.match(normal(name))):
            number = f"{int(item.group(1))}{(item.group(2) or '').upper()}"
            if number in ITEMS:
                return Match(f"items.{number}", spec.columns[f"items.{number}"])
        return None

    def kind_of(self, names: list[tuple[str, str]]) -> str | None:
        """The record kind most of the columns (name, label) belong to: at least two of its own fields (keys
        aside), and more than any other kind; None when no kind stands out."""
        scores = {}
        for kind in self.specs:
            if kind == "study":
                continue
            own = {m.path for n, label in names if (m := self.match(kind, n, label)) and m.path not in KEY_FIELDS}
            scores[kind] = len(own) + (132 if kind == "isncsci_exam" and best_cell_scheme([n for n, _ in names])
                                       else 0)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        if not ranked or ranked[0][1] < 2 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
            return None
        return ranked[0][0]
