"""fhirbridge's own CodeSystems, for the concepts no public terminology codes.

Their concepts are generated from the domain modules (the ISNCSCI worksheet, the SCIM-III items, the
adverse event vocabularies), so the code tables are never written twice. ``fhirbridge profiles export``
publishes them so that third-party validators can check our output.
"""

from __future__ import annotations

from functools import cache
from typing import get_args

from pydantic.alias_generators import to_camel

from fhirbridge import __version__
from fhirbridge.domains.isncsci.structure import (
    AIS_GRADES,
    ANAL_VALUES,
    CLASSIFICATION_TITLES,
    EXAM_EXTRAS,
    LEVELS,
    NON_SCI_CONDITION,
    cell_code,
    cell_title,
    cells,
)
from fhirbridge.domains.scim import ITEMS, score_titles
from fhirbridge.mapping.fhir_mapping import FhirMapping
from fhirbridge.records.adverse_event import ActionTaken, Relationship, SeriousCriterion

_FLAGS = {"": "", "*": " - impairment not due to SCI, consider not normal for classification",
          "**": " - impairment not due to SCI, consider normal for classification"}


def _exam_values() -> dict[str, str]:
    values: dict[str, str] = {}
    for base, meaning in [*((str(n), f"grade {n}") for n in range(6)), ("NT", "not testable")]:
        for flag, note in _FLAGS.items():
            if flag and base in ("2", "5"):
                continue  # 5* and 2* do not exist: a normal value cannot be impaired
            values[base + flag] = meaning + note
    values.update({v: {"Yes": "present", "No": "absent", "NT": "not testable"}[v] for v in ANAL_VALUES})
    return values


def _words(value: str) -> str:
    return value.replace("_", " ").capitalize()


@cache
def concepts() -> dict[str, dict[str, str]]:
    """Code → display for each of fhirbridge's CodeSystems, by mapping-spec system key."""
    isncsci = {"isncsci-exam": "ISNCSCI examination"}
    isncsci.update({cell_code(*c): cell_title(*c) for c in ((s, m, lv) for s, m, lv in cells())})
    isncsci.update(EXAM_EXTRAS)
    isncsci.update([NON_SCI_CONDITION])
    isncsci.update({to_camel(f): title for f, title in CLASSIFICATION_TITLES.items()})
    scim = {"panel": "SCIM-III"}
    scim.update({f"item-{k}": f"{k}. {i.title}" for k, i in ITEMS.items()})
    scim.update({k.replace("_", "-"): f"SCIM-III {title}" for k, title in score_titles().items()})
    levels = {lv: lv for lv in LEVELS}
    levels["INT"] = "Intact (no neurological level)"
    return {
        "isncsci": isncsci,
        "isncsci_value": _exam_values(),
        "sci_level": levels,
        "ais_grade": {grade: f"AIS {grade}" for grade in AIS_GRADES},
        "scim": scim,
        "ae_relationship": {v: _words(v) for v in get_args(Relationship)},
        "ae_action": {v: _words(v) for v in get_args(ActionTaken)},
        "serious_criterion": {v: _words(v) for v in get_args(SeriousCriterion)}
        | {"other_medically_important": "Important medical event (ICH E2A): other medically important condition"},
        "fhirbridge": {
            "reported": "Reported by the site",
            "computed-isncsci-2019": "Computed from the raw exam with the ISNCSCI 2019 algorithm",
            "computed-sum": "Computed as the sum of the item scores",
        },
    }


_TITLES = {
    "isncsci": "ISNCSCI examination and classification values",
    "isncsci_value": "ISNCSCI worksheet values (scores, NT and non-SCI impairment flags)",
    "sci_level": "Neurological levels of the spinal cord",
    "ais_grade": "ASIA Impairment Scale grades",
    "scim": "Spinal Cord Independence Measure III",
    "ae_relationship": "Relationship of an adverse event to the study treatment",
    "ae_action": "Action taken with the study treatment",
    "serious_criterion": "Criteria that make an adverse event serious",
    "fhirbridge": "fhirbridge methods",
}


def code_systems(mapping: FhirMapping) -> list[dict]:
    """Every CodeSystem of fhirbridge as a FHIR R4 resource."""
    out = []
    for key, codes in concepts().items():
        url = mapping.systems[key]
        name = url.rsplit("/", 1)[-1]
        definitions = AIS_GRADES if key == "ais_grade" else {}
        out.append({
            "resourceType": "CodeSystem",
            "id": name,
            "url": url,
            "version": __version__,
            "name": "".join(part.capitalize() for part in name.replace("-", " ").split()),
            "title": _TITLES[key],
            "status": "active",
            "experimental": False,
            "publisher": "fhirbridge",
            "caseSensitive": True,
            "content": "complete",
            "count": len(codes),
            "concept": [
                {"code": code, "display": display, **({"definition": definitions[code]} if code in definitions else {})}
                for code, display in codes.items()
            ],
        })
    return out


def display(system_key: str, code: str) -> str | None:
    """The display of one of our codes, or None for a system that is not ours."""
    return concepts().get(system_key, {}).get(code)
