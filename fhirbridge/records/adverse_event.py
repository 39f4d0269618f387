"""An adverse event as recorded on the AE form."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from fhirbridge.records.base import SubjectRecord
from fhirbridge.records.dates import IsoDateTime

Severity = Literal["mild", "moderate", "severe"]
Relationship = Literal["not_related", "unlikely", "possible", "probable", "definite"]
Outcome = Literal["recovered", "recovering", "not_recovered", "recovered_with_sequelae", "fatal", "unknown"]
ActionTaken = Literal["dose_not_changed", "drug_withdrawn", "drug_interrupted", "not_applicable", "unknown"]
#: What the investigator judged the event's relationship against: the MSC infusion, the bone-marrow harvest, or both.
RelatedProcedure = Literal["infusion", "harvest", "both"]
SeriousCriterion = Literal[
    "death", "life_threatening", "hospitalization", "disability", "congenital_anomaly", "other_medically_important"
]


#: A MedDRA code: eight digits, whatever the level.
MeddraCode = Annotated[str, StringConstraints(pattern=r"^\d{8}$")]


class AdverseEvent(SubjectRecord):
    """``ae_id`` is the site's identifier of the event within the subject (its sequence number).

    ``meddra_code`` and ``meddra_term`` are the MedDRA preferred term the verbatim ``term`` was coded to
    (SDTM AEPTCD and AEDECOD). The other levels of the hierarchy (lowest level term, high level term, high
    level group term, primary system organ class) and the MedDRA version are kept when the export has them:
    MedDRA is licensed, so fhirbridge never looks them up, and a level the export lacks stays empty.
    ``related_procedure`` names what the ``relationship`` was judged against, when the export says so (None: the
    export does not name it, and no procedure is guessed).
    """

    ae_id: str = Field(min_length=1)
    term: str = Field(min_length=1)
    meddra_version: str | None = Field(default=None, pattern=r"^\d{1,2}\.\d$")
    meddra_llt_code: MeddraCode | None = None
    meddra_llt: str | None = None
    meddra_code: MeddraCode | None = None
    meddra_term: str | None = None
    meddra_hlt_code: MeddraCode | None = None
    meddra_hlt: str | None = None
    meddra_hlgt_code: MeddraCode | None = None
    meddra_hlgt: str | None = None
    meddra_soc_code: MeddraCode | None = None
    meddra_soc: str | None = None
    onset: IsoDateTime
    resolution: IsoDateTime | None = None
    severity: Severity | None = None
    serious: bool = False
    serious_criteria: list[SeriousCriterion] = []
    relationship: Relationship | None = None
    related_procedure: RelatedProcedure | None = None
    outcome: Outcome | None = None
    action_taken: ActionTaken | None = None

    def key(self) -> tuple[str, ...]:
        return (self.study_id, self.subject_id, self.ae_id)

    @model_validator(mode="after")
    def _judged(self) -> AdverseEvent:
        if self.related_procedure is not None and self.relationship is None:
            raise ValueError(f"related_procedure {self.related_procedure!r} names what the relationship was judged "
                             "against, but no relationship is given")
        return self
