"""FHIR (NDJSON above all) → tables in flat memory: records are checked and written a chunk of whole subjects at
a time, and each chunk's tables are appended to the output.

The reader hands out the studies first, then chunks of whole subjects, each with its studies again (see
``FhirReader``). A chunk is checked like a whole input would be: every check of fhirbridge looks at one subject
at a time (timeline, ISNCSCI classification, SCIM sums, orphans), so checking per chunk finds exactly what
checking everything at once would. Each chunk is then written by the target's own writer into a scratch folder
and its tables are appended to the output: the rows the studies-only first chunk wrote (the study itself) are
not repeated, and issues about written rows are moved to the row they have in the output.

This suits writers whose tables have one row per record (the CSV spoke); a writer that summarises all rows
(SDTM's define.xml has every variable's longest value) takes the chunks itself (``registry.CHUNK_WRITERS``).
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from fhirbridge.formats.options import ConvertOptions, Derived
from fhirbridge.issues.report import Report
from fhirbridge.records import StudyData

Check = Callable[[StudyData, Report], Derived]
Write = Callable[[StudyData, Path, Report, ConvertOptions, Derived], list[Path]]


def _rows(text: bytes) -> int:
    """CSV records in ``text`` (a value may hold a line break, so lines are not records)."""
    return sum(1 for _ in csv.reader(io.StringIO(text.decode("utf-8"), newline="")))


def write_in_chunks(chunks: Iterable[StudyData], outdir: Path, report: Report, options: ConvertOptions,
                    write: Write, check: Check) -> list[Path]:
    """Check and write every chunk, appending its tables to those in ``outdir``; returns the tables written."""
    outdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".fhirbridge-chunk-", dir=outdir))
    outputs: dict[str, Path] = {}
    written_rows: Counter[str] = Counter()  # data rows in each output table so far
    study_part: dict[str, bytes] = {}  # what the studies-only first chunk wrote to each table
    counts: Counter[str] = Counter()
    try:
        for n, chunk in enumerate(chunks):
            first_issue = len(report.issues)
            derived = check(chunk, report)
            counts.update({k: v for k, v in chunk.count().items() if n == 0 or k != "studies"})
            part = scratch / str(n)
            moved: dict[str, tuple[Path, int]] = {}
            for path in write(chunk, part, report, options, derived):
                content = path.read_bytes()
                header, _, body = content.partition(b"\n")
                if n == 0:
                    study_part[path.name] = body
                elif body.startswith(study_part.get(path.name, b"\0")):
                    body = body[len(study_part[path.name]):]
                skipped = _rows(content) - 1 - _rows(body)  # rows of the table before the ones appended
                final = outdir / path.name
                with final.open("ab" if path.name in outputs else "wb") as handle:
                    if path.name not in outputs:
                        handle.write(header + b"\n")
                    handle.write(body)
                moved[str(path)] = (final, written_rows[path.name] - skipped)
                written_rows[path.name] += _rows(body)
                outputs.setdefault(path.name, final)
            for i in range(first_issue, len(report.issues)):
                issue = report.issues[i]
                if issue.file in moved:
                    final, shift = moved[issue.file]
                    row = issue.row + shift if issue.row is not None else None
                    report.issues[i] = issue.model_copy(update={"file": str(final), "row": row})
            shutil.rmtree(part, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.stats["records"] = dict(counts)
    return list(outputs.values())
