"""The ISNCSCI exam's cell check (``OwnProfiles._exam_cells``, one tight loop over some 136 components) reports
what the plain reading of the rule reports: for each cell code (the first component holding it), the first code of
the ISNCSCI value system in its valueCodeableConcept, else that concept's text, must match the cell's pattern."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from fhirbridge.formats.fhir.checker.profiles import own_profiles

PROFILES = own_profiles()
ISNCSCI, VALUE = PROFILES.isncsci, PROFILES.isncsci_value
CELLS = [*sorted(PROFILES._cell_patterns)[:3], "not-a-cell"]


def _plain(resource: dict[str, Any]) -> list[tuple[str, Any]]:
    """The rule read plainly: (FHIRPath, value) of each cell value the cell does not allow."""
    found: dict[str, tuple[int, Any]] = {}
    for i, component in enumerate(resource["component"]):
        concept = component.get("code") if isinstance(component, dict) else None
        codings = concept.get("coding") if isinstance(concept, dict) else None
        for c in codings if isinstance(codings, list) else []:
            if isinstance(c, dict) and c.get("system") == ISNCSCI and isinstance(c.get("code"), str):
                found.setdefault(c["code"], (i, component))
    bad = []
    for code, (i, component) in found.items():
        pattern = PROFILES._cell_patterns.get(code)
        concept = component.get("valueCodeableConcept")
        if pattern is None or not isinstance(concept, dict):
            continue
        codings = concept.get("coding") if isinstance(concept.get("coding"), list) else []
        values = [
            c["code"]
            for c in codings
            if isinstance(c, dict) and c.get("system") == VALUE and isinstance(c.get("code"), str)
        ]
        value = values[0] if values else concept.get("text")
        if value is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
            bad.append((f"X.component[{i}].valueCodeableConcept", value))
    return bad


codings = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "system": st.sampled_from([VALUE, ISNCSCI, "http://other"]),
                "code": st.sampled_from(["5", "2", "NT", "9", "x", 5]),
            }
        ),
        st.just("not a coding"),
    ),
    max_size=3,
)
concepts = st.one_of(
    st.none(),
    st.just("text"),
    st.fixed_dictionaries(
        {}, optional={"coding": st.one_of(codings, st.just({})), "text": st.sampled_from(["4", "zz", 3])}
    ),
)
components = st.fixed_dictionaries(
    {
        "code": st.fixed_dictionaries(
            {
                "coding": st.lists(
                    st.fixed_dictionaries(
                        {"system": st.sampled_from([ISNCSCI, "http://other"]), "code": st.sampled_from(CELLS)}
                    ),
                    max_size=2,
                )
            }
        )
    },
    optional={"valueCodeableConcept": concepts},
)


@settings(max_examples=30)
@given(st.lists(st.one_of(components, st.just(7)), max_size=6))
@example(
    [
        {
            "code": {"coding": [{"system": ISNCSCI, "code": CELLS[0]}]},
            "valueCodeableConcept": {"coding": [{"system": "http://other", "code": "5"}], "text": "zz"},
        }
    ]
)
@example([{"code": {"coding": [{"system": ISNCSCI, "code": CELLS[0]}]}, "valueCodeableConcept": {"text": 3}}])
def test_the_exam_cell_check_reports_what_the_plain_rule_reports(component_list):
    resource = {"resourceType": "Observation", "component": component_list}
    issues: list[tuple[str, Any]] = []
    PROFILES._local.found = {}
    PROFILES._exam_cells(resource, "X", lambda code, message, where, value, *rest: issues.append((where, value)))
    assert issues == _plain(resource)
