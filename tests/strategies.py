"""Hypothesis strategies for hub records: every field, valid values only, including the awkward ones
(partial dates, missing optional values, NT and starred exam cells, non-ASCII text)."""

from __future__ import annotations

import datetime as dt
from typing import get_args

from hypothesis import strategies as st

from fhirbridge.domains.isncsci.structure import (
    ANAL_VALUES,
    DERMATOMES,
    LEVELS,
    MYOTOMES,
    NON_KEY_MUSCLE_LEVELS,
)
from fhirbridge.domains.scim import ITEMS
from fhirbridge.records import (
    AdverseEvent,
    Harvest,
    Infusion,
    IsncsciExam,
    ScimAssessment,
    Study,
    StudyData,
    Subject,
)
from fhirbridge.records.adverse_event import (
    ActionTaken,
    Outcome,
    RelatedProcedure,
    Relationship,
    SeriousCriterion,
    Severity,
)

MOTOR = ["0", "1", "2", "3", "4", "5", "NT", "0*", "3*", "4**", "NT*", "NT**"]
SENSORY = ["0", "1", "2", "NT", "0*", "1**", "NT*"]

ident = st.from_regex(r"[A-Z0-9][A-Z0-9-]{0,7}", fullmatch=True)
text = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "Zs"], exclude_characters="\x85\xa0"),
               min_size=1, max_size=30).map(str.strip).filter(bool)
dates = st.dates(dt.date(1940, 1, 1), dt.date(2030, 12, 31))
full_date = dates.map(dt.date.isoformat)
partial_date = st.one_of(full_date, dates.map(lambda d: d.strftime("%Y-%m")), dates.map(lambda d: d.strftime("%Y")))
date_time = st.builds(
    lambda d, h, m, s: f"{d.isoformat()}T{h:02d}:{m:02d}:{s:02d}Z", dates, st.integers(0, 23),
    st.integers(0, 59), st.integers(0, 59),
)


def optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


def _side() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({
        "motor": st.fixed_dictionaries({level: st.sampled_from(MOTOR) for level in MYOTOMES}),
        "light_touch": st.fixed_dictionaries({level: st.sampled_from(SENSORY) for level in DERMATOMES}),
        "pin_prick": st.fixed_dictionaries({level: st.sampled_from(SENSORY) for level in DERMATOMES}),
        "lowest_non_key_muscle": optional(st.sampled_from(NON_KEY_MUSCLE_LEVELS)),
    })


classifications = st.fixed_dictionaries({}, optional={
    "asia_impairment_scale": st.sampled_from(["A", "B", "C", "D", "E", "B,C,D", "E*"]),
    "neurological_level_of_injury": st.sampled_from([*LEVELS, "INT", "C5,C6"]),
    "upper_motor_total": st.sampled_from(["0", "25", "50", "ND"]),
    "right_motor_zpp": st.sampled_from(["NA", "T1", "NA,C5"]),
})


meddra_code = st.from_regex(r"100[0-9]{5}", fullmatch=True)


def _meddra_hierarchy(draw: st.DrawFn, version: str | None) -> dict:
    """The MedDRA levels an export may give besides the preferred term (each one or not), and its version."""
    levels = {"meddra_version": version}
    for level in ("llt", "hlt", "hlgt", "soc"):
        if draw(st.booleans()):
            levels[f"meddra_{level}_code"], levels[f"meddra_{level}"] = draw(meddra_code), draw(text)
    return levels


