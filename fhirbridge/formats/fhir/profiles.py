"""fhirbridge's StructureDefinitions and ValueSets, so that third-party validators can check its output.

One StructureDefinition per profile of the FHIR mapping spec, constraining the core resource as far as a
differential can say it plainly: the code a resource of the profile carries, the elements it always has, the
extensions it uses (sliced by URL), the components of a panel and the value sets they come from; one per
extension of fhirbridge's own (its value type and where it is used); and one ValueSet per CodeSystem of
fhirbridge, with every code. URLs and codes come from the mapping spec, code lists from the domain modules
(through ``terminology``): this module only says which goes where.

Profiles keep one canonical URL for R4 and R5 (as HL7's extension packs do); the R5 set differs where R5
resources do (``occurrence[x]`` and ``used`` on Procedure; ``code``, ``occurrence[x]`` and the severity
extension on AdverseEvent; ``productCategory`` as a Coding).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhirbridge import __version__
from fhirbridge.domains.isncsci.structure import EXAM_EXTRAS, cells
from fhirbridge.domains.scim import ITEMS
from fhirbridge.formats.fhir.context import FhirContext
from fhirbridge.formats.fhir.meddra import UPPER_LEVELS
from fhirbridge.formats.fhir.models import FHIR_VERSIONS, Release, elements, model_class
from fhirbridge.formats.fhir.terminology import code_systems
from fhirbridge.mapping.fhir_mapping import FhirMapping

Resource = dict[str, Any]
CORE = "http://hl7.org/fhir/StructureDefinition/"
#: Components of an ISNCSCI panel: every worksheet cell, VAC and DAP, and up to two lowest non-key muscles.
EXAM_COMPONENTS = (len(cells()) + 2, len(cells()) + len(EXAM_EXTRAS) + 1)  # + the non-SCI condition


@dataclass(frozen=True)
class Ext:
    """An extension a profile uses: the mapping spec's key, cardinality, and the releases it is used in."""

    key: str
    min: int = 0
    max: str = "1"
    releases: tuple[Release, ...] = ("R4", "R5")


@dataclass(frozen=True)
class Profile:
    key: str  # the mapping spec's profile key
    resource: str
    title: str
    description: str
    code: str | None = None  # the mapping spec's named code that the resource's code always holds
    own_code: tuple[str, str] | None = None  # or (system key, code) of one of fhirbridge's codes
    extensions: tuple[Ext, ...] = ()
    required: dict[Release, tuple[str, ...]] = field(default_factory=dict)  # elements with min 1, by release
    elements: tuple[dict[str, Any], ...] = ()  # further constraints, as differential elements (path: ...)


_STUDY_EXT = Ext("research_study", 0, "1")


def _both(*paths: str) -> dict[Release, tuple[str, ...]]:
    return {"R4": paths, "R5": paths}


