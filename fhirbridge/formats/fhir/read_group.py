"""One subject's resources (a Patient and everything pointing at it) → records.

Resources are first checked against the release read (no element of another release; structure, values,
bindings and invariants with the FHIR checker of that release's definitions); then Patients
and ResearchSubjects give the subjects, and every other resource becomes the record its type and code say,
linked to its subject through ``subject``. Panels collect their
member Observations through ``derivedFrom``; an infusion finds its product through ``used``. Whatever is not
converted is reported with its location.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirbridge.formats.fhir.checker.definitions import DEFINITIONS_OF
from fhirbridge.formats.fhir.checker.resources import fit, thread_checker
from fhirbridge.formats.fhir.entries import Entry, ref_key
from fhirbridge.formats.fhir.read_adverse_event import read_adverse_event, resulting_conditions
from fhirbridge.formats.fhir.read_context import Item, ReadContext, reference
from fhirbridge.formats.fhir.read_isncsci import classification_field, is_exam, read_exam
from fhirbridge.formats.fhir.read_procedures import procedure_kind, product_reference, read_harvest, read_infusion
from fhirbridge.formats.fhir.read_scim import is_panel, read_assessment, score_field
from fhirbridge.formats.fhir.read_subject import is_injury, read_subject
from fhirbridge.formats.fhir.versions import declared, family, shape, shaped
from fhirbridge.records import Record, Study, StudyData, Subject


def usable(entry: Entry, ctx: ReadContext) -> bool:
    """The resource fits the release read: no element of another release, and no error of FHIR structure,
    values, required bindings or invariants (unless the resource was already checked: ``ctx.rejected``)."""
    read_as = family(ctx.release)
    releases = shaped(entry.resource)  # most resources: none (every resource read asks)
    other = {r: names for r, names in shape(entry.resource).items() if family(r) != read_as} \
        if releases and any(family(r) != read_as for r in releases) else {}
    stated = declared(entry.resource)
    if other or (stated is not None and family(stated) != family(ctx.release)):
        evidence = (f"has {', '.join(n for names in other.values() for n in names)}, elements of "
                    f"{'/'.join(other)}" if other else f"declares FHIR {stated}")
        ctx.issues.append(entry.issue("FB-FHIR-057", f"{entry.type} {evidence}, but the input is read as FHIR "
                                      f"{ctx.release}; it is not converted", value=entry.type))
        return False
    if family(ctx.release) == "R4" and ctx.rejected is not None:
        return (entry.file, entry.path, entry.line) not in ctx.rejected  # validate checked it (R5 it leaves)
    issues = thread_checker(DEFINITIONS_OF[ctx.release]).check(entry.resource, entry.path, entry.file, entry.line)
    ctx.issues.extend(issues)
    return fit(issues)


class _Index:
    """Resolves references between the resources of a group (by fullUrl, ``Type/id`` or id)."""

    def __init__(self, items: list[Item]) -> None:
        self.by_key: dict[str, Item] = {}
        put = self.by_key.setdefault
        for item in items:
            entry = item.entry
            if entry.full_url:
                put(entry.full_url, item)
            rid = item.resource.get("id")
            if rid:
                put(f"{entry.type}/{rid}", item)
                put(rid if isinstance(rid, str) else str(rid), item)

    def resolve(self, ref: str | None) -> Item | None:
        if not ref:
            return None
        return self.by_key.get(ref) or self.by_key.get(_relative(ref)) or self.by_key.get(ref_key(ref))


def _relative(ref: str) -> str:
    """``https://server/fhir/Patient/1/_history/2`` → ``Patient/1``."""
    parts = ref.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:])


