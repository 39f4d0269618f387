"""``BundleEntries.add``'s short way for the common entry (no request, a ``urn:`` fullUrl, a resource with a type,
an id and no meta) notes exactly what its general way notes: the same findings for the same entries, whatever
mix of common and other entries, repeated fullUrls and references a bundle holds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fhirbridge.formats.fhir.checker.bundle import BundleEntries
from fhirbridge.formats.fhir.checker.structure import Reference

_URLS = st.sampled_from(["urn:uuid:a", "urn:uuid:b", "urn:x", "http://h/fhir/Patient/a", "Patient/a", "", None, 3])
_TYPES = st.sampled_from(["Patient", "Observation", "", None, 1])
_IDS = st.sampled_from(["a", "b", "", None, 2])
_REFERENCES = st.sampled_from(["urn:uuid:a", "urn:uuid:c", "urn:x", "Patient/a", "Observation/b", "Patient/"])
_TARGETS = st.sampled_from([(), ("Patient",), ("Observation", "Patient")])


@st.composite
def _entries(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([None, "x", [], {}]))
    resource: dict[str, Any] = {}
    for key, values in (("resourceType", _TYPES), ("id", _IDS)):
        value = draw(values)
        if value is not None or draw(st.booleans()):
            resource[key] = value
    if draw(st.integers(0, 4)) == 0:
        resource["meta"] = {"versionId": draw(st.sampled_from(["1", "2"]))}
    entry: dict[str, Any] = {"resource": resource if draw(st.integers(0, 9)) else "x"}
    url = draw(_URLS)
    if url is not None:
        entry["fullUrl"] = url
    if draw(st.integers(0, 5)) == 0:
        entry["request"] = {"method": "POST", "url": "Patient"}
    return entry


def _findings(entries: list[Any], refs: list[tuple[str, Any]], short: bool) -> list[tuple[Any, ...]]:
    index = BundleEntries()
    found: list[tuple[Any, ...]] = []
    references = [Reference("Bundle.entry[0].resource.subject", text, targets) for text, targets in refs]
    for entry in entries:
        (index.add if short else index._add_any)(entry)
    index.check("collection", references, lambda *issue: found.append(issue))
    return found


@settings(max_examples=300, deadline=None)
@given(st.lists(_entries(), max_size=12), st.lists(st.tuples(_REFERENCES, _TARGETS), max_size=4))
def test_the_short_way_notes_what_the_general_way_does(entries: list[Any], refs: list[tuple[str, Any]]) -> None:
    assert _findings(entries, refs, short=True) == _findings(entries, refs, short=False)
