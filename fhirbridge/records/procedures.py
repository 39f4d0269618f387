"""The two procedures of the treatment: the bone-marrow harvest and the MSC infusion."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fhirbridge.records.base import SubjectRecord
from fhirbridge.records.dates import IsoDateTime, date_part

ProcedureStatus = Literal["completed", "not-done", "stopped", "in-progress"]


class Harvest(SubjectRecord):
    """Bone-marrow aspiration from which the autologous cell product is expanded."""

    harvest_id: str = Field(default="1", min_length=1)
    performed: IsoDateTime
    status: ProcedureStatus = "completed"
    body_site: str | None = None
    volume_ml: float | None = Field(default=None, gt=0)

    def key(self) -> tuple[str, ...]:
        return (self.study_id, self.subject_id, self.harvest_id)


class Infusion(SubjectRecord):
    """Intravenous infusion of the expanded autologous mesenchymal stem cells.

    ``harvest_id`` names the subject's harvest the product was expanded from, and ``processing`` how it was made
    (e.g. culture expansion in autologous serum), where the export gives them.
    """

    infusion_id: str = Field(default="1", min_length=1)
    start: IsoDateTime
    end: IsoDateTime | None = None
    status: ProcedureStatus = "completed"
    product: str = Field(min_length=1)
    lot: str | None = None
    total_cells: float | None = Field(default=None, gt=0)
    dose_per_kg: float | None = Field(default=None, gt=0, description="cells per kg body weight")
    volume_ml: float | None = Field(default=None, gt=0)
    route: Literal["intravenous"] = "intravenous"
    harvest_id: str | None = Field(default=None, min_length=1)
    processing: str | None = Field(default=None, min_length=1)

    def key(self) -> tuple[str, ...]:
        return (self.study_id, self.subject_id, self.infusion_id)

    @model_validator(mode="after")
    def _ordered(self) -> Infusion:
        if self.end is not None and (date_part(self.end) or "") < (date_part(self.start) or ""):
            raise ValueError(f"infusion ends ({self.end}) before it starts ({self.start})")
        return self
