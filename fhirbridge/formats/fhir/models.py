"""The one place where FHIR model classes are imported.

fhir.resources ships R5 as its default package, plus R4B and STU3, but no R4. R4 content is checked
with the R4B models (the resources we use are the same in R4 and R4B); never import the default
package by accident.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

FHIR_RELEASE = "4.0.1"


def structure_errors(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Structural problems of one resource as (FHIRPath-like location, message); empty when valid."""
    try:
        model = get_fhir_model_class(resource["resourceType"])
    except (KeyError, ValueError) as exc:
        return [("resourceType", f"unknown resource type: {exc}")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors()]
    return []
