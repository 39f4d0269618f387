"""The example study scaled up for benchmarks: its 13 subjects copied under new ids as often as needed.

Copy ``n`` of subject ``S01`` is ``C0000n-S01``, so that copies sort in the order they are made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fhirbridge.formats.csv.reader import read_csv
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import load_csv_layout
from fhirbridge.records import StudyData

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "honmou2021" / "csv"


def example_copies(copies: int | None = None, per_chunk: int = 1) -> Iterator[StudyData]:
    """The example's records, ``per_chunk`` copies of its subjects at a time (forever when ``copies`` is None);
    the study comes with the first chunk only."""
    example = read_csv([EXAMPLE], load_csv_layout(), Report())
    copy = 0
    while copies is None or copy < copies:
        batch = StudyData(studies=example.studies if copy == 0 else [])
        for _ in range(per_chunk if copies is None else min(per_chunk, copies - copy)):
            for record in example.records():
                if hasattr(record, "subject_id"):
                    batch.add(record.model_copy(update={"subject_id": f"C{copy:05d}-{record.subject_id}"}))
            copy += 1
        yield batch
