"""Finding and reading mapping spec files, with errors that name the file and the key."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fhirbridge.errors import FhirbridgeError

M = TypeVar("M", bound=BaseModel)


class MappingError(FhirbridgeError):
    """A mapping spec that cannot be used; the message names the file and the offending key."""


def bundled(name: str) -> Path:
    """The path of a mapping spec shipped with the package (``csv-default.yaml``, ...)."""
    return Path(str(resources.files("fhirbridge.mappings").joinpath(name)))


def read_yaml(path: Path) -> Any:
    import yaml  # on first use: commands that read no mapping spec start without it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the CT file is 3,000 lines
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=loader)
    except OSError as exc:
        raise MappingError(f"{path}: cannot read mapping spec: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise MappingError(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def load_model(path: Path, model: type[M], kind: str) -> M:
    """Read a YAML file into a pydantic model; any schema error becomes a MappingError naming its key."""
    return validate_model(read_yaml(path), path, model, kind)


def validate_model(data: Any, path: Path, model: type[M], kind: str) -> M:
    """The model of a spec read from ``path``; any schema error becomes a MappingError naming its key."""
    if not isinstance(data, dict):
        raise MappingError(f"{path}: a {kind} must be a YAML mapping at the top level")
    try:
        return model.model_validate(data, context={"path": path})
    except ValidationError as exc:
        lines = [f"{path}: invalid {kind}:"]
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {key}: {err['msg'].removeprefix('Value error, ')}")
        raise MappingError("\n".join(lines)) from None
