"""What a service process does once before it answers: load everything ingest needs, then take what is loaded
out of the garbage collector's way.

Validation loads definitions, each release's element names (from the definitions), mapping specs and the
reader into records on first use. Loaded during the first requests instead, they would cost those requests, and
the objects would stay in the collector's generations, walked again by every full collection. It runs beside
the first requests rather than before them: a worker process answers its supervisor's health checks and its first
requests as soon as the app is up (on a loaded machine, seconds of warm-up before that made supervisors give up
on workers that were only slow to start).
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import orjson

from fhirbridge.formats.fhir.versions import shape
from fhirbridge.service.ingest import checked_writes
from fhirbridge.store.search_params import PARAMS


def start_warm_up() -> None:
    """``warm_up`` in a thread of its own."""
    threading.Thread(target=warm_up, name="fhirbridge-warm-up", daemon=True).start()


def warm_up() -> None:
    """Load what ingest needs (definitions, every release's element names, mapping specs, the reader into
    records) once, by checking a small transaction Bundle as ingest does, then move every object alive to the
    garbage collector's permanent generation, where the automatic collector's full passes no longer walk it."""
    # as a JSON body without empty objects is checked (the usual ingest); the screen of other bodies is built when
    # one first comes (building both here made a busy machine's workers answer their first requests late)
    checked_writes(_BUNDLE, raw=orjson.dumps(_BUNDLE))
    for rtype in PARAMS:  # the elements only one release defines, for every type the store holds
        shape({"resourceType": rtype})
    gc.collect()
    gc.freeze()


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    rid = resource["id"]
    return {"fullUrl": f"urn:uuid:{rid}", "resource": resource,
            "request": {"method": "PUT", "url": f"{resource['resourceType']}/{rid}"}}


_PATIENT = "urn:uuid:00000000-0000-4000-8000-000000000001"
#: A subject's resources of the kinds a registry ingest brings (nothing of it is stored).
_BUNDLE: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": [_entry(r) for r in (
    {"resourceType": "ResearchStudy", "id": "00000000-0000-4000-8000-000000000000", "status": "completed",
     "identifier": [{"system": "urn:example:study", "value": "WARM-UP"}]},
    {"resourceType": "Patient", "id": _PATIENT.removeprefix("urn:uuid:"), "gender": "unknown",
     "birthDate": "1970-01-01", "identifier": [{"system": "urn:example:subject", "value": "1"}]},
    {"resourceType": "ResearchSubject", "id": "00000000-0000-4000-8000-000000000002", "status": "on-study",
     "identifier": [{"type": {"text": "USUBJID"}, "system": "urn:example:subject", "value": "WARM-UP-1"},
                    {"type": {"text": "SITEID"}, "system": "urn:example:site", "value": "1"}],
     "study": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}, "individual": {"reference": _PATIENT}},
    {"resourceType": "Condition", "id": "00000000-0000-4000-8000-000000000003", "subject": {"reference": _PATIENT},
     "code": {"coding": [{"system": "http://snomed.info/sct", "code": "90584004"}]}, "onsetDateTime": "2020-01-01"},
    {"resourceType": "Observation", "id": "00000000-0000-4000-8000-000000000004", "status": "final",
     "extension": [{"url": "https://fhirbridge.org/fhir/StructureDefinition/visit", "valueString": "BASELINE"}],
     "code": {"coding": [{"system": "http://loinc.org", "code": "97843-7"}]}, "subject": {"reference": _PATIENT},
     "effectiveDateTime": "2020-01-02",
     "valueCodeableConcept": {"coding": [{"system": "https://fhirbridge.org/fhir/CodeSystem/ais-grade", "code": "A"}]}},
)]}
