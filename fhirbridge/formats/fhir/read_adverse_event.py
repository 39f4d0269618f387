"""AdverseEvent → AdverseEvent record. The inverse of ``write_adverse_event`` (its docstring lists where each
field is, per release).

Both published shapes of the event's term are read: ``event`` (R4) / ``code`` (R5), as fhirbridge writes it
and HL7's Adverse Event Clinical Research IG does, and ``resultingCondition`` (R4) / ``resultingEffect`` (R5)
pointing at a Condition whose ``code`` holds the term and its MedDRA coding, as the HL7/CDISC joint mapping puts
AETERM and AEDECOD. The rest of the MedDRA hierarchy is read where ``meddra`` puts it. The procedures named
as suspect entities give ``related_procedure``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirbridge.formats.fhir.meddra import LLT, UPPER_LEVELS
from fhirbridge.formats.fhir.read_context import Item, code_in, codings, reference
from fhirbridge.formats.fhir.read_procedures import procedure_kind, record_id
from fhirbridge.records import AdverseEvent, Subject

#: Finds the item a reference of the input points at.
Resolve = Callable[[str | None], Item | None]


def resulting_conditions(item: Item) -> list[str]:
    """The references of the Conditions an AdverseEvent resulted in (the joint mapping's home of its term)."""
    element = "resultingEffect" if item.ctx.r5 else "resultingCondition"
    return [ref for value in item.resource.get(element) or [] if (ref := reference(value))]


def read_adverse_event(item: Item, subject: Subject, resolve: Resolve) -> AdverseEvent | None:
    ctx = item.ctx
    values: dict[str, Any] = {"study_id": subject.study_id, "subject_id": subject.subject_id}
    columns: dict[str, str] = {}
    key = record_id(item, "ae", subject)
    if key is not None:
        values["ae_id"], columns["ae_id"] = key[1], key[0]
    for element in ("subject", "study"):
        item.get(element)
    if item.get("actuality") not in (None, "actual"):
        item.issue("FB-FHIR-056", "a potential adverse event is read as an actual one", "actuality")
    code_at = "code" if ctx.r5 else "event"
    concept = item.get(code_at)
    elsewhere: dict[str, str] = {}
    coded = ("term", "meddra_code", "meddra_term", "meddra_llt_code", "meddra_llt", "meddra_version")
    if concept is None:
        concept, where = _resulting_term(item, resolve)
        elsewhere.update(dict.fromkeys(coded, where))
    else:
        where = f"{code_at}.coding"
        columns.update({**dict.fromkeys(coded, where), "term": f"{code_at}.text"})
    concept = concept or {}
    pt, llt = _term_codings(item, concept, where)
    values["term"] = concept.get("text") or pt.get("display")
    values["meddra_code"], values["meddra_term"] = pt.get("code"), pt.get("display")
    values["meddra_llt_code"], values["meddra_llt"] = llt.get("code"), llt.get("display")
    versions = [(where, pt.get("version")), (where, llt.get("version"))]
    for level in UPPER_LEVELS:
        at, coding = item.extension_value(level, "valueCoding")
        if isinstance(coding, dict):
            values[f"{level}_code"], values[level] = coding.get("code"), coding.get("display")
            columns[f"{level}_code"] = columns[level] = at
            versions.append((at, coding.get("version")))
    values["meddra_version"], at = _meddra_version(item, versions)
    if at != where:  # named by an extension only: located there
        elsewhere.pop("meddra_version", None)
        columns["meddra_version"] = at
    if ctx.r5:
        item.get("status")  # derived from the resolution and the outcome
        if (onset := item.get("occurrenceDateTime")) is not None:
            values["onset"], columns["onset"] = onset, "occurrenceDateTime"
        else:
            period = item.get("occurrencePeriod") or {}
            values["onset"], values["resolution"] = period.get("start"), period.get("end")
            columns.update(onset="occurrencePeriod.start", resolution="occurrencePeriod.end")
        at, severity = item.extension_value("ae_severity_r5", "valueCodeableConcept")
        outcomes = item.get("outcome") or []
        outcome, outcome_at = (outcomes[0], "outcome[0]") if outcomes else (None, "outcome")
        actions = item.get("mitigatingAction") or []
        action, action_at = ((actions[0].get("itemCodeableConcept"), "mitigatingAction[0]") if actions
                             else (None, "mitigatingAction"))
    else:
        values["onset"], columns["onset"] = item.get("date"), "date"
        end_at, period = item.extension_value("ae_occurrence", "valuePeriod")
        if period is not None:
            values["resolution"], columns["resolution"] = period.get("end"), f"{end_at}.end"
        at, severity = "severity", item.get("severity")
        outcome, outcome_at = item.get("outcome"), "outcome"
        action_at, mitigation = item.extension_value("ae_mitigating_action", "extension")
        action = next((e.get("valueCodeableConcept") for e in mitigation or [] if e.get("url") == "item"), None)
    if severity is not None:
        code = code_in(severity, ctx.system("ae_severity"))
        values["severity"], columns["severity"] = ctx.unmapped("ae_severity", code or "") or code, at
    if outcome is not None:
        code = code_in(outcome, ctx.system("ae_outcome"))
        values["outcome"], columns["outcome"] = ctx.unmapped("ae_outcome", code or "") or code, outcome_at
    if action is not None:
        values["action_taken"], columns["action_taken"] = ctx.code(action, "ae_action"), action_at
    serious = code_in(item.get("seriousness"), ctx.system("ae_seriousness"))
    if serious is not None:
        values["serious"], columns["serious"] = serious == "Serious", "seriousness"
    criteria = []
    for i, extension in item.extensions("serious_criterion"):
        criteria.append(ctx.code(extension.get("valueCodeableConcept"), "serious_criterion"))
        columns["serious_criteria"] = f"extension[{i}]"
    values["serious_criteria"] = criteria
    suspects = item.get("suspectEntity") or []
    if suspects:
        values["relationship"], columns["relationship"] = _relationship(item, suspects[0]), "suspectEntity[0]"
        kinds = set()
        for i, suspect in enumerate(suspects):
            if i and _relationship(item, suspect) != values["relationship"]:
                item.issue("FB-FHIR-056", "a suspect entity assessed otherwise than the first is not read",
                           f"suspectEntity[{i}]")
                continue
            kind = _procedure_kind(item, suspect, resolve)
            if kind is not None:
                kinds.add(kind)
                columns["related_procedure"] = f"suspectEntity[{i}]"
            elif _reference_of(item, suspect):
                item.issue("FB-FHIR-060", "the suspect entity is not a harvest or infusion of the input; what the "
                           "causality was judged against is not converted", f"suspectEntity[{i}]")
        values["related_procedure"] = "both" if len(kinds) == 2 else next(iter(kinds), None)
    return item.build(AdverseEvent, values, columns, elsewhere)


def _term_codings(item: Item, concept: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The preferred term's and the lowest level term's MedDRA Codings of the event's concept (either may be
    empty); a further MedDRA Coding is reported, not read."""
    meddra, level_url = item.ctx.system("meddra"), item.ctx.extension_url("meddra_level")
    found: dict[bool, dict[str, Any]] = {}
    for coding in codings(concept):
        if coding.get("system") != meddra:
            continue
        is_llt = any(e.get("url") == level_url and e.get("valueCode") == LLT for e in coding.get("extension") or [])
        if is_llt in found:
            item.issue("FB-FHIR-056", f"a further MedDRA {'LLT' if is_llt else 'coding'} "
                       f"{coding.get('code') or coding.get('display')!r} is not converted (one PT and one LLT are)",
                       where)
            continue
        found[is_llt] = coding
    return found.get(False, {}), found.get(True, {})


def _meddra_version(item: Item, versions: list[tuple[str, Any]]) -> tuple[str | None, str]:
    """(version, where) of the record's one MedDRA version, from the first of its Codings that names one; another
    version named by a later Coding is reported (the record holds one)."""
    named = [(at, version) for at, version in versions if version]
    if not named:
        return None, versions[0][0]
    at, kept = named[0]
    for other_at, version in named[1:]:
        if version != kept:
            item.issue("FB-FHIR-056", f"MedDRA version {version} differs from {kept}, which is kept", other_at,
                       value=version, expected=kept)
    return kept, at


def _resulting_term(item: Item, resolve: Resolve) -> tuple[dict[str, Any] | None, str]:
    """(code, FHIRPath) of the first Condition the event resulted in, the joint mapping's shape of the term."""
    element = "resultingEffect" if item.ctx.r5 else "resultingCondition"
    item.get(element)
    for ref in resulting_conditions(item):
        condition = resolve(ref)
        if condition is not None and condition.entry.type == "Condition":
            for key in ("code", "subject"):
                condition.get(key)
            condition.report_leftovers()
            return condition.resource.get("code"), condition.entry.at("code")
    return None, item.entry.at(element)


def _reference_of(item: Item, suspect: dict[str, Any]) -> str | None:
    return reference(suspect.get("instanceReference" if item.ctx.r5 else "instance"))


def _procedure_kind(item: Item, suspect: dict[str, Any], resolve: Resolve) -> str | None:
    """``harvest`` or ``infusion``: the kind of Procedure a suspect entity points at (None for anything else)."""
    ref = _reference_of(item, suspect)
    target = resolve(ref) if ref else None
    return procedure_kind(target) if target is not None and target.entry.type == "Procedure" else None


def _relationship(item: Item, suspect: dict[str, Any]) -> str | None:
    """fhirbridge's relationship code, else the one the WHO-UMC causality code stands for."""
    ctx = item.ctx
    causality = suspect.get("causality")
    if ctx.r5:
        concept = (causality or {}).get("entityRelatedness")
    else:
        concept = causality[0].get("assessment") if causality else None
    ours = ctx.code(concept, "ae_relationship")
    if ours is not None:
        return ours
    who = ctx.code(concept, "ae_causality")
    return ctx.unmapped("ae_causality", who) if who is not None else None
