"""The CSV layout spec: which files hold which records, and which column feeds which record field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import is_typeddict

from fhirbridge.domains.isncsci.structure import DERMATOMES, MYOTOMES, SIDES
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
ColumnType = Literal["str", "int", "float", "date", "datetime", "bool", "list"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnSpec(Strict):
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

    def columns(self) -> dict[str, str]:
        """Field path (``right.motor.C5``) → column name, for every cell."""
        out: dict[str, str] = {}
        for side in SIDES:
            for modality, levels in (("motor", MYOTOMES), ("light_touch", DERMATOMES), ("pin_prick", DERMATOMES)):
                for level in levels:
                    name = self.levels.get(level, level.lower() if self.lowercase else level)
                    out[f"{side}.{modality}.{level}"] = self.template.format(
                        side=self.sides[side], level=name, modality=self.modalities[modality]  # type: ignore[index]
                    )
        return out


class FileSpec(Strict):
    file: str = Field(min_length=1, description="glob matched against the input file name")
    name: str | None = Field(default=None, min_length=1, description="the file name written (default: the glob "
                             "without its *)")
    record: Literal[
        "study", "subject", "harvest", "infusion", "isncsci_exam", "scim_assessment", "adverse_event"
    ]
    columns: dict[str, ColumnSpec]
    constants: dict[str, Any] = {}
    isncsci_cells: IsncsciCells | None = None

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: {"column": c} if isinstance(c, str) else c for k, c in v.items()}
        return v

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
        seen: dict[str, str] = {}
        for path, spec in self.columns.items():
            if spec.column in seen:
                raise ValueError(f"column {spec.column!r} is used by both {seen[spec.column]} and {path}")
            seen[spec.column] = path
        return self


def _field_problem(model: type[BaseModel], path: str) -> str | None:
    """Why a dotted field path does not name a field of a record type (None when it does)."""
    head, _, rest = path.partition(".")
    field = model.model_fields.get(head)
    if field is None or head == "source":
        return f"{model.__name__} has no field {head!r}"
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
            return None if rest in candidate.__annotations__ else f"{head!r} has no member {rest!r}"
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
    files: dict[str, FileSpec] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("date_formats", "datetime_formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        for fmt in v:
            try:
                dt.datetime(2001, 2, 3, 4, 5, 6).strftime(fmt)
            except ValueError as exc:
                raise ValueError(f"bad date format {fmt!r}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _maps_exist(self) -> CsvLayout:
        for name, spec in self.files.items():
            for path, column in spec.columns.items():
                if column.values is not None and column.values not in self.value_maps:
                    raise ValueError(f"files.{name}.columns.{path}: unknown value map {column.values!r}")
        return self


def load_csv_layout(path: Path | None = None) -> CsvLayout:
    """Load a CSV layout spec; without a path, the default layout shipped with fhirbridge."""
    path = path or bundled("csv-default.yaml")
    layout = load_model(path, CsvLayout, "CSV layout spec")
    layout.path = path
    return layout