PROFILES: tuple[Profile, ...] = (
    Profile("Patient", "Patient", "SCI trial participant", "A participant: the study's subject identifier, sex, birth "
            "date and age at enrolment.", extensions=(Ext("age"),), required=_both("identifier", "gender")),
    Profile("ResearchStudy", "ResearchStudy", "SCI trial", "The trial: its identifiers (study id, registry id), "
            "title, sponsor, country and treatment arm.", required={"R4": ("identifier",),
                                                                     "R5": ("identifier", "progressStatus")}),
    Profile("ResearchSubject", "ResearchSubject", "Enrolment in the SCI trial", "The subject's enrolment: USUBJID "
            "and site as identifiers, the enrolment date.", required=_both("identifier")),
    Profile("Condition", "Condition", "Spinal cord injury", "The injury that qualified the subject: its date and "
            "neurological level.", code="spinal_cord_injury",
            elements=({"path": "Condition.bodySite", "binding": ("extensible", "sci_level")},)),
    Profile("isncsci_exam", "Observation", "ISNCSCI examination", "The raw ISNCSCI worksheet: one component per "
            "cell (side, myotome or dermatome, modality) holding the value as written, VAC, DAP, the lowest "
            "non-key muscles and the non-SCI condition behind values marked *.", own_code=("isncsci", "isncsci-exam"),
            extensions=(_STUDY_EXT, Ext("visit", 1)), required=_both("identifier", "subject"),
            elements=({"path": "Observation.component", "min": EXAM_COMPONENTS[0], "max": str(EXAM_COMPONENTS[1])},
                      {"path": "Observation.component.code", "binding": ("required", "isncsci")},
                      {"path": "Observation.component.value[x]", "type": ["CodeableConcept", "string"]})),
    Profile("isncsci_value", "Observation", "ISNCSCI classification value", "One value of the classification of "
            "an exam (AIS grade, a level, a score, a zone of partial preservation), as reported by the site or "
            "computed by fhirbridge, derived from the exam panel, at the exam's visit.",
            extensions=(_STUDY_EXT, Ext("visit", 1)),
            required=_both("subject", "method", "derivedFrom"),
            elements=({"path": "Observation.code", "binding": ("extensible", "isncsci")},
                      {"path": "Observation.method", "binding": ("required", "fhirbridge")},
                      {"path": "Observation.value[x]", "type": ["integer", "string", "CodeableConcept"]})),
    Profile("scim_panel", "Observation", "SCIM-III assessment", "The 19 SCIM-III item scores as components (a "
            "missing score has a data-absent reason).", own_code=("scim", "panel"),
            extensions=(_STUDY_EXT, Ext("visit", 1)), required=_both("identifier", "subject"),
            elements=({"path": "Observation.component", "min": len(ITEMS), "max": str(len(ITEMS))},
                      {"path": "Observation.component.code", "binding": ("required", "scim")},
                      {"path": "Observation.component.value[x]", "type": ["integer"]})),
    Profile("scim_score", "Observation", "SCIM-III score", "A SCIM-III subscale or total score, reported or summed "
            "from the items, at the assessment's visit.", extensions=(_STUDY_EXT, Ext("visit", 1)),
            required=_both("subject", "method", "derivedFrom"),
            elements=({"path": "Observation.code", "binding": ("required", "scim")},
                      {"path": "Observation.method", "binding": ("required", "fhirbridge")},
                      {"path": "Observation.value[x]", "type": ["integer"]})),
    Profile("infusion", "Procedure", "MSC infusion", "The intravenous infusion of the autologous mesenchymal stem "
            "cells: when, the product used, dose per kg, volume and route.", code="stem_cell_transplantation",
            extensions=(_STUDY_EXT, Ext("procedure_used", 1, "1", ("R4",)), Ext("route", 1), Ext("dose_per_kg"),
                        Ext("volume")),
            required={"R4": ("identifier", "performed[x]"), "R5": ("identifier", "occurrence[x]", "used")}),
    Profile("harvest", "Procedure", "Bone-marrow harvest", "The bone-marrow aspiration the cell product is expanded "
            "from: when, where and how much.", code="bone_marrow_aspiration", extensions=(_STUDY_EXT, Ext("volume")),
            required={"R4": ("identifier", "performed[x]"), "R5": ("identifier", "occurrence[x]")}),
    Profile("BiologicallyDerivedProduct", "BiologicallyDerivedProduct", "Autologous MSC product", "The cell "
            "product of an infusion: its name, lot and cell count, the harvest it was collected by and how it was "
            "processed.",
            extensions=(Ext("cell_count"), Ext("collection_procedure"), Ext("processing", 0, "1", ("R5",))),
            required=_both("productCategory", "productCode")),
    Profile("AdverseEvent", "AdverseEvent", "Adverse event", "An adverse event as on the AE form: term and MedDRA "
            "coding (the preferred term, and the other levels the export gives), onset and resolution, seriousness "
            "and its criteria, severity, relationship to the infusion, outcome and action taken.",
            extensions=(Ext("serious_criterion", 0, "*"), *(Ext(level) for level in UPPER_LEVELS),
                        Ext("ae_occurrence", 0, "1", ("R4",)),
                        Ext("ae_mitigating_action", 0, "1", ("R4",)), Ext("ae_severity_r5", 0, "1", ("R5",))),
            required={"R4": ("identifier", "event", "date", "seriousness"),
                      "R5": ("identifier", "code", "occurrence[x]", "seriousness")}),
    Profile("Provenance", "Provenance", "fhirbridge conversion", "One conversion by fhirbridge: what it produced "
            "and from which input files.", required=_both("agent")),
)


@dataclass(frozen=True)
class ExtensionDefinition:
    """One of fhirbridge's own extensions: its value type, where it is used, and what it means."""

    key: str
    value: str
    contexts: tuple[str, ...]
    title: str
    description: str


