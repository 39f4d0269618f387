"""A ``Group`` per stored study, whose members are the Patients of its ResearchSubjects, so that one study can be
exported with ``Group/{study id}/$export``. The Group has the study's id; it is stored (validated, versioned) like
any resource, and refreshed when subjects are added.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.service.validation import has_errors, validate_fhir
from fhirbridge.store.export import study_members
from fhirbridge.store.repository import Store
from fhirbridge.store.transaction import PlannedWrite


def study_group(study_id: str, patients: list[str]) -> dict[str, Any]:
    canonical = load_fhir_mapping().canonical
    return {
        "resourceType": "Group",
        "id": study_id,
        "identifier": [{"system": f"{canonical}/sid/study-group", "value": study_id}],
        "type": "person",
        "actual": True,
        "name": f"Subjects of ResearchStudy/{study_id}",
        "characteristic": [{"code": {"text": "enrolled in study"},
                            "valueReference": {"reference": f"ResearchStudy/{study_id}"}, "exclude": False}],
        "quantity": len(patients),
        "member": [{"entity": {"reference": f"Patient/{p}"}} for p in patients],
    }


def sync_study_groups(store: Store) -> int:
    """Store the Group of every study whose members changed; returns how many Groups were written or checked."""
    groups = [study_group(study, patients) for study, patients in study_members(store.engine).items()]
    writes = []
    for n, group in enumerate(groups):
        if not has_errors(validate_fhir(group).issues):
            writes.append(PlannedWrite(n, "PUT", "Group", group["id"], group))
    if writes:
        store.ingest(writes)  # unchanged content keeps its version
    return len(writes)


def group_patients(store: Store, group_id: str) -> frozenset[str] | None:
    """The Patient ids a stored Group lists as members, or None when there is no such Group."""
    stored = store.read("Group", group_id)
    if stored is None:
        return None
    members = orjson.loads(stored.content).get("member") or []
    refs = (m.get("entity", {}).get("reference", "") for m in members if isinstance(m, dict))
    return frozenset(r.split("/", 1)[1] for r in refs if r.startswith("Patient/"))
