"""The one place where FHIR model classes are imported.

fhir.resources ships R5 as its default package, plus R4B and STU3, but no R4. R4 content is checked
with the R4B models (the resources we use are the same in R4 and R4B); R5 content with the default
package, imported here explicitly and nowhere else.

fhirbridge itself checks, writes and reads FHIR with its own definitions (``checker/definitions.py``); the
models are the tests' oracle (``structure_errors``) and what exporting profiles builds on. Nothing that writes or
reads FHIR imports them.
"""

from __future__ import annotations

import importlib
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

Release = Literal["R4", "R4B", "R5"]
RELEASES: tuple[Release, ...] = ("R4", "R4B", "R5")
#: The FHIR version number of each release.
FHIR_VERSIONS: dict[Release, str] = {"R4": "4.0.1", "R4B": "4.3.0", "R5": "5.0.0"}
#: The default release, written unless another is asked for.
FHIR_RELEASE = FHIR_VERSIONS["R4"]


def model_class(release: Release, resource_type: str) -> type[BaseModel]:
    """The model of a resource or data type; raises KeyError for a name the release does not define."""
    # imported on first use: the models take long to import, and writing JSON or NDJSON never needs them
    if release == "R5":
        from fhir.resources import get_fhir_model_class as lookup
    else:
        from fhir.resources.R4B import get_fhir_model_class as lookup
    try:
        return lookup(resource_type)
    except (KeyError, ValueError, AttributeError):
        raise KeyError(resource_type) from None


@cache
def _is_resource_type(release: Release, name: str) -> bool:
    """Whether the models define ``name`` as a resource (the oracle's own answer; fhirbridge asks the
    definitions, ``checker.definitions.is_resource_type``)."""
    if not name[:1].isupper():
        return False
    try:
        fields = model_class(release, name).model_fields
    except KeyError:
        return False
    return "resourceType" in fields or "meta" in fields


def structure_errors(resource: dict[str, Any], release: Release = "R4") -> list[tuple[str, str]]:
    """Structural problems of one resource as (FHIRPath-like location, message); empty when valid."""
    name = resource.get("resourceType")
    if not isinstance(name, str) or not _is_resource_type(release, name):
        return [("resourceType", f"unknown resource type: {name!r}")]
    try:
        model_class(release, str(name)).model_validate(resource)
    except ValidationError as exc:
        return [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors()]
    return []


# element definitions ---------------------------------------------------------------------------------------

Kind = Literal["primitive", "complex", "resource", "xhtml"]
#: FHIR primitive types whose JSON form is not a string.
JSON_BOOLEAN, JSON_INTEGER, JSON_DECIMAL = "boolean", "integer", "decimal"
_INTEGERS = {"Integer", "UnsignedInt", "PositiveInt"}


@dataclass(frozen=True)
class Element:
    """One element of a FHIR type: its kind, its type (primitive name or model class) and cardinality."""

    name: str
    kind: Kind
    type: str  # primitive: its JSON kind (boolean, integer, decimal, string); complex: the type's name
    is_list: bool
    model: type[BaseModel] | None = None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The element type inside Optional[...] / List[...], and whether it is a list."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        elif origin is list:
            is_list, annotation = True, typing.get_args(annotation)[0]
        else:
            return annotation, is_list


def _element(name: str, annotation: Any) -> Element:
    inner, is_list = _unwrap(annotation)
    if typing.get_origin(inner) is typing.Annotated:
        marker = type(typing.get_args(inner)[1]).__name__
        if marker == "Xhtml":
            return Element(name, "xhtml", "string", is_list)
        json = JSON_INTEGER if marker in _INTEGERS else JSON_DECIMAL if marker == "Decimal" else "string"
        return Element(name, "primitive", json, is_list)
    if inner is bool:
        return Element(name, "primitive", JSON_BOOLEAN, is_list)
    path = vars(inner).get("_model_klass")
    if not isinstance(path, str):
        raise TypeError(f"element {name}: cannot tell the FHIR type of {inner!r}")
    module, _, cls = path.rpartition(".")
    model = getattr(importlib.import_module(module), cls)
    kind: Kind = "resource" if cls == "Resource" else "complex"
    return Element(name, kind, cls, is_list, model)


@cache
def elements(model: type[BaseModel]) -> dict[str, Element]:
    """The elements of a FHIR type (resource, data type or backbone element) in the specification's order."""
    # a field named as a Python keyword (Encounter.class, Task.for) is renamed and aliased to its JSON name
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    order = model.elements_sequence()  # type: ignore[attr-defined]
    return {name: _element(name, fields[name].annotation) for name in order}

