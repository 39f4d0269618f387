"""Making the HTML report: validate the inputs once, keeping what the study's figures use of each chunk."""

from __future__ import annotations

from collections.abc import Sequence

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.inputs import Input, Source, sources
from fhirbridge.issues.issue import Severity
from fhirbridge.issues.report import Report
from fhirbridge.report import SUBJECT_LIMIT
from fhirbridge.report.facts import StudyFacts
from fhirbridge.report.html import made_at, render_report
from fhirbridge.report.statistics import figures_of


def build_report(inputs: Input | Sequence[Input], *, source: str | None = None,
                 options: ConvertOptions | None = None, fail_on: Severity = Severity.ERROR,
                 max_issues: int | None = None, subject_limit: int | None = SUBJECT_LIMIT) -> tuple[str, Report]:
    """The HTML report of ``inputs`` (any input ``fhirbridge.validate`` takes; the format told from the content
    unless ``source`` says) and its Report.

    Records are not kept: each checked chunk leaves the few values the figures use (``StudyFacts``), so memory
    grows by tens of bytes per record. Past ``max_issues`` issues are counted, not listed (as ``validate``'s);
    the per-subject rows show the first ``subject_limit`` subjects (None: all), every count and median all."""
    found = sources(inputs)
    facts = StudyFacts()
    report = api.validate(found, source=source, options=options, fail_on=fail_on, max_issues=max_issues,
                          on_records=facts.add)
    figures = figures_of(facts, subject_limit)
    listed = [i.label if isinstance(i, Source) else str(i) for i in found]
    return render_report(report, figures, inputs=listed, made=made_at()), report