EXTENSIONS: tuple[ExtensionDefinition, ...] = (
    ExtensionDefinition("visit", "string", ("Observation",), "Visit",
                        "The visit of the study schedule an assessment belongs to (BASELINE, DAY1, MONTH6, ...)."),
    ExtensionDefinition("dose_per_kg", "Quantity", ("Procedure",), "Dose per kg",
                        "The cells given per kilogram of body weight."),
    ExtensionDefinition("volume", "Quantity", ("Procedure",), "Volume",
                        "The volume infused or aspirated, in mL."),
    ExtensionDefinition("route", "CodeableConcept", ("Procedure",), "Route of administration",
                        "How the product was given (SNOMED CT route)."),
    ExtensionDefinition("cell_count", "Quantity", ("BiologicallyDerivedProduct",), "Cell count",
                        "The number of cells in the product."),
    ExtensionDefinition("collection_procedure", "Reference", ("BiologicallyDerivedProduct",), "Collection procedure",
                        "The Procedure that collected the source material of the product (the bone-marrow harvest)."),
    ExtensionDefinition("processing", "string", ("BiologicallyDerivedProduct",), "Processing",
                        "How the product was processed (e.g. culture expansion in autologous serum); R5 has no "
                        "processing element."),
    ExtensionDefinition("age", "Age", ("Patient",), "Age at enrolment",
                        "The participant's age in years when enrolled (when the birth date is not shared)."),
    ExtensionDefinition("serious_criterion", "CodeableConcept", ("AdverseEvent",), "Seriousness criterion",
                        "Why an adverse event is serious (death, hospitalisation, ...), with the matching HL7 "
                        "seriousness code."),
    ExtensionDefinition("meddra_level", "code", ("Coding",), "MedDRA level",
                        "The MedDRA level of a MedDRA Coding of an adverse event's term when it is not the "
                        "preferred term: LLT (lowest level term). Without it, a MedDRA Coding of the term is the "
                        "preferred term."),
    *(ExtensionDefinition(level, "Coding", ("AdverseEvent",), f"MedDRA {name}",
                          f"The MedDRA {name} of an adverse event's preferred term, as the export gives it (it is "
                          "never looked up).") for level, name in UPPER_LEVELS.items()),
)


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _pascal(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace("-", " ").replace("_", " ").split())


def value_set_url(mapping: FhirMapping, system_key: str) -> str:
    """The ValueSet of all codes of one of fhirbridge's CodeSystems: ``<canonical>/ValueSet/<code system id>``."""
    return f"{mapping.canonical}/ValueSet/{_name(mapping.systems[system_key])}"


def value_sets(mapping: FhirMapping) -> list[Resource]:
    out = []
    for system in code_systems(mapping):
        key = next(k for k, url in mapping.systems.items() if url == system["url"])
        url = value_set_url(mapping, key)
        out.append({
            "resourceType": "ValueSet", "id": _name(url), "url": url, "version": __version__,
            "name": system["name"], "title": f"{system['title']} (all codes)", "status": "active",
            "experimental": False, "publisher": "fhirbridge",
            "description": f"Every code of the CodeSystem {system['url']}.",
            "compose": {"include": [{"system": system["url"]}]},
        })
    return out


def _common(url: str, title: str, description: str, release: Release) -> Resource:
    return {"resourceType": "StructureDefinition", "id": _name(url), "url": url, "version": __version__,
            "name": _pascal(_name(url)), "title": title, "status": "active", "experimental": False,
            "publisher": "fhirbridge", "description": description, "fhirVersion": FHIR_VERSIONS[release]}


def _element(path: str, **constraints: Any) -> dict[str, Any]:
    return {"id": path, "path": path, **constraints}


def structure_definition(mapping: FhirMapping, profile: Profile, release: Release) -> Resource:
    ctx = FhirContext(mapping, release)
    rtype = profile.resource
    elements = [_element(rtype, short=profile.title, definition=profile.description)]
    extensions = [e for e in profile.extensions if release in e.releases]
    if extensions:
        elements.append(_element(f"{rtype}.extension", slicing={
            "discriminator": [{"type": "value", "path": "url"}], "ordered": False, "rules": "open"}))
        for ext in extensions:
            elements.append({"id": f"{rtype}.extension:{ext.key}", "path": f"{rtype}.extension", "sliceName": ext.key,
                             "min": ext.min, "max": ext.max,
                             "type": [{"code": "Extension", "profile": [mapping.extensions[ext.key]]}]})
    for path in profile.required.get(release, ()):
        elements.append(_element(f"{rtype}.{path}", min=1))
    if profile.code or profile.own_code:
        coding = ctx.named_coding(profile.code) if profile.code else ctx.coding(*profile.own_code)  # type: ignore[misc]
        elements.append(_element(f"{rtype}.code", patternCodeableConcept={"coding": [coding]}))
    if rtype == "BiologicallyDerivedProduct":
        category = ({"patternCoding": ctx.named_coding("cell_product")} if release == "R5" else {"fixedCode": "cells"})
        elements.append(_element(f"{rtype}.productCategory", **category))
    for extra in profile.elements:
        constraint = dict(extra)
        path = constraint.pop("path")
        if "binding" in constraint:
            strength, system = constraint.pop("binding")
            constraint["binding"] = {"strength": strength, "valueSet": value_set_url(mapping, system)}
        if "type" in constraint:
            constraint["type"] = [{"code": code} for code in constraint["type"]]
        elements.append(_element(path, **constraint))
    return {**_common(mapping.profiles[profile.key], profile.title, profile.description, release),
            "kind": "resource", "abstract": False, "type": rtype, "baseDefinition": CORE + rtype,
            "derivation": "constraint", "differential": {"element": sorted(_merged(elements), key=lambda e: _position(
                e["path"], release))}}


