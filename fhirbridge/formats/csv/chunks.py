"""The CSV spoke, read direction, a chunk of whole subjects at a time, in flat memory.

A CSV export is one file per kind of record, so a subject's rows are spread over the files in any order. Reading
happens in two passes:

1. **Index.** Each file's header is checked (its issues are reported here, once) and every row is split into
   cells only to find its subject (study and subject id); the row is kept as its byte offset and length. The
   study file is read whole: every chunk needs the studies.
2. **Chunks.** Subjects are taken in the order of the subjects file (then any subject only other files name,
   then rows naming no subject), and grouped into chunks of about ``CHUNK_BYTES`` of input. A chunk carries its
   rows' bytes (read by seeking); its records are made where the chunk is worked on (``CsvChunk.load``), and
   every problem of a row is reported there with the file, row and column.

Issues come in a stable order: the files' header issues, then chunk by chunk, file by file in the layout's
order, row by row.
"""

from __future__ import annotations

import csv
import io
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fhirbridge.formats.csv.reader import expand_inputs, match_files, read_file
from fhirbridge.formats.csv.rows import FirstOfEachKey, Reading, plan, records_of_row
from fhirbridge.formats.csv.text import UTF8_BOM, open_csv
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.mapping.csv_layout import CsvLayout, load_csv_layout
from fhirbridge.records import Study, StudyData

#: Input bytes of rows in one chunk: about 25 subjects of the example export, whose resources take about 50 MB
#: while a chunk is worked on.
CHUNK_BYTES = 48 << 10


@dataclass
class FileRows:
    """The rows of one file that belong to a chunk: (row number, bytes), and how to read them (the file specs
    that read the file)."""

    specs: list[str]
    path: str
    encoding: str
    header: list[str]
    rows: list[tuple[int, bytes]]


@dataclass
class CsvChunk:
    """Whole subjects' rows, from every file, with the studies; made into records by ``load``."""

    layout: Path | None
    studies: list[Study]
    files: list[FileRows]

    def load(self, report: Report) -> StudyData:
        layout = _layout(self.layout)
        data = StudyData(studies=list(self.studies))
        once = FirstOfEachKey(report)
        for part in self.files:
            readings = plan(part.header, part.specs, layout, part.path, Report())  # its issues: in the index
            for row, raw in part.rows:
                cells = split_record(raw, part.encoding, layout.delimiter)
                for record in once.records(records_of_row(cells, part.header, readings, layout, part.path, row,
                                                          report)):
                    data.add(record)
        return data


@lru_cache(maxsize=4)
def _layout(path: Path | None) -> CsvLayout:
    return load_csv_layout(path)


@dataclass
class _File:
    specs: list[str]
    path: Source
    encoding: str
    start: int  # byte offset of the first row after the header
    header: list[str]


def read_chunks(inputs: list[Path | Source], report: Report, layout_path: Path | None
                ) -> Iterator[StudyData | CsvChunk]:
    """The studies alone, then chunks of whole subjects (see the module docstring)."""
    layout = _layout(layout_path)
    index = _Index(layout)
    studies: list[Study] = []
    once = FirstOfEachKey(report)
    for names, path in match_files(expand_inputs(inputs), layout, report):
        if layout.files[names[0]].record == "study":  # a study file holds nothing else (the layout says so)
            studies.extend(once.records(read_file(path, names, layout, report)))  # type: ignore[arg-type]
        else:
            index.add(names, path, report)
    yield StudyData(studies=list(studies))
    yield from index.chunks(layout_path, studies)


