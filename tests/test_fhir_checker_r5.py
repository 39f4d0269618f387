"""The FHIR checker with the R5 definitions agrees with the oracle, fhir.resources (its R5 models), on what
fhirbridge writes as R5 and on spoiled copies of it; it takes R5's elements and refuses R4's; its compiled R5
invariants agree with fhirpathpy (R5 model); and the screen is never looser than the walker.

The spoiling is ``test_fhir_checker_oracle``'s (``spoiling.py``), with the R5 definitions and bad cardinality
besides.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from spoiling import assert_agrees_with_the_oracle, checker_errors, screen_passes
from strategies import study_data

from fhirbridge import api
from fhirbridge.formats.fhir.checker.definitions import load
from fhirbridge.formats.fhir.checker.invariants import COMPILED_OF, GATES, fhirpath
from fhirbridge.formats.fhir.checker.resources import ResourceChecker
from fhirbridge.formats.fhir.models import structure_errors
from fhirbridge.formats.fhir.writer import bundle
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping

SPOILS = ("none", "drop-required", "unknown-element", "wrong-type", "bad-date", "array-for-one", "one-for-array",
          "bad-cardinality")
_CHECKER = ResourceChecker("R5")


def _errors(resource: Any) -> list[Any]:
    return checker_errors(resource, "R5")


def _written(data: Any) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle(load_fhir_mapping(), data, release="R5")["entry"]]


def _example_resources() -> list[dict[str, Any]]:
    example = Path(__file__).resolve().parents[1] / "examples" / "honmou2021" / "csv"
    return _written(api.read([example], Report(), source="csv"))


@settings(max_examples=12, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=study_data(), how=st.sampled_from(SPOILS), pick=st.integers(min_value=0, max_value=10_000))
@example(data=None, how="none", pick=0)  # the example study as written, besides the generated ones
def test_r5_checker_agrees_with_the_r5_oracle_on_written_and_spoiled_resources(data, how, pick):
    for resource in _written(data) if data is not None else _example_resources():
        assert_agrees_with_the_oracle(resource, how, pick, "R5")


def test_the_example_written_as_r5_has_no_issue_at_all():
    """Every resource of the example study as R5: no issue of any severity (invariants and bindings too), and
    each passes the screen, so the walker never runs on valid output."""
    for resource in _example_resources():
        assert _CHECKER.check(resource, resource["resourceType"]) == [], resource["resourceType"]
        assert screen_passes(resource, "R5"), resource["resourceType"]


def _procedure(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "Procedure", "status": "completed", "subject": {"reference": "Patient/1"}, **elements}


@pytest.mark.parametrize(("resource", "r5_only"), [
    (_procedure(occurrenceDateTime="2020-01-02"), True),  # R4: performed[x]
    (_procedure(used=[{"concept": {"text": "cells"}}]), True),  # CodeableReference, R5 only
    ({"resourceType": "AdverseEvent", "status": "completed", "actuality": "actual", "code": {"text": "x"},
      "subject": {"reference": "Patient/1"}}, True),
])
def test_r5_only_elements_are_taken_by_r5_and_refused_by_r4(resource, r5_only):
    assert _errors(resource) == [] and structure_errors(resource, "R5") == []
    r4 = [i.code for i in ResourceChecker("R4").check(resource, resource["resourceType"])]
    assert "FB-FHIR-011" in r4 or "FB-FHIR-012" in r4


@pytest.mark.parametrize("resource", [
    _procedure(performedDateTime="2020-01-02"),  # R5: occurrence[x]
    _procedure(usedReference=[{"reference": "BiologicallyDerivedProduct/1"}]),
    {"resourceType": "AdverseEvent", "actuality": "actual", "event": {"text": "x"},
     "subject": {"reference": "Patient/1"}},
])
def test_r4_only_elements_are_refused_by_r5_as_by_the_oracle(resource):
    errors = _errors(resource)
    assert any(e.code == "FB-FHIR-011" for e in errors), errors
    assert structure_errors(resource, "R5") != []


def test_an_unknown_resource_type_is_an_issue_that_names_r5():
    errors = _errors({"resourceType": "MedicinalProduct", "id": "x"})  # an R4 type that R5 dropped
    assert [(e.code, e.message) for e in errors] == [
        ("FB-FHIR-010", "resourceType 'MedicinalProduct' is not an R5 resource type")]
    r4 = ResourceChecker("R4").check({"resourceType": "MedicinalProduct", "id": "x"}, "MedicinalProduct")
    assert "FB-FHIR-010" not in {i.code for i in r4}  # an R4 type: its own rules apply


def test_r4b_is_checked_with_the_r4_definitions_and_r5_loads_only_when_asked():
    assert load("R4B") is load("R4") and load("R5") is not load("R4")
    assert (load("R4").release, load("R5").release, load("R5").fhir_version) == ("R4", "R5", "5.0.0")


#: R5 invariants whose compiled form is shared with R4 or written for R5, on nodes that keep and break them
_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("cod-1", "Coding", {"display": "x"}),
    ("cod-1", "Coding", {"display": "x", "code": "a"}),
    ("cod-1", "Coding", {"system": "s"}),
    ("ident-1", "Identifier", {"system": "s"}),
    ("ident-1", "Identifier", {"value": "v"}),
    ("ref-2", "Reference", {"type": "Patient"}),
    ("ref-2", "Reference", {"display": "d"}),
    ("obs-8", "Observation", {"bodySite": {"text": "a"}, "bodyStructure": {"concept": {"text": "b"}}}),
    ("obs-8", "Observation", {"bodySite": {"text": "a"}}),
    ("ref-1", "Reference", {"reference": "#x"}),
    ("ref-1", "Reference", {"reference": "#"}),
    ("bdl-2", "Bundle", {"type": "collection", "entry": [{"search": {"mode": "match"}}]}),
    ("bdl-2", "Bundle", {"type": "searchset", "entry": [{"search": {"mode": "match"}}]}),
]
_CONDITION = "http://terminology.hl7.org/CodeSystem/condition-"
for _clinical in ("active", "resolved", "unknown"):
    for _extra in ({"abatementDateTime": "2020"}, {"category": [{"coding": [
            {"system": _CONDITION + "category", "code": "problem-list-item"}]}]}):
        _CASES.append(("con-3" if "abatementDateTime" in _extra else "con-2", "Condition", {
            "clinicalStatus": {"coding": [{"system": _CONDITION + "clinical", "code": _clinical}]}, **_extra}))


@pytest.mark.parametrize(("ident", "base", "node"), _CASES)
def test_compiled_r5_invariants_agree_with_fhirpathpy(ident, base, node):
    constraint = load("R5").constraints[ident]
    compiled = COMPILED_OF["R5"][ident]
    assert compiled(node, node, node) == fhirpath(base, constraint.expression, "R5")(node, node, node), node


@pytest.mark.parametrize(("start", "end", "kept"), [
    ("2020-05-11", "2020-05-10T23:00:00Z", False), ("2020-05", "2020-05-01", True), ("2020-05-10", "2020-05", True),
    ("2021", "2020-12-31", False), ("2020-05-10T10:00:00Z", "2020-05-10", True), ("2020-06", "2020", True)])
def test_per_1_of_r5_compares_the_low_boundary_of_the_start_with_the_high_boundary_of_the_end(start, end, kept):
    """fhirpathpy lacks lowBoundary(): R5's per-1 is checked with the compiled R4 form, which compares both at
    their common precision; the expected verdicts are the boundaries' (``2020-05`` ends on 2020-05-31)."""
    assert "lowBoundary" in load("R5").constraints["per-1"].expression
    node = {"start": start, "end": end}
    assert COMPILED_OF["R5"]["per-1"](node, node, node) is kept


