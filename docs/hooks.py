"""MkDocs hooks: the reference pages written from the rule registry and the mapping specs, and a nav that lists
only the pages that exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

from fhirbridge.reference_pages import pages


def _present(items: list[Any], docs: Path) -> list[Any]:
    kept: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            (title, value), = item.items()
            if isinstance(value, list):
                value = _present(value, docs)
                if value:
                    kept.append({title: value})
            elif (docs / value).exists() or value in pages():
                kept.append(item)
        elif (docs / item).exists() or item in pages():
            kept.append(item)
    return kept


def on_config(config: Any) -> Any:
    config["nav"] = _present(config["nav"], Path(config["docs_dir"]))
    return config


def on_files(files: Files, config: Any) -> Files:
    for path, text in pages().items():
        files.append(File.generated(config, path, content=text))
    return files
