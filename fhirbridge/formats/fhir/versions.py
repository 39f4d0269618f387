"""Which FHIR release an input is: asked for, declared by the input, or told by the shape of its resources.

In order of precedence:

1. ``--fhir-version``, when given;
2. what the input declares: ``fhirVersion`` of a CapabilityStatement (as in a server's or a bulk export's
   metadata), StructureDefinition or ImplementationGuide, and version-pinned core profiles in ``meta.profile``
   (``http://hl7.org/fhir/StructureDefinition/Patient|5.0.0``);
3. the shape of the resources: an element that only one release defines for a resource type (R5
   ``AdverseEvent.code``, R4 ``Procedure.performedDateTime``, ...), taken from the definitions the checker is
   built from (``checker/definitions.py``: R4 4.0.1's and R5's; what R4B added to R4 and R5 kept tells nothing,
   as R4B content is R4 family);
4. R4, the default.

Each resource is then checked against the release chosen: one with elements of the other release (an R5
resource in R4 input) is reported and not converted, rather than half read.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhirbridge.formats.fhir.checker.definitions import resource_elements
from fhirbridge.formats.fhir.models import FHIR_VERSIONS, Release

_BY_VERSION: dict[str, Release] = {number: release for release, number in FHIR_VERSIONS.items()}
_CORE_PROFILE = re.compile(r"http://hl7\.org/fhir/StructureDefinition/[A-Za-z]+\|(\d+\.\d+)(?:\.\d+)?")
_DECLARING = ("CapabilityStatement", "StructureDefinition", "ImplementationGuide", "TerminologyCapabilities")
#: Elements that R4B added to R4 resource types and R5 kept. The R4 definitions are R4 4.0.1's, so these look
#: R5-only there; but R4B content holds them and is R4 family, so they tell nothing. R4B differs from R4 at the
#: root of these four types only (pinned against the R4B models in tests/test_fhir_versions.py).
R4B_ADDED: dict[str, frozenset[str]] = {
    "ActivityDefinition": frozenset({"subjectCanonical"}),
    "PlanDefinition": frozenset({"subjectCanonical"}),
    "Evidence": frozenset({"assertion", "certainty", "citeAsMarkdown", "citeAsReference", "statistic",
                           "synthesisType", "variableDefinition"}),
    "EvidenceVariable": frozenset({"actual", "category", "handling"}),
}


def release_of_version(version: str) -> Release | None:
    """R4, R4B or R5 for a FHIR version number (``4.0.1``, ``4.3``, ``5.0.0-ballot``)."""
    major_minor = ".".join(version.split("-")[0].split(".")[:2])
    return next((r for number, r in _BY_VERSION.items() if number.startswith(major_minor + ".")), None)


def shape(resource: dict[str, Any]) -> dict[Release, list[str]]:
    """The elements of a resource that only R4 (R4B) or only R5 defines for its type, by release."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return {}
    only = _only(rtype)
    if only is None:
        return {}
    found: dict[Release, list[str]] = {}
    for release, names in only.items():
        if not names.isdisjoint(resource):  # asked of every resource read: the common answer without a loop
            found[release] = sorted({key.removeprefix("_") for key in resource if key in names})
    return found


def shaped(resource: dict[str, Any]) -> tuple[Release, ...]:
    """The releases of ``shape(resource)`` without the names: what a vote needs, asked of every resource read
    (a set disjointness test per release, no sorting)."""
    rtype = resource.get("resourceType")
    either = _either(rtype) if isinstance(rtype, str) else None
    if either is None or either.isdisjoint(resource):
        return ()
    return tuple(release for release, names in _only(rtype).items() if not names.isdisjoint(resource))  # type: ignore[union-attr]


@cache
def _either(rtype: str) -> frozenset[str] | None:
    """The keys of ``_only`` of both releases: most resources hold none, told by one test."""
    only = _only(rtype)
    return None if only is None else frozenset().union(*only.values())


@cache
def _only(rtype: str) -> dict[Release, frozenset[str]] | None:
    """The JSON keys (``name`` and ``_name``) that only one release family defines for a resource type."""
    r4, r5 = resource_elements("R4").get(rtype), resource_elements("R5").get(rtype)
    if r4 is None or r5 is None:
        return None
    return {"R4": frozenset(k for n in r4 - r5 for k in (n, f"_{n}")),
            "R5": frozenset(k for n in r5 - r4 - R4B_ADDED.get(rtype, frozenset()) for k in (n, f"_{n}"))}


def declared(resource: dict[str, Any]) -> Release | None:
    """The release a resource states, by its fhirVersion or a version-pinned core profile."""
    if resource.get("resourceType") in _DECLARING and isinstance(resource.get("fhirVersion"), str):
        return release_of_version(resource["fhirVersion"])
    meta = resource.get("meta")
    for profile in meta.get("profile", []) if isinstance(meta, dict) else []:
        match = _CORE_PROFILE.fullmatch(profile) if isinstance(profile, str) else None
        if match:
            return release_of_version(match.group(1))
    return None


def family(release: Release) -> str:
    """R4 and R4B share the shape of every resource fhirbridge reads."""
    return "R5" if release == "R5" else "R4"


@dataclass
class ReleaseEvidence:
    """What an input says about its release, gathered resource by resource."""

    declarations: dict[Release, str] = field(default_factory=dict)  # release → where it is declared
    shapes: Counter[str] = field(default_factory=Counter)  # family → resources shaped so

    def add(self, resource: dict[str, Any], where: str, at: str = "") -> None:
        """What one resource says; ``where`` it is, followed by ``at`` (a path in it: joined only when needed,
        as this is asked of every resource read)."""
        release = declared(resource)
        if release is not None:
            self.declarations.setdefault(release, f"{where} {at}" if at else where)
        for release in shaped(resource):
            self.shapes[family(release)] += 1

    def merge(self, other: ReleaseEvidence) -> None:
        """Add what a later part of the input said (as if its resources had been added here, in order)."""
        for release, where in other.declarations.items():
            self.declarations.setdefault(release, where)
        for name, count in other.shapes.items():
            self.shapes[name] += count

    def decide(self, asked: Release | None) -> tuple[Release, str, str | None]:
        """The release to read, why, and a warning when the input is unclear or contradicts itself."""
        if asked is not None:
            return asked, "--fhir-version", None
        if self.declarations:
            releases = sorted(self.declarations)
            chosen = releases[0]
            why = f"declared in {self.declarations[chosen]}"
            if len(releases) > 1:
                return chosen, why, (f"the input declares several FHIR releases ({', '.join(releases)}); it is read "
                                     f"as {chosen}")
            return chosen, why, None
        if len(self.shapes) > 1:
            counts = ", ".join(f"{n} resource(s) shaped as {f}" for f, n in sorted(self.shapes.items()))
            return "R4", "the default", f"the input mixes releases ({counts}); it is read as R4"
        if self.shapes:
            chosen_family = next(iter(self.shapes))
            return ("R5" if chosen_family == "R5" else "R4"), "the shape of its resources", None
        return "R4", "the default", None
