"""The CSV layout spec: which files hold which records, and which column feeds which record field."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import is_typeddict

from fhirbridge.domains.isncsci.structure import DERMATOMES, MYOTOMES, SIDES
from fhirbridge.mapping.date_formats import check_format
from fhirbridge.mapping.loader import bundled, load_model
from fhirbridge.records import (
    AdverseEvent,
    Harvest,
    Infusion,
    IsncsciExam,
    Record,
    ScimAssessment,
    Study,
    Subject,
)

RECORD_TYPES: dict[str, type[Record]] = {
    "study": Study,
    "subject": Subject,
    "harvest": Harvest,
    "infusion": Infusion,
    "isncsci_exam": IsncsciExam,
    "scim_assessment": ScimAssessment,
    "adverse_event": AdverseEvent,
}
ColumnType = Literal["str", "int", "float", "date", "datetime", "bool", "list", "checkboxes"]
#: The placeholder of a column name that differs per visit (``ais_{visit}`` → ``ais_v1``), see ``FileSpec.visits``.
VISIT = "{visit}"
#: The fields that identify a record (every kind's ``key()`` is made of them); a row of a file read by several
#: file specs that fills these alone for a kind holds no record of that kind (a REDCap row of another instrument).
KEY_FIELDS = frozenset({"study_id", "subject_id", "visit", "ae_id", "harvest_id", "infusion_id"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnSpec(Strict):
    """Where one record field comes from. ``checkboxes`` reads a REDCap checkbox field: the columns
    ``COLUMN___CODE`` hold 1/0 (or Checked/Unchecked), and the field is the list of the codes checked."""

    column: str = Field(min_length=1)
    type: ColumnType = "str"
    values: str | None = None
    optional: bool = False


class IsncsciCells(Strict):
    """A column-name template for the 132 raw exam cells: ``{side}``, ``{level}`` and ``{modality}``."""

    template: str
    sides: dict[Literal["right", "left"], str]
    modalities: dict[Literal["motor", "light_touch", "pin_prick"], str]
    levels: dict[str, str] = {}
    lowercase: bool = False

    @field_validator("template")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        for needed in ("{side}", "{level}", "{modality}"):
            if needed not in v:
                raise ValueError(f"template must contain {needed}")
        return v

    @field_validator("sides", "modalities", "levels", mode="before")
    @classmethod
    def _text_names(cls, v: Any) -> Any:
        return {str(k): str(c) for k, c in v.items()} if isinstance(v, dict) else v

    def columns(self) -> dict[str, str]:
        """Field path (``right.motor.C5``) → column name, for every cell."""
        out: dict[str, str] = {}
        for side in SIDES:
            for modality, levels in (("motor", MYOTOMES), ("light_touch", DERMATOMES), ("pin_prick", DERMATOMES)):
                for level in levels:
                    name = self.levels.get(level, level.lower() if self.lowercase else level)
                    out[f"{side}.{modality}.{level}"] = self.template.format(
                        side=self.sides[side], level=name, modality=self.modalities[modality],  # type: ignore[index]
                        visit=VISIT)
        return out


class FileSpec(Strict):
    """One kind of record in the files matching ``file``. Several file specs with the same ``file`` read the same
    file (a wide or long export, a REDCap project); ``where`` keeps the rows whose cells are among the values given
    (a blank for an empty cell); ``visits`` reads one record per visit from each row, through column names with the
    ``{visit}`` placeholder (visit name → the text put in its place)."""

    file: str = Field(min_length=1, description="glob matched against the input file name")
    name: str | None = Field(default=None, min_length=1, description="the file name written (default: the glob "
                             "without its *)")
    record: Literal[
        "study", "subject", "harvest", "infusion", "isncsci_exam", "scim_assessment", "adverse_event"
    ]
    columns: dict[str, ColumnSpec]
    constants: dict[str, Any] = {}
    isncsci_cells: IsncsciCells | None = None
    where: dict[str, list[str]] = {}
    visits: dict[str, str] = {}

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: {"column": c} if isinstance(c, str) else c for k, c in v.items()}
        return v

    @field_validator("where", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: [("" if x is None else str(x)) for x in (c if isinstance(c, list) else [c])]
                    for k, c in v.items()}
        return v

    @field_validator("visits", mode="before")
    @classmethod
    def _visit_names(cls, v: Any) -> Any:
        return {str(k): str(c) for k, c in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _fields_exist(self) -> FileSpec:
        record = RECORD_TYPES[self.record]
        for path in [*self.columns, *self.constants]:
            problem = _field_problem(record, path)
            if problem:
                raise ValueError(f"{path}: {problem}")
        if self.isncsci_cells is not None:
            if self.record != "isncsci_exam":
                raise ValueError("isncsci_cells is only meaningful for isncsci_exam files")
            # identifiers and the other named columns first, then the 132 worksheet cells
            self.columns = {
                **self.columns,
                **{path: ColumnSpec(column=col) for path, col in self.isncsci_cells.columns().items()},
            }
        self._check_visits()
        seen: dict[str, str] = {}
        for path, spec in self.columns.items():
            if spec.column in seen:
                raise ValueError(f"column {spec.column!r} is used by both {seen[spec.column]} and {path}")
            seen[spec.column] = path
        return self

    def _check_visits(self) -> None:
        templated = [p for p, c in self.columns.items() if VISIT in c.column]
        if not self.visits:
            if templated:
                raise ValueError(f"column {self.columns[templated[0]].column!r} of {templated[0]} has {VISIT}, "
                                 "but the file spec has no visits (visit name → the text of its columns)")
            return
        if "visit" not in RECORD_TYPES[self.record].model_fields:
            raise ValueError(f"visits: a {self.record} record has no visit")
        if "visit" in self.columns or "visit" in self.constants:
            raise ValueError("visits: the visit comes from the visits table; remove the visit column or constant")
        if not templated:
            raise ValueError(f"visits: no column name has the {VISIT} placeholder (e.g. ais_{VISIT})")


def nearest_first(name: str, names: list[str]) -> list[str]:
    """``names`` with the most similar to ``name`` first (for "did you mean" lists)."""
    return sorted(names, key=lambda n: -difflib.SequenceMatcher(None, name, n).ratio())


def _field_problem(model: type[BaseModel], path: str) -> str | None:
    """Why a dotted field path does not name a field of a record type (None when it does)."""
    head, _, rest = path.partition(".")
    field = model.model_fields.get(head)
    if field is None or head == "source":
        valid = nearest_first(head, [n for n in model.model_fields if n != "source"])
        return f"{model.__name__} has no field {head!r}; its fields are, nearest first: {', '.join(valid)}"
    if not rest:
        return None
    annotation = field.annotation
    options = (annotation,) if get_origin(annotation) is dict else get_args(annotation) or (annotation,)
    for candidate in options:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return _field_problem(candidate, rest)
        if get_origin(candidate) is dict and "." not in rest:
            return None
        if is_typeddict(candidate):
            if rest in candidate.__annotations__:
                return None
            valid = nearest_first(rest, list(candidate.__annotations__))
            return f"{head!r} has no member {rest!r}; its members are, nearest first: {', '.join(valid)}"
    return f"{head!r} has no sub-field {rest!r}"


class CsvLayout(Strict):
    """A whole CSV layout spec (see ``mappings/csv-default.yaml`` for the documented default)."""

    spec: Literal["fhirbridge/csv-layout"]
    version: str
    name: str
    description: str = ""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    missing: list[str] = [""]
    list_separator: str = ";"
    date_formats: list[str] = Field(min_length=1)
    datetime_formats: list[str] = []
    timezone: str = Field(default="Z", pattern=r"^(Z|[+-]\d{2}:\d{2})$")
    value_maps: dict[str, dict[str, Any]] = {}
    ignore_columns: list[str] = Field(default=[], description="globs of columns deliberately not read")
    files: dict[str, FileSpec] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("value_maps", mode="before")
    @classmethod
    def _codes_as_text(cls, v: Any) -> Any:
        """Codes are text as the export has them: a YAML number ``1`` is the code "1"."""
        if isinstance(v, dict):
            return {name: {("" if k is None else str(k)): c for k, c in table.items()}
                    if isinstance(table, dict) else table for name, table in v.items()}
        return v

    @field_validator("date_formats", "datetime_formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        for fmt in v:
            check_format(fmt)
        return v

    @model_validator(mode="after")
    def _maps_exist(self) -> CsvLayout:
        for name, spec in self.files.items():
            for path, column in spec.columns.items():
                if column.values is not None and column.values not in self.value_maps:
                    known = ", ".join(nearest_first(column.values, list(self.value_maps))) or "none"
                    raise ValueError(f"files.{name}.columns.{path}: unknown value map {column.values!r}; the "
                                     f"layout's value maps are, nearest first: {known}")
        for group in self.file_groups():
            if len(group) > 1 and any(self.files[n].record == "study" for n in group):
                raise ValueError(f"files.{group[0]}: a study file holds only the study; it shares its file "
                                 f"pattern with {', '.join(group[1:])}")
        return self

    def file_groups(self) -> list[list[str]]:
        """The file specs' names grouped by their ``file`` glob (several record kinds read from one file), in the
        layout's order."""
        groups: dict[str, list[str]] = {}
        for name, spec in self.files.items():
            groups.setdefault(spec.file.lower(), []).append(name)
        return list(groups.values())

    def one_file_per_kind(self) -> bool:
        """Whether every file holds one kind of record, one per row (the shapes fhirbridge can also write)."""
        return all(len(g) == 1 for g in self.file_groups()) and not any(
            s.visits or s.where or any(c.type == "checkboxes" for c in s.columns.values())
            for s in self.files.values())


def load_csv_layout(path: Path | None = None) -> CsvLayout:
    """Load a CSV layout spec; without a path, the default layout shipped with fhirbridge."""
    path = path or bundled("csv-default.yaml")
    layout = load_model(path, CsvLayout, "CSV layout spec", keys_as_written=True)
    layout.path = path
    return layout
