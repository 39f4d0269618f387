"""Dotted field paths (``right.motor.C5``, ``items.6``) into a dumped record, as mapping specs name fields."""

from __future__ import annotations

from typing import Any


def value_at(values: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of ``record.model_dump()``, or None where the path leads nowhere."""
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
