"""The MedDRA system organ class of a preferred term, from the bundled code table (``mappings/meddra-soc.yaml``)."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, model_validator

from fhirbridge.mapping.loader import bundled, load_model

#: Where an event's SOC goes when its PT is not coded or not in the table.
UNKNOWN_SOC = "SOC not known"


class SocTable(BaseModel):
    """SOC names by code, and the SOC code of each PT code; every PT must point at a listed SOC."""

    model_config = ConfigDict(extra="forbid")

    socs: dict[str, str]
    preferred_terms: dict[str, str]

    @model_validator(mode="after")
    def _known_socs(self) -> SocTable:
        unknown = sorted(pt for pt, soc in self.preferred_terms.items() if soc not in self.socs)
        if unknown:
            raise ValueError(f"preferred term(s) {', '.join(unknown)} point at a SOC not listed under socs")
        return self


@cache
def soc_table() -> SocTable:
    return load_model(bundled("meddra-soc.yaml"), SocTable, "MedDRA SOC table")


def soc_of(pt_code: str | None) -> str:
    """The SOC name of a PT code, or ``UNKNOWN_SOC``."""
    table = soc_table()
    soc = table.preferred_terms.get(pt_code or "")
    return table.socs[soc] if soc else UNKNOWN_SOC