def read_group(entries: list[Entry], ctx: ReadContext, studies: dict[str, Study], seen: set[tuple[str, ...]]
               ) -> StudyData:
    """The records of one group; ``studies`` are the input's studies by reference key, ``seen`` the kinds and
    keys of the records read so far (for duplicates)."""
    items = [Item(e, ctx) for e in entries if usable(e, ctx)]
    index = _Index(items)
    data = StudyData()
    subjects = _subjects(items, index, studies, seen, data)

    def subject_of(item: Item) -> Subject | None:
        patient = index.resolve(reference(item.resource.get("subject")))
        candidates = subjects.get(id(patient), []) if patient is not None else []
        if len(candidates) > 1:
            study = _study_ref(item)
            candidates = [s for s in candidates if study is not None and studies.get(study) is not None
                          and studies[study].study_id == s.study_id]
        if len(candidates) != 1:
            why = ("points at no Patient of the input" if patient is None else
                   "points at a Patient enrolled in no study read" if not subjects.get(id(patient)) else
                   "does not tell which of its Patient's studies it belongs to")
            item.issue("FB-FHIR-060", f"{why}; it is not converted", "subject",
                       value=reference(item.resource.get("subject")))
            return None
        return candidates[0]

    def keep(item: Item, record: Record | None) -> bool:
        if record is None:
            return False
        key = (type(record).__name__, *record.key())
        if key in seen:
            item.issue("FB-FHIR-061", f"{type(record).__name__} {'/'.join(record.key())} is described twice; "
                       "this one is not converted")
            return False
        seen.add(key)
        data.add(record)
        item.report_leftovers()
        return True

    ae_conditions = {id(found) for item in items if item.entry.type == "AdverseEvent"
                     for ref in resulting_conditions(item) if (found := index.resolve(ref)) is not None}
    members: dict[int, list[Item]] = {}
    panels: list[tuple[Item, Callable[..., Any]]] = []
    used_products: set[int] = set()
    for item in items:
        kind = item.entry.type
        if kind in ("Patient", "ResearchSubject", "BiologicallyDerivedProduct"):
            continue
        if kind == "Condition":
            if id(item) in ae_conditions:
                continue  # the term of an adverse event, read with it
            if not is_injury(item):
                item.issue("FB-FHIR-055", "a condition other than the spinal cord injury is not converted", "code")
            continue
        if kind == "Observation":
            code = item.resource.get("code")
            if is_exam(ctx, code):
                panels.append((item, read_exam))
            elif is_panel(ctx, code):
                panels.append((item, read_assessment))
            elif classification_field(ctx, code) is not None or score_field(ctx, code) is not None:
                panel = index.resolve(reference((item.resource.get("derivedFrom") or [{}])[0]))
                if panel is None:
                    item.issue("FB-FHIR-060", "the panel this value is derived from is not in the input; it is not "
                               "converted", "derivedFrom")
                else:
                    members.setdefault(id(panel), []).append(item)
            else:
                item.issue("FB-FHIR-055", "an Observation with a code fhirbridge does not read is not converted",
                           "code")
            continue
        subject = subject_of(item)
        if subject is None:
            continue
        if kind == "AdverseEvent":
            keep(item, read_adverse_event(item, subject, index.resolve))
        elif kind == "Procedure" and procedure_kind(item) == "harvest":
            keep(item, read_harvest(item, subject))
        elif kind == "Procedure" and procedure_kind(item) == "infusion":
            found = product_reference(item)
            product = index.resolve(found[1]) if found else None
            if product is None or product.entry.type != "BiologicallyDerivedProduct":
                item.issue("FB-FHIR-060", "the cell product of the infusion is not in the input; it is not converted",
                           found[0] if found else "")
                continue
            used_products.add(id(product))
            record = read_infusion(item, subject, product, index.resolve)
            keep(item, record)
            if record is not None:
                product.report_leftovers()
        else:
            item.issue("FB-FHIR-055", "a procedure with a code fhirbridge does not read is not converted", "code")
    for panel, read in panels:
        subject = subject_of(panel)
        group = members.pop(id(panel), [])
        kept = subject is not None and keep(panel, read(panel, group, subject))
        for member in group:
            if kept:
                member.report_leftovers()
            elif not member.rejected:
                member.issue("FB-FHIR-060", "the panel it belongs to is not converted; it is not either",
                             "derivedFrom")
    for group in members.values():
        for member in group:
            member.issue("FB-FHIR-055", "the Observation it is derived from is not an ISNCSCI exam or SCIM-III panel; "
                         "it is not converted", "derivedFrom")
    for item in items:
        if item.entry.type == "BiologicallyDerivedProduct" and id(item) not in used_products:
            item.issue("FB-FHIR-054", "a product no infusion of the input uses is not converted")
    return data


def _study_ref(item: Item) -> str | None:
    """The study a record names: the workflow-researchStudy extension, or AdverseEvent.study."""
    _, value = item.extension_value("research_study", "valueReference")
    ref = reference(value) or reference((item.resource.get("study") or [{}])[0])
    return ref_key(ref) if ref else None


def _subjects(items: list[Item], index: _Index, studies: dict[str, Study], seen: set[tuple[str, ...]],
              data: StudyData) -> dict[int, list[Subject]]:
    """The subjects of the group's Patients, by Patient item: one per ResearchSubject (study) of the Patient."""
    enrolments: dict[int, list[Item]] = {}
    injuries: dict[int, Item] = {}
    for item in items:
        if item.entry.type == "ResearchSubject":
            patient = index.resolve(reference(item.resource.get("subject" if item.ctx.r5 else "individual")))
            if patient is None or patient.entry.type != "Patient":
                item.issue("FB-FHIR-060", "its Patient is not in the input; it is not converted",
                           "subject" if item.ctx.r5 else "individual")
            else:
                enrolments.setdefault(id(patient), []).append(item)
        elif item.entry.type == "Condition" and is_injury(item):
            patient = index.resolve(reference(item.resource.get("subject")))
            if patient is not None and id(patient) not in injuries:
                injuries[id(patient)] = item
            else:
                item.issue("FB-FHIR-060", "it belongs to no Patient of the input, or repeats its Patient's injury; "
                           "it is not converted", "subject")
    found: dict[int, list[Subject]] = {}
    for item in items:
        if item.entry.type != "Patient":
            continue
        if id(item) not in enrolments:
            item.issue("FB-FHIR-060", "the Patient is enrolled in no study (no ResearchSubject points at it); it is "
                       "not converted")
        for enrolment in enrolments.get(id(item), []):
            study = studies.get(ref_key(reference(enrolment.resource.get("study")) or ""))
            if study is None:
                enrolment.issue("FB-FHIR-060", "its ResearchStudy is not in the input; the subject is not converted",
                                "study")
                continue
            injury = injuries.get(id(item))
            subject = read_subject(item, enrolment, injury, study)
            if subject is None:
                continue
            if ("Subject", *subject.key()) in seen:
                item.issue("FB-FHIR-061", f"subject {subject.subject_id} of study {subject.study_id} is described "
                           "twice; this one is not converted")
                continue
            seen.add(("Subject", *subject.key()))
            data.add(subject)
            found.setdefault(id(item), []).append(subject)
            enrolment.report_leftovers()
            if injury is not None:
                injury.report_leftovers()
        if found.get(id(item)):
            item.report_leftovers()
    return found
