"""The FHIR checker agrees with the oracle, fhir.resources (R4B models), on what fhirbridge writes and on
spoiled copies of it; and its Rust screen is never looser than its walker.

Resources come from the writer's output for generated records (every type fhirbridge writes) and are spoiled
one way at a time: a required element dropped, an unknown element added, a value of the wrong JSON type, an
impossible date, an array where one value goes and one value where an array goes. The fault corpus is checked
the same way. The oracle validates structure and values only; the checker's further findings (required
bindings, invariants, references) are proven against fhirpathpy in ``test_validate_invariants.py`` and the
corpus tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from spoiling import STRUCTURE, assert_agrees_with_the_oracle, checker_errors, screen_passes
from strategies import study_data

from fhirbridge import api
from fhirbridge.formats.fhir.checker.resources import ResourceChecker
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.formats.fhir.writer import bundle
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping

CORPUS = Path(__file__).parent / "data" / "fhir-faults"
SPOILS = ("none", "drop-required", "unknown-element", "wrong-type", "bad-date", "array-for-one", "one-for-array")


def _written(data: Any) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle(load_fhir_mapping(), data)["entry"]]


@settings(max_examples=12, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=study_data(), how=st.sampled_from(SPOILS), pick=st.integers(min_value=0, max_value=10_000))
@example(data=None, how="none", pick=0)  # the example study as written, besides the generated ones
def test_checker_agrees_with_the_oracle_on_written_and_spoiled_resources(data, how, pick):
    for resource in _written(data) if data is not None else _example_resources():
        assert_agrees_with_the_oracle(resource, how, pick)


def _example_resources() -> list[dict[str, Any]]:
    """The example study's resources (every kind fhirbridge writes, classifications and derived values too)."""
    example = Path(__file__).resolve().parents[1] / "examples" / "honmou2021" / "csv"
    return _written(api.read([example], Report(), source="csv"))


#: faults the oracle lets through: it turns the string "93.3" into a decimal and takes a URI with a space
_ORACLE_LAX = frozenset({"bad-decimal.json", "bad-uri.json"})


def test_checker_agrees_with_the_oracle_on_the_fault_corpus():
    """Wherever the oracle finds a structural problem the checker does, and the other way round; the corpus's
    other faults (bindings, invariants, references, profiles) are the checker's alone."""
    checked = 0
    for path in sorted(CORPUS.glob("*.json")):
        document = json.loads(path.read_text())
        entries = document.get("entry") if document.get("resourceType") == "Bundle" else None
        resources = [e.get("resource") for e in entries] if isinstance(entries, list) else [document]
        for resource in resources:
            if not isinstance(resource, dict):
                continue
            errors = checker_errors(resource)
            structural = [e for e in errors if e.code in STRUCTURE]
            oracle = structure_errors(resource, "R4")
            if path.name in _ORACLE_LAX:  # the checker's finding there is asserted by the corpus tests
                assert not oracle, (path.name, oracle)
            else:
                assert bool(structural) == bool(oracle), (path.name, errors, oracle)
            assert screen_passes(resource) == (errors == []), (path.name, errors)
            checked += 1
    assert checked > 30


_OWN = "https://fhirbridge.org/fhir/CodeSystem/ais-grade"


@settings(max_examples=40, deadline=None)
@given(system=st.sampled_from([_OWN, _OWN + "x", _OWN[:-1], "http://loinc.org", "", "a b", None]),
       code=st.sampled_from(["A", "E", "Q", "8302-2", "A ", None]), extra=st.booleans())
@example(system=_OWN, code="A", extra=False)
@example(system=_OWN, code="Q", extra=False)
def test_the_screen_rejects_what_the_walker_reports_of_a_coding_of_our_code_systems(system, code, extra):
    """Our CodeSystems' codes are checked in the screen's schema (not by a Python rule): a Coding it lets through
    has no issue from the walker, and a code that is not ours (FB-FHIR-030) is never let through."""
    coding = {k: v for k, v in (("system", system), ("code", code)) if v is not None}
    if extra:
        coding["display"] = "x"
    resource = {"resourceType": "Observation", "status": "final", "code": {"coding": [coding]}}
    errors = checker_errors(resource)
    if screen_passes(resource):
        assert errors == []
    if system == _OWN and code in ("Q", "8302-2"):
        assert [i.code for i in errors] == ["FB-FHIR-030"] and not screen_passes(resource)
    if system == _OWN and code in ("A", "E"):
        assert errors == [] and screen_passes(resource)


_STUDY = {"resourceType": "ResearchStudy", "status": "active"}


@pytest.mark.parametrize("resource", [
    {**_STUDY, "label": [{"value": "HONMOU"}]},  # R5's ResearchStudy, merged into R4's by the definitions' source
    {**_STUDY, "name": "HONMOU2021"},
    {**_STUDY, "whyStopped": {"text": "accrual goal met"}},
    {**_STUDY, "meta": {"project": "p1"}},  # the source's own Meta elements
    {"resourceType": "Binary", "contentType": "text/plain", "url": "http://example.org/b"},
])
def test_elements_fhir_r4_does_not_have_are_refused_as_by_the_oracle(resource: dict[str, Any]) -> None:
    found = [i.code for i in ResourceChecker("R4").check(resource, resource["resourceType"])]
    assert "FB-FHIR-011" in found, found
    assert structure_errors(resource, "R4") != []
    plain = {k: v for k, v in resource.items() if k not in ("label", "name", "whyStopped", "meta", "url")}
    assert ResourceChecker("R4").check(plain, plain["resourceType"]) == [] and structure_errors(plain, "R4") == []
