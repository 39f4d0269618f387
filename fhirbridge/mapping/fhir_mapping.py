"""The FHIR mapping spec (``mappings/fhir-r4.yaml``): URLs, codes and code tables used by the FHIR spoke."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fhirbridge.mapping.loader import bundled, load_model


class CodeRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str
    code: str
    display: str | None = None


class Unit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    unit: str


#: Keys the FHIR writer looks up; a mapping spec lacking one is rejected when loaded, not mid-conversion.
REQUIRED: dict[str, set[str]] = {
    "systems": {
        "loinc", "snomed", "ucum", "meddra", "iso3166", "observation_category", "data_absent_reason",
        "condition_clinical", "condition_verification", "ae_seriousness", "ae_severity", "ae_outcome",
        "ae_causality", "isncsci",
        "isncsci_value", "sci_level", "ais_grade", "scim", "fhirbridge", "ae_relationship", "ae_action",
        "serious_criterion", "study_id", "registry_id",
        "subject_id", "record_id", "product_lot",
    },
    "profiles": {
        "Patient", "ResearchStudy", "ResearchSubject", "Condition", "isncsci_exam", "isncsci_value",
        "scim_panel", "scim_score", "infusion", "harvest", "BiologicallyDerivedProduct", "AdverseEvent",
        "Provenance",
    },
    "extensions": {
        "research_study", "procedure_used", "ae_occurrence", "ae_mitigating_action", "dose_per_kg", "volume",
        "route", "cell_count", "age", "serious_criterion",
    },
    "codes": {
        "spinal_cord_injury", "bone_marrow_aspiration", "stem_cell_transplantation", "intravenous_route",
        "iliac_crest", "ais", "category_exam", "category_survey", "method_reported", "method_computed",
        "method_summed", "active", "confirmed",
    },
    "units": {"cells_per_kg", "cells", "ml"},
    "value_maps": {
        "sex", "ae_severity", "ae_outcome", "ae_causality", "ae_serious_criterion", "procedure_status",
        "study_status",
    },
}  # fmt: skip


class FhirMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: Literal["fhirbridge/fhir-mapping"]
    version: str
    fhir_version: str
    canonical: str = Field(pattern=r"^https?://\S+[^/]$")
    systems: dict[str, str]
    profiles: dict[str, str]
    extensions: dict[str, str]
    codes: dict[str, CodeRef]
    units: dict[str, Unit]
    value_maps: dict[str, dict[str, str]]

    @model_validator(mode="before")
    @classmethod
    def _expand_canonical(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("canonical"), str):
            canonical = data["canonical"]
            for key in ("systems", "profiles", "extensions"):
                if isinstance(data.get(key), dict):
                    data[key] = {k: str(v).replace("{canonical}", canonical) for k, v in data[key].items()}
        return data

    @model_validator(mode="after")
    def _complete(self) -> FhirMapping:
        for section, keys in REQUIRED.items():
            missing = keys - set(getattr(self, section))
            if missing:
                raise ValueError(f"{section}: missing key(s) {', '.join(sorted(missing))}")
        for name, code in self.codes.items():
            if code.system not in self.systems:
                raise ValueError(f"codes.{name}.system: unknown system {code.system!r}")
        return self

    def coding(self, key: str) -> dict[str, str]:
        """A FHIR Coding for one of the named codes."""
        code = self.codes[key]
        coding = {"system": self.systems[code.system], "code": code.code}
        if code.display:
            coding["display"] = code.display
        return coding


def load_fhir_mapping(path: Path | None = None) -> FhirMapping:
    """The FHIR mapping spec at ``path`` (default: the bundled one), read once per file version: every reader,
    writer and checker uses it read-only, and the service reads FHIR for every request."""
    path = path or bundled("fhir-r4.yaml")
    return _load_fhir_mapping(path, path.stat().st_mtime_ns if path.exists() else 0)


@functools.lru_cache(maxsize=8)
def _load_fhir_mapping(path: Path, mtime: int) -> FhirMapping:
    return load_model(path, FhirMapping, "FHIR mapping spec")
