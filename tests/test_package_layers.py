"""The packages depend on each other only downwards: the issue kernel on nothing, domain knowledge on nothing but
the kernel's neighbours below it, record-level checks on records and domains, never on a format."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fhirbridge"


def _imports(path: Path) -> set[str]:
    """The fhirbridge modules a module imports at its top level (not inside functions)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "fhirbridge":
                found.update(f"fhirbridge.{alias.name}" for alias in node.names)
            elif node.module.startswith("fhirbridge."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fhirbridge."))
    return found


#: package → the fhirbridge packages its modules may import at the top level
ALLOWED = {
    "issues": ("fhirbridge.issues", "fhirbridge.__version__"),
    "domains": ("fhirbridge.domains", "fhirbridge.records"),
    "checks": ("fhirbridge.checks", "fhirbridge.issues", "fhirbridge.records", "fhirbridge.domains"),
    "records": ("fhirbridge.records", "fhirbridge.domains"),
    # the HTML report sits on the engine's API, never on a spoke, the service or the CLI
    "report": ("fhirbridge.report", "fhirbridge.api", "fhirbridge.issues", "fhirbridge.records", "fhirbridge.domains",
               "fhirbridge.mapping", "fhirbridge.inputs", "fhirbridge.errors", "fhirbridge.formats.options",
               "fhirbridge.__version__"),
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_lies_below_it(package: str) -> None:
    modules = sorted((PACKAGE / package).rglob("*.py"))
    assert modules, f"no modules in fhirbridge/{package}"
    wrong = {f"{m.relative_to(PACKAGE)} imports {imported}" for m in modules for imported in _imports(m)
             if not imported.startswith(ALLOWED[package])}
    assert not wrong, sorted(wrong)
