"""A drafted layout spec, written as YAML a person reads and finishes: what was matched as data, what was not as
comments saying what to fill in. ``layout init`` (from CSV files) and ``layout from-redcap`` (from a REDCap data
dictionary) both make a ``Draft``; ``render`` writes it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.layouts.names import CellScheme, Match, Matcher
from fhirbridge.mapping.csv_layout import KEY_FIELDS, RECORD_TYPES, VISIT

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}


def q(value: Any) -> str:
    """A YAML scalar: plain when it reads back as the same text, else double-quoted (JSON strings are YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.casefold() not in _YAML_WORDS:
        return text
    quoted = json.dumps(text, ensure_ascii=False)  # escapes quotes, backslashes and control characters below 0x20
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"
                   for c in quoted)  # and YAML wants the other unprintable ones (DEL, C1, line separators) escaped


@dataclass
class DraftFile:
    """One file spec of the draft, and the columns of its file it leaves to the person."""

    name: str
    file: str
    record: str
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)  # field path → column spec
    constants: dict[str, str] = field(default_factory=dict)
    cells: CellScheme | None = None
    visits: dict[str, str] = field(default_factory=dict)  # visit → the text of its columns, for ``{visit}``
    notes: list[str] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)  # (column, what is known of it)

    def take(self, path: str, column: str, match: Match, **extra: Any) -> bool:
        """Read ``path`` from ``column`` (as the default layout types it); False when a column already reads it."""
        if path in self.columns:
            return False
        spec: dict[str, Any] = {"column": column}
        if match.spec.type != "str":
            spec["type"] = match.spec.type
        if match.spec.optional:
            spec["optional"] = True
        self.columns[path] = spec | extra
        return True

    def missing(self) -> list[str]:
        """Required fields of the record kind that nothing gives (comments for the person)."""
        model = RECORD_TYPES[self.record]
        given = {p.split(".")[0] for p in self.columns} | set(self.constants)
        return [n for n, f in model.model_fields.items() if f.is_required() and n not in given and n != "source"
                and not (n == "visit" and self.visits)]


@dataclass
class Draft:
    name: str
    description: str
    delimiter: str = ","
    date_formats: list[str] = field(default_factory=list)
    datetime_formats: list[str] = field(default_factory=list)
    timezone: str = "Z"
    value_maps: dict[str, dict[str, Any]] = field(default_factory=dict)
    map_notes: dict[str, list[str]] = field(default_factory=dict)
    ignore_columns: list[str] = field(default_factory=list)
    files: list[DraftFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unplaced: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)  # (file or form, columns)


def default_study(matcher: Matcher, pattern: str = "study*.csv") -> DraftFile:
    """The default layout's study file spec (exports rarely hold the study: a small study file beside them)."""
    spec = matcher.specs["study"]
    study = DraftFile("study", pattern, "study", notes=[
        "the study: a small file in the default layout's shape beside the export (study_id,title,...)"])
    for path, column in spec.columns.items():
        study.take(path, column.column, Match(path, column))
    return study


def render(draft: Draft) -> str:
    """The draft as a layout spec in YAML, with comments for everything left to the person."""
    out = [f"# {line}" if line else "#" for line in draft.notes]
    out += ["spec: fhirbridge/csv-layout", 'version: "1.0"', f"name: {q(draft.name)}",
            f"description: {q(draft.description)}", f"delimiter: {q(draft.delimiter)}", 'missing: [""]',
            'list_separator: ";"' if draft.delimiter != ";" else 'list_separator: ","',
            f"date_formats: [{', '.join(q(f) for f in draft.date_formats or ['%Y-%m-%d'])}]",
            f"datetime_formats: [{', '.join(q(f) for f in draft.datetime_formats)}]",
            f"timezone: {q(draft.timezone)}"]
    if draft.ignore_columns:
        out.append(f"ignore_columns: [{', '.join(q(c) for c in draft.ignore_columns)}]")
    out += ["", "value_maps:" if draft.value_maps else "value_maps: {}"]
    for name, table in draft.value_maps.items():
        out.append(f"  {q(name)}:")
        out += [f"    # {note}" for note in draft.map_notes.get(name, [])]
        out += [f"    {q(code)}: {q(value)}" for code, value in table.items()]
        if not table:
            out.append("    {}")
    out += ["", "files:"]
    for spec in draft.files:
        out += _file(spec)
    for where, columns in draft.unplaced:
        out.append(f"  # {where}: no kind of record matched; its columns are not read:")
        out += [f"  #   {column}{f'  ({about})' if about else ''}" for column, about in columns]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _file(spec: DraftFile) -> list[str]:
    out = [f"  {q(spec.name)}:"]
    out += [f"    # {note}" for note in spec.notes]
    out += [f"    file: {q(spec.file)}", f"    record: {spec.record}"]
    if spec.constants:
        out.append(f"    constants: {{{', '.join(f'{k}: {q(v)}' for k, v in spec.constants.items())}}}")
    if spec.visits:
        out.append(f"    visits: {{{', '.join(f'{q(v)}: {q(t)}' for v, t in spec.visits.items())}}}")
    for name in spec.missing():
        out.append(f"    # FILL IN: {name} is required and no column matched it")
    out.append("    columns:")
    keys = [p for p in spec.columns if p in KEY_FIELDS]
    for path in keys + [p for p in spec.columns if p not in KEY_FIELDS]:
        column = spec.columns[path]
        if set(column) == {"column"}:
            out.append(f"      {path}: {q(column['column'])}")
        else:
            out.append(f"      {path}: {{{', '.join(f'{k}: {q(v)}' for k, v in column.items())}}}")
    if spec.unmatched:
        out.append("      # FILL IN: not matched to a field (write `FIELD: COLUMN` to read one, or list it in "
                   "ignore_columns):")
        out += [f"      #   {column}{f'  ({about})' if about else ''}" for column, about in spec.unmatched]
    if spec.cells is not None:
        block = spec.cells.block()
        if spec.visits:
            block["template"] = f"{block['template']}_{VISIT}"
        out.append("    isncsci_cells:")
        out += [f"      {k}: {{{', '.join(f'{q(a)}: {q(b)}' for a, b in v.items())}}}" if isinstance(v, dict)
                else f"      {k}: {q(v)}" for k, v in block.items()]
    out.append("")
    return out
