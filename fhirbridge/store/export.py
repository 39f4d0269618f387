"""What a bulk export reads: current resources by type, changed since an instant, optionally only the Patient
compartment of some patients (Patient and Group level exports).

A resource is in a patient's compartment when it is that Patient or one of its indexed references (subject,
patient, target, …) points at it. Rows are streamed in pages; callers write them to files, so that no database
connection waits on a slow HTTP client.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, and_, or_, select

from fhirbridge.store.schema import resource, search_value
from fhirbridge.store.search_query import of_param

#: Rows fetched per round trip while streaming an export.
PAGE = 500


@dataclass(frozen=True)
class Scope:
    """Which resources an export covers."""

    types: tuple[str, ...] | None = None
    since: str | None = None  # an instant as stored (``last_updated > since``)
    patients: frozenset[str] | None = None  # compartment of these Patient ids; None: no compartment limit
    compartment: bool = False  # Patient-level export: the compartment of every patient


def compartment_members(engine: Engine, patients: frozenset[str] | None) -> set[tuple[str, str]]:
    """(type, id) of every resource that refers to one of ``patients`` (to any Patient when None)."""
    sv = search_value.c
    query = select(sv.resource_type, sv.resource_id).where(sv.system == "Patient").distinct()
    found: set[tuple[str, str]] = set()
    with engine.connect() as conn:
        for rtype, rid, target in conn.execute(query.add_columns(sv.value)):
            if patients is None or target in patients:
                found.add((rtype, rid))
    return found


def export_rows(engine: Engine, scope: Scope) -> Iterator[tuple[str, str, str]]:
    """(type, id, content) of every resource in ``scope``, by type and in the order first stored."""
    members = compartment_members(engine, scope.patients) if scope.compartment or scope.patients is not None \
        else None
    query = select(resource.c.resource_type, resource.c.id, resource.c.content) \
        .order_by(resource.c.resource_type, resource.c.position, resource.c.id)
    if scope.types is not None:
        query = query.where(resource.c.resource_type.in_(list(scope.types)))
    if scope.since is not None:
        query = query.where(resource.c.last_updated > scope.since)
    with engine.connect() as conn:
        for rtype, rid, content in conn.execution_options(yield_per=PAGE).execute(query):
            if members is None or (rtype, rid) in members or _is_member_patient(rtype, rid, scope):
                yield rtype, rid, content


def _is_member_patient(rtype: str, rid: str, scope: Scope) -> bool:
    return rtype == "Patient" and (scope.patients is None or rid in scope.patients)


def stored_types(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(resource.c.resource_type).distinct()).scalars())


def existing(engine: Engine, rtype: str, ids: Iterable[str]) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(resource.c.id).where(resource.c.resource_type == rtype,
                                                            resource.c.id.in_(list(ids)))).scalars())


def study_members(engine: Engine) -> dict[str, list[str]]:
    """Patient ids of the subjects of every stored study, from the ResearchSubjects' ``study`` and ``patient``."""
    sv = search_value.c
    query = select(sv.resource_id, sv.param, sv.value).where(
        sv.resource_type == "ResearchSubject",
        or_(sv.param == "study", and_(*of_param(sv, "ResearchSubject", "patient"))))
    study: dict[str, str] = {}
    patient: dict[str, str] = {}
    with engine.connect() as conn:
        for rid, param, value in conn.execute(query):
            (study if param == "study" else patient)[rid] = value
    members: dict[str, list[str]] = {}
    for subject, study_id in sorted(study.items()):
        if subject in patient:
            members.setdefault(study_id, []).append(patient[subject])
    return {s: sorted(set(p)) for s, p in members.items()}

