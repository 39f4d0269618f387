"""An SDTM conformance issue located as a reviewer looks for it: dataset file, row, variable, USUBJID, --SEQ."""

from __future__ import annotations

from fhirbridge.formats.sdtm.dataset import Dataset, Row, as_text
from fhirbridge.issues.issue import Issue


def at(dataset: Dataset, index: int, row: Row, name: str, code: str, message: str, **extra: object) -> Issue:
    seq = f"{dataset.name}SEQ"
    return Issue.of(code, message, file=dataset.file, row=dataset.row_number(index), column=name,
                    subject=as_text(row.get("USUBJID")) or None, record=as_text(row.get(seq)) or None, **extra)