def study_data(study_id: str = "STUDY-1", meddra_hierarchy: bool = False) -> st.SearchStrategy[StudyData]:
    """A StudyData of one study with 1-3 subjects and some records of every kind for each; with
    ``meddra_hierarchy``, coded adverse events also carry MedDRA levels besides the preferred term and the
    study's MedDRA version (one per study, as define.xml names one)."""

    @st.composite
    def build(draw: st.DrawFn) -> StudyData:
        data = StudyData()
        version = draw(st.sampled_from(["26.1", "27.0"])) if meddra_hierarchy else None
        data.studies.append(Study(study_id=study_id, title=draw(optional(text)), registry_id=draw(optional(ident)),
                                  country=draw(optional(st.sampled_from(["JPN", "DEU", "USA"]))),
                                  arm_code=draw(optional(ident)), arm=draw(optional(text))))
        subject_ids = draw(st.lists(st.from_regex(r"[0-9]{3}", fullmatch=True), min_size=1, max_size=3,
                                    unique=True))
        for sid in subject_ids:
            base = {"study_id": study_id, "subject_id": sid}
            data.subjects.append(Subject(**base, site_id=draw(ident),
                                         sex=draw(st.sampled_from(["male", "female", "other", "unknown"])),
                                         birth_date=draw(optional(partial_date)),
                                         age=draw(optional(st.integers(0, 120))),
                                         injury_date=draw(optional(full_date)),
                                         injury_level=draw(optional(st.sampled_from(LEVELS))),
                                         enrolment_date=draw(optional(full_date))))
            for visit in draw(st.lists(st.sampled_from(["BASELINE", "DAY1", "MONTH6"]), max_size=2, unique=True)):
                data.isncsci_exams.append(IsncsciExam(
                    **base, visit=visit, exam_date=draw(optional(partial_date)), examiner=draw(optional(text)),
                    right=draw(_side()), left=draw(_side()), vac=draw(st.sampled_from(ANAL_VALUES)),
                    dap=draw(st.sampled_from(ANAL_VALUES)), classification=draw(optional(classifications)) or None,
                    non_sci_condition=draw(optional(text)),
                ))
                data.scim_assessments.append(ScimAssessment(
                    **base, visit=visit, assessment_date=draw(optional(full_date)),
                    items={k: draw(optional(st.sampled_from(i.allowed))) for k, i in ITEMS.items()},
                    self_care=draw(optional(st.integers(0, 20))), mobility=draw(optional(st.integers(0, 40))),
                    respiration_sphincter=draw(optional(st.integers(0, 40))), total=draw(optional(st.integers(0, 100))),
                    mobility_room_toilet=draw(optional(st.integers(0, 10))),
                    mobility_indoors_outdoors=draw(optional(st.integers(0, 30))),
                ))
            treated = draw(st.booleans())
            if treated:
                data.harvests.append(Harvest(**base, performed=draw(st.one_of(date_time, full_date)),
                                             body_site=draw(optional(text)),
                                             volume_ml=draw(optional(st.floats(1, 500).map(lambda v: round(v, 1))))))
                start = draw(date_time)
                data.infusions.append(Infusion(
                    **base, start=start, end=draw(optional(st.just(start))), product=draw(text),
                    lot=draw(optional(ident)),
                    total_cells=draw(optional(st.integers(10**6, 10**9).map(float))),
                    dose_per_kg=draw(optional(st.integers(10**4, 10**7).map(float))),
                    volume_ml=draw(optional(st.floats(1, 500).map(lambda v: round(v, 1)))),
                    harvest_id=draw(optional(st.just("1"))), processing=draw(optional(text)),
                ))
            for n in range(draw(st.integers(0, 2))):
                serious = draw(st.booleans())
                onset = draw(st.one_of(full_date, date_time))
                resolution = draw(optional(full_date))
                if resolution is not None and resolution < onset[:10]:
                    resolution = onset[:10]  # an event ends after it starts (FHIR's per-1 on the period)
                pt_code, pt = draw(optional(meddra_code)), draw(optional(text))
                hierarchy = _meddra_hierarchy(draw, version) if meddra_hierarchy and (pt_code or pt) else {}
                data.adverse_events.append(AdverseEvent(
                    **base, ae_id=str(n + 1), term=draw(text), meddra_code=pt_code, meddra_term=pt, **hierarchy,
                    onset=onset, resolution=resolution,
                    severity=draw(optional(st.sampled_from(get_args(Severity)))),
                    serious=serious,
                    serious_criteria=draw(st.lists(st.sampled_from(get_args(SeriousCriterion)), unique=True,
                                                   min_size=1, max_size=2)) if serious else [],
                    relationship=(relationship := draw(optional(st.sampled_from(get_args(Relationship))))),
                    outcome=draw(optional(st.sampled_from(get_args(Outcome)))),
                    action_taken=draw(optional(st.sampled_from(get_args(ActionTaken)))),
                    # what the causality was judged against: only procedures the subject has (else FB-REF-003)
                    related_procedure=draw(optional(st.sampled_from(get_args(RelatedProcedure))))
                    if treated and relationship else None,
                ))
        return data

    return build()