def test_every_compiled_invariant_of_r5_is_one_the_r5_definitions_hold_with_a_known_expression():
    """A compiled invariant shared with R4 is used for R5 only where R5's expression is R4's, or one reviewed
    to mean the same (``invariants.COMPILED_OF``); a change in the definitions shows here."""
    r4, r5 = load("R4").constraints, load("R5").constraints
    reviewed = {"ref-1", "per-1", "dom-3", "bdl-2", "con-2", "con-3", "cod-1", "ident-1", "ref-2", "obs-8"}
    for ident in COMPILED_OF["R5"]:
        if ident in r5:
            assert ident in reviewed or r5[ident].expression == r4[ident].expression, ident



def test_writing_r4_never_loads_the_r5_definitions(tmp_path):
    """R5 costs nothing to a process that only works with R4: its definitions are compiled when first asked for."""
    example = Path(__file__).resolve().parents[1] / "examples" / "honmou2021" / "csv"
    script = (
        "from pathlib import Path; from fhirbridge import api; "
        "from fhirbridge.formats.fhir.checker import definitions as d; "
        f"assert api.convert([Path({str(example)!r})], Path({str(tmp_path)!r})).exit_code == 0; "
        "print(d._load.cache_info().currsize, d.load('R4') is d.load('R4B'), d._load.cache_info().currsize); "
        "d.load('R5'); print(d._load.cache_info().currsize)"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["1", "True", "1", "2"]


@pytest.mark.parametrize("ident", ["prc-1", "prov-1", "prov-2", "prov-3"])
def test_r5_invariants_gated_on_on_behalf_of_hold_without_it(ident):
    """fhirpathpy cannot resolve(), so this is read from the text: ``onBehalfOf`` is a conjunct of the premise
    (``A and B implies C`` holds when B is empty or false), and the walker skips them without it."""
    premise = load("R5").constraints[ident].expression.split(" implies ")[0]
    assert GATES[ident] == ("onBehalfOf",) and " or " not in premise
    assert any(conjunct.strip().startswith("onBehalfOf.") for conjunct in premise.split(" and ")), premise
    agent = {"resourceType": "Provenance", "target": [{"reference": "Patient/1"}], "recorded": "2020-01-01T00:00:00Z",
             "agent": [{"who": {"reference": "Practitioner/1"}}]}
    assert _CHECKER.check(agent, "Provenance") == []
