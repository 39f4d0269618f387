"""Making the HTML report: validate the inputs once, keeping the checked records for the study's figures."""

from __future__ import annotations

from collections.abc import Sequence

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.inputs import Input, Source, sources
from fhirbridge.issues.issue import Severity
from fhirbridge.issues.report import Report
from fhirbridge.records import IsncsciClassification, Study, StudyData
from fhirbridge.report.html import made_at, render_report
from fhirbridge.report.statistics import study_statistics


class RecordCollector:
    """Gathers the chunks of records ``api.validate`` checks into one StudyData (each chunk repeats the study)."""

    def __init__(self) -> None:
        self.data = StudyData()
        self.computed: dict[tuple[str, ...], IsncsciClassification] = {}

    def __call__(self, chunk: StudyData, computed: dict[tuple[str, ...], IsncsciClassification]) -> None:
        known = {s.key() for s in self.data.studies}
        for record in chunk.records():
            if not isinstance(record, Study) or record.key() not in known:
                self.data.add(record)
        self.computed.update(computed)


def build_report(inputs: Input | Sequence[Input], *, source: str | None = None,
                 options: ConvertOptions | None = None, fail_on: Severity = Severity.ERROR) -> tuple[str, Report]:
    """The HTML report of ``inputs`` (any input ``fhirbridge.validate`` takes; the format told from the content
    unless ``source`` says) and its Report. Every record is held in memory while the figures are computed."""
    found = sources(inputs)
    collector = RecordCollector()
    report = api.validate(found, source=source, options=options, fail_on=fail_on, on_records=collector)
    figures = study_statistics(collector.data, collector.computed)
    listed = [i.label if isinstance(i, Source) else str(i) for i in found]
    return render_report(report, figures, inputs=listed, made=made_at()), report