class _Index:
    def __init__(self, layout: CsvLayout) -> None:
        self.layout = layout
        self.files: list[_File] = []
        # one slot per row: its file, row number, byte range and subject group
        self.slot_file, self.slot_row = array("i"), array("q")
        self.slot_offset, self.slot_length, self.slot_group = array("q"), array("q"), array("q")
        self.groups: dict[tuple[str, str], int] = {}
        self.subject_groups: dict[int, None] = {}  # in the subjects file's order
        self.unkeyed = -1

    def add(self, names: list[str], path: Source, report: Report) -> None:
        name = str(path)
        if (opened := open_csv(path, report)) is None:
            return
        path, handle, encoding, has_bom = opened
        with handle:
            offset = len(UTF8_BOM) if has_bom else 0
            handle.seek(offset)
            records = _records(handle, offset)
            row = 1
            try:
                first = next(records, None)  # the header
                if first is None:
                    report.add(Issue.of("FB-IO-002", "file is empty: no header row", file=name, row=1))
                    return
                header = [h.strip() for h in self._cells(first[2], encoding)]
                readings = plan(header, names, self.layout, name, report)
                if not readings:
                    return
                file_index = len(self.files)
                self.files.append(_File(names, path, encoding, first[1] + len(first[2]), header))
                key_columns = self._key_columns(readings, header)
                is_subjects = any(r.spec.record == "subject" for r in readings)
                for row, start, raw in records:
                    try:
                        cells = self._cells(raw, encoding)
                    except csv.Error as exc:
                        report.add(_stopped(exc, name, row, raw, records))
                        continue
                    if not any(c.strip() for c in cells):
                        continue
                    group = self._group(cells, key_columns, len(header))
                    if is_subjects and group != self.unkeyed:
                        self.subject_groups.setdefault(group)
                    self.slot_file.append(file_index)
                    self.slot_row.append(row)
                    self.slot_offset.append(start)
                    self.slot_length.append(len(raw))
                    self.slot_group.append(group)
            except csv.Error as exc:
                report.add(Issue.of("FB-IO-004", f"malformed CSV: {exc}", file=name, row=row))
            except UnicodeDecodeError as exc:  # the file changed between detection and reading
                report.add(Issue.of("FB-IO-004", f"cannot decode as {encoding}: {exc.reason}", file=name))

    def _cells(self, raw: bytes, encoding: str) -> list[str]:
        return split_record(raw, encoding, self.layout.delimiter)

    @staticmethod
    def _key_columns(readings: list[Reading], header: list[str]) -> tuple[int | str, int | None]:
        """Where a row's study (a column's position, or the layout's constant) and subject id are."""
        for reading in readings:
            if "subject_id" in reading.columns:
                study = reading.columns.get("study_id")
                return (header.index(study) if study is not None else str(reading.constants.get("study_id", "")),
                        header.index(reading.columns["subject_id"]))
        return "", None

    def _group(self, cells: list[str], key_columns: tuple[int | str, int | None], width: int) -> int:
        """The subject group of a row (a row of the wrong width, or without a subject id, has none)."""
        study_at, subject_at = key_columns
        if len(cells) != width or subject_at is None:
            return self.unkeyed
        study = cells[study_at].strip() if isinstance(study_at, int) else study_at
        key = (study, cells[subject_at].strip())
        if key not in self.groups:
            self.groups[key] = len(self.groups)
        return self.groups[key]

    def chunks(self, layout_path: Path | None, studies: list[Study]) -> Iterator[CsvChunk]:
        rank = {group: n for n, group in enumerate(self.subject_groups)}
        last = len(self.groups)
        order = sorted(range(len(self.slot_group)), key=lambda slot: (
            last + 1 if self.slot_group[slot] == self.unkeyed else rank.get(self.slot_group[slot], last),
            self.slot_group[slot], slot))
        handles: dict[int, io.BufferedReader] = {}
        try:
            batch: list[int] = []
            size, group = 0, None
            for slot in order:
                if size >= CHUNK_BYTES and self.slot_group[slot] != group:
                    yield self._chunk(batch, layout_path, studies, handles)
                    batch, size = [], 0
                batch.append(slot)
                size += self.slot_length[slot]
                group = self.slot_group[slot]
            if batch:
                yield self._chunk(batch, layout_path, studies, handles)
        finally:
            for handle in handles.values():
                handle.close()

    def _chunk(self, slots: list[int], layout_path: Path | None, studies: list[Study],
               handles: dict[int, io.BufferedReader]) -> CsvChunk:
        by_file: dict[int, list[tuple[int, bytes]]] = {}
        for slot in sorted(slots):  # file by file, row by row
            file_index = self.slot_file[slot]
            if file_index not in handles:
                handles[file_index] = self.files[file_index].path.open()
            handle = handles[file_index]
            handle.seek(self.slot_offset[slot])
            by_file.setdefault(file_index, []).append((self.slot_row[slot], handle.read(self.slot_length[slot])))
        parts = [FileRows(self.files[i].specs, str(self.files[i].path), self.files[i].encoding,
                          self.files[i].header, rows) for i, rows in sorted(by_file.items())]
        return CsvChunk(layout_path, studies, parts)



def split_record(raw: bytes, encoding: str, delimiter: str) -> list[str]:
    """The cells of one CSV record (its bytes, line break included), as ``csv.reader`` splits them (``[]`` for a
    blank line). A record with no quote character, no line break but its last, and no longer than a field may be,
    is split on the delimiter alone: the same cells in a third of the time. Every row of an export is split once
    to index it, before any worker process starts, and once more to read it."""
    text = raw.decode(encoding)
    if text.endswith("\r\n"):
        body = text[:-2]
    elif text.endswith(("\n", "\r")):
        body = text[:-1]
    else:
        body = text
    if '"' in body or "\r" in body or "\n" in body or delimiter in '"\r\n' or len(body) > csv.field_size_limit():
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True), [])
    return body.split(delimiter) if body else []


def _stopped(exc: csv.Error, name: str, row: int, raw: bytes, rest: Iterator[tuple[int, int, bytes]]) -> Issue:
    """The fatal issue of a record the CSV parser cannot split (``row`` is its last line): an unterminated quote
    runs to the end of the file, taking every later row with it; a field over the parser's limit loses its row.
    Says where reading stopped and how many lines were not read."""
    first = row - raw.count(b"\n") + (1 if raw.endswith(b"\n") else 0)
    later = [r for r, _, _ in rest]  # counted, not read
    last = later[-1] if later else row
    if "field larger than field limit" in str(exc):
        return Issue.of("FB-IO-004", f"malformed CSV: row {first} has a field over {csv.field_size_limit() // 1024} "
                        f"KiB; reading stopped at row {first}: {last - first + 1} lines (rows {first} to {last}) were "
                        "not read", file=name, row=first)
    return Issue.of("FB-IO-004", f"malformed CSV: {exc} (an unterminated quote in row {first}?); reading stopped at "
                    f"row {first}: {last - first + 1} lines (rows {first} to {last}) were not read", file=name,
                    row=first)


def _records(handle: io.BufferedReader, offset: int) -> Iterator[tuple[int, int, bytes]]:
    """(row number as a spreadsheet shows it, byte offset, bytes) of every CSV record: a record goes on over
    line breaks inside quotes, where the count of quote characters so far is odd."""
    line_number = 0
    pending: list[bytes] = []
    start = offset
    quotes = 0
    for line in handle:
        line_number += 1
        if not pending:
            start = offset
        pending.append(line)
        offset += len(line)
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            yield line_number, start, b"".join(pending)
            pending, quotes = [], 0
    if pending:
        yield line_number, start, b"".join(pending)