def _merged(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One element per id (StructureDefinition invariant sdf-17): the constraints a profile states on the same
    element in different places (``min`` 1 from ``required``, a binding from ``elements``) become one."""
    by_id: dict[str, dict[str, Any]] = {}
    for element in elements:
        merged = by_id.setdefault(element["id"], {})
        clash = {k for k in element if k in merged and merged[k] != element[k]}
        if clash:
            raise ValueError(f"{element['id']}: {', '.join(sorted(clash))} stated twice, differently")
        merged.update(element)
    return list(by_id.values())


def _position(path: str, release: Release) -> tuple[int, ...]:
    """Where an element is in its resource, element by element, as a differential must list them (a slice keeps its
    place after the element it slices: the sort is stable)."""
    rtype, *names = path.split(".")
    model: Any = model_class(release, rtype)
    position = []
    for name in names:
        children = list(elements(model).values())
        index = next(i for i, child in enumerate(children)
                     if child.name == name or (name.endswith("[x]") and child.name.startswith(name[:-3])))
        position.append(index)
        model = children[index].model
    return tuple(position)


def extension_definition(mapping: FhirMapping, definition: ExtensionDefinition, release: Release) -> Resource:
    url = mapping.extensions[definition.key]
    return {**_common(url, definition.title, definition.description, release),
            "kind": "complex-type", "abstract": False,
            "context": [{"type": "element", "expression": context} for context in definition.contexts],
            "type": "Extension", "baseDefinition": CORE + "Extension", "derivation": "constraint",
            "differential": {"element": [
                _element("Extension", short=definition.title, definition=definition.description),
                _element("Extension.extension", max="0"),
                _element("Extension.url", fixedUri=url),
                _element("Extension.value[x]", min=1, type=[{"code": definition.value}]),
            ]}}


def conformance_resources(mapping: FhirMapping, release: Release) -> list[Resource]:
    """Every CodeSystem, ValueSet and StructureDefinition fhirbridge publishes for one release, and the
    ImplementationGuide that lists them."""
    resources = [*code_systems(mapping), *value_sets(mapping),
                 *(structure_definition(mapping, p, release) for p in PROFILES),
                 *(extension_definition(mapping, e, release) for e in EXTENSIONS)]
    return [*resources, implementation_guide(mapping, release, resources)]


#: The FHIR package id of fhirbridge's conformance resources (one package per release family).
PACKAGE_ID = {"R4": "org.fhirbridge.sci", "R5": "org.fhirbridge.sci.r5"}


def implementation_guide(mapping: FhirMapping, release: Release, resources: list[Resource]) -> Resource:
    """The ImplementationGuide of the package: its id, FHIR version and every resource it holds, so that a
    validator loading the folder as a package finds them all."""
    url = f"{mapping.canonical}/ImplementationGuide/{PACKAGE_ID[release]}"
    return {"resourceType": "ImplementationGuide", "id": PACKAGE_ID[release], "url": url, "version": __version__,
            "name": "FhirbridgeSci", "title": "fhirbridge: spinal cord injury trial data", "status": "active",
            "experimental": False, "publisher": "fhirbridge",
            "description": "Profiles, extensions, CodeSystems and ValueSets of the FHIR that fhirbridge writes for "
                           "spinal-cord-injury trials (ISNCSCI, SCIM-III, MSC infusion, adverse events).",
            "packageId": PACKAGE_ID[release], "fhirVersion": [FHIR_VERSIONS[release]],
            "definition": {"resource": [{"reference": {"reference": f"{r['resourceType']}/{r['id']}"},
                                         "name": r.get("title") or r["name"]} for r in resources]}}


def package_manifest(mapping: FhirMapping, release: Release) -> dict[str, Any]:
    """``package.json`` of the FHIR package (the NPM-style manifest FHIR tooling reads)."""
    core = {"R4": "hl7.fhir.r4.core", "R5": "hl7.fhir.r5.core"}[release]
    return {"name": PACKAGE_ID[release], "version": __version__, "type": "fhir.ig",
            "description": "fhirbridge's FHIR profiles for spinal cord injury trial data",
            "author": "fhirbridge", "canonical": mapping.canonical, "url": mapping.canonical,
            "fhirVersions": [FHIR_VERSIONS[release]], "dependencies": {core: FHIR_VERSIONS[release]}}
