"""Finding and reading mapping spec files, with errors that name the file and the key."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fhirbridge.errors import FhirbridgeError

if TYPE_CHECKING:  # pydantic's models are loaded by the mapping models, when a spec is read
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")


class MappingError(FhirbridgeError):
    """A mapping spec that cannot be used; the message names the file and the offending key."""


def bundled(name: str) -> Path:
    """The path of a mapping spec shipped with the package (``csv-default.yaml``, ...)."""
    return Path(str(resources.files("fhirbridge.mappings").joinpath(name)))


def read_yaml(path: Path, keys_as_written: bool = False) -> Any:
    """The YAML document of ``path``; with ``keys_as_written`` every mapping key is the text written (``1`` and
    ``no`` stay "1" and "no": codes of an export are text, not YAML numbers or booleans)."""
    import yaml  # on first use: commands that read no mapping spec start without it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the CT file is 3,000 lines
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_text_keys_loader() if keys_as_written else loader)
    except OSError as exc:
        raise MappingError(f"{path}: cannot read mapping spec: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise MappingError(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def _text_keys_loader() -> type:
    import yaml

    class TextKeys(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml when present
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            self.flatten_mapping(node)
            return {key.value if isinstance(key, yaml.ScalarNode) else self.construct_object(key, deep=deep):
                    self.construct_object(value, deep=deep) for key, value in node.value}

    return TextKeys


def load_model(path: Path, model: type[M], kind: str, keys_as_written: bool = False) -> M:
    """Read a YAML file into a pydantic model; any schema error becomes a MappingError naming its key."""
    return validate_model(read_yaml(path, keys_as_written), path, model, kind)


def validate_model(data: Any, path: Path, model: type[M], kind: str) -> M:
    """The model of a spec read from ``path``; any schema error becomes a MappingError naming its key."""
    from pydantic import ValidationError

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
