"""The documentation's reference pages, written from the facts themselves so that they cannot drift: the rule
registry, and the mapping specs (every CSV column, SDTM variable and FHIR element).

``docs/hooks.py`` calls ``pages()`` when the site is built; nothing here is checked in.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from fhirbridge.issues.registry import OPT_IN, RULES

#: The modules whose docstrings hold the table of FHIR elements each record field is written to.
_FHIR_WRITERS = ("write_subject", "write_isncsci", "write_scim", "write_procedures", "write_adverse_event")


def _cell(value: object) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = list(header)
    lines = [f"| {' | '.join(head)} |", f"|{'---|' * len(head)}"]
    lines += [f"| {' | '.join(_cell(c) for c in row)} |" for row in rows]
    return "\n".join(lines) + "\n"


def rules_page() -> str:
    """Every issue code of the registry, by layer's family (FB-IO, FB-CSV, ...)."""
    parts = ["# Rules\n\nEvery issue fhirbridge reports has one of these codes (`fhirbridge rules CODE` prints one; "
             "`--select` and `--ignore` take codes and prefixes). Written from the rule registry "
             "(`fhirbridge/issues/registry.py`).\n"]
    families: dict[str, list[object]] = {}
    for rule in RULES.values():
        families.setdefault(rule.code.rsplit("-", 1)[0], []).append(rule)
    for family, rules in families.items():
        parts.append(f"\n## {family}\n\n")
        parts.append(_table(("code", "severity", "layer", "title", "description"), (
            (f"`{r.code}`", r.severity + (" (opt-in)" if r.code in OPT_IN else ""), r.layer, r.title,  # type: ignore[attr-defined]
             r.description) for r in rules)))  # type: ignore[attr-defined]
    return "".join(parts)


def mappings_page() -> str:
    """The CSV layout's files and columns, the SDTM mapping's domains and variables, and the FHIR mapping's
    profiles, extensions and elements."""
    from fhirbridge.mapping.csv_layout import load_csv_layout
    from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
    from fhirbridge.mapping.sdtm_mapping import load_sdtm_mapping

    layout = load_csv_layout()
    parts = ["# Mappings\n\nWritten from the mapping specs shipped in `mappings/` when this site was built.\n",
             f"\n## CSV layout `{layout.name}` (`mappings/csv-default.yaml`)\n\n{layout.description}\n"]
    for spec in layout.files.values():
        parts.append(f"\n### `{spec.file}`: {spec.record}\n\n")
        parts.append(_table(("column", "record field", "type", "value map", "required"), (
            (f"`{c.column}`", f"`{path}`", c.type, c.values or "", "no" if c.optional else "yes")
            for path, c in spec.columns.items())))
        if spec.isncsci_cells is not None:
            parts.append(f"\nAnd the exam's cells: `{spec.isncsci_cells}`.\n")
    sdtm = load_sdtm_mapping()
    parts.append(f"\n## SDTM mapping `{sdtm.name}` (`mappings/sdtm-default.yaml`)\n\n{sdtm.description}\n")
    for name, domain in sdtm.domains.items():
        parts.append(f"\n### {name}: {domain.label}\n\n")
        parts.append(_table(("variable", "label", "core", "type", "codelist", "record field"), (
            (f"`{v}`", s.label, s.core, s.type, s.codelist or "", f"`{s.field}`" if s.field else s.constant or "")
            for v, s in (sdtm.dataset_variables(name) or {}).items())))
    fhir = load_fhir_mapping()
    parts.append(f"\n## FHIR mapping (`mappings/fhir-r4.yaml`, FHIR {fhir.fhir_version})\n\n")
    parts.append(_table(("profile", "canonical URL"), ((f"`{k}`", v) for k, v in fhir.profiles.items())))
    parts.append("\n")
    parts.append(_table(("extension", "definition"), ((f"`{k}`", v) for k, v in fhir.extensions.items())))
    for module in _FHIR_WRITERS:
        doc = importlib.import_module(f"fhirbridge.formats.fhir.{module}").__doc__ or ""
        parts.append(f"\n### `{module}`\n\n{doc.strip()}\n")
    return "".join(parts)


def pages() -> dict[str, str]:
    """The generated pages, by their path in the site."""
    return {"reference/rules.md": rules_page(), "reference/mappings.md": mappings_page()}
