"""Drafting a layout spec from the export files themselves (``fhirbridge layout init CSV...``).

Each file's encoding and delimiter are sniffed, its header is matched to a kind of record and its columns to
fields by name (``fhirbridge.layouts.names``), and the date formats are guessed from the values of the date
columns: a format is taken only when it reads every value seen, and when two read them all (a day-first and a
month-first format on days up to 12) the draft says so.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

from fhirbridge.formats.csv.rows import resolve
from fhirbridge.formats.csv.text import detect_encoding
from fhirbridge.inputs import Source
from fhirbridge.layouts.draft import Draft, DraftFile, default_study
from fhirbridge.layouts.names import Matcher, best_cell_scheme, normal
from fhirbridge.mapping.csv_layout import KEY_FIELDS, VISIT
from fhirbridge.mapping.loader import MappingError

DELIMITERS = ",;\t|"
SAMPLE_ROWS = 500
DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y-%m", "%Y"]
#: A column named per visit: ``ais_v1``, ``scim_total_month6``, ``exam_date_bl`` (the suffix names the visit).
_VISIT_SUFFIX = re.compile(r"^(?P<stem>.+)_(?P<visit>v\d+|visit_?\d+|month_?\d+|week_?\d+|day_?\d+|bl|baseline"
                           r"|fu_?\d+)$", re.IGNORECASE)
TIME_PARTS = ["T%H:%M:%S%z", "T%H:%M:%S", "T%H:%M", " %H:%M:%S", " %H:%M"]


@dataclass
class Sniffed:
    """What one export file looks like: its encoding, delimiter, header and some of each column's values."""

    path: Path
    encoding: str
    delimiter: str
    header: list[str]
    values: dict[str, list[str]]


def sniff(path: Path) -> Sniffed:
    """Read the header and the first rows of ``path`` with the encoding and delimiter it seems to have."""
    try:
        encoding, _ = detect_encoding(Source(path))
        head = path.read_bytes()[:1 << 20].decode(encoding, errors="replace").removeprefix("\ufeff")
    except OSError as exc:
        raise MappingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    first = head.splitlines()[0] if head.strip() else ""
    if not first:
        raise MappingError(f"{path}: the file is empty: no header row")
    delimiter = max(DELIMITERS, key=first.count)
    with contextlib.suppress(csv.Error):  # else the most frequent candidate in the header line stands
        delimiter = csv.Sniffer().sniff("\n".join(head.splitlines()[:20]), delimiters=DELIMITERS).delimiter
    rows = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter)
    header = [h.strip() for h in next(rows)]
    values: dict[str, list[str]] = {h: [] for h in header}
    for n, cells in enumerate(rows):
        if n >= SAMPLE_ROWS:
            break
        for column, cell in zip(header, cells, strict=False):
            if cell.strip():
                values[column].append(cell.strip())
    return Sniffed(path, encoding, delimiter, header, values)


def _reads_all(fmt: str, values: list[str]) -> bool:
    try:
        for value in values:
            dt.datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def guess_formats(values: list[str], candidates: list[str]) -> list[str]:
    """The candidate formats that read every value (in the candidates' order)."""
    return [f for f in candidates if values and _reads_all(f, values)]


def draft_from_files(paths: list[Path], matcher: Matcher | None = None) -> Draft:
    """A layout spec drafted from export files (see the module docstring)."""
    matcher = matcher or Matcher()
    sniffed = [sniff(p) for p in paths]
    delimiters = {s.delimiter for s in sniffed}
    draft = Draft(name="site", description=f"drafted by fhirbridge layout init from {', '.join(p.name for p in paths)}",
                  delimiter=sniffed[0].delimiter if sniffed else ",")
    draft.notes = ["Drafted from the headers and values of the export files. Check every line; fill in the",
                   "commented ones. " + ", ".join(f"{s.path.name}: {s.encoding}, delimiter {s.delimiter!r}"
                                                 for s in sniffed)]
    if len(delimiters) > 1:
        draft.notes.append(f"FILL IN: the files use different delimiters ({', '.join(map(repr, delimiters))}); a "
                           "layout has one")
    date_values: list[str] = []
    datetime_values: list[str] = []
    kinds_seen: set[str] = set()
    for file in sniffed:
        if "study_id" in file.header and "title" in file.header and matcher.kind_of(
                [(h, "") for h in file.header]) is None:
            draft.files.append(default_study(matcher, file.path.name))
            continue
        specs = _kinds_of_file(file, matcher, draft, kinds_seen)
        if not specs:
            draft.unplaced.append((file.path.name, [(h, _example(file, h)) for h in file.header]))
            continue
        used = {c for spec in specs for c in _columns_read(spec)}
        specs[-1].unmatched = [(h, _example(file, h)) for h in file.header if h not in used]
        for spec in specs:
            for path, column in spec.columns.items():
                values = [v for token in _tokens(spec) for v in file.values.get(resolve(column["column"], token), [])]
                kind_type = matcher.specs[spec.record].columns[path].type
                if kind_type in ("date", "datetime"):
                    (date_values if kind_type == "date" else datetime_values).extend(values)
                if "values" in column:
                    _use_default_map(draft, matcher, column["values"], values)
            if "study_id" not in spec.columns:
                spec.constants["study_id"] = "YOUR-STUDY"
                spec.notes.append("FILL IN: no study_id column; write your study's id in constants")
        draft.files.extend(specs)
    draft.files.sort(key=lambda f: list(matcher.specs).index(f.record))
    draft.date_formats, draft.datetime_formats = _guess_dates(date_values, datetime_values, draft)
    return draft


def _visit_columns(header: list[str]) -> dict[str, dict[str, str]]:
    """Column suffix of a visit → {column name without it: column}, when columns come per visit (``ais_v1``,
    ``ais_v2``): at least two suffixes, each on at least three columns."""
    by_suffix: dict[str, dict[str, str]] = {}
    for column in header:
        if match := _VISIT_SUFFIX.match(column):
            by_suffix.setdefault(match["visit"], {})[match["stem"]] = column
    found = {suffix: stems for suffix, stems in by_suffix.items() if len(stems) >= 3}
    return found if len(found) >= 2 else {}


def _visit_specs(file: Sniffed, matcher: Matcher, kinds_seen: set[str]) -> list[DraftFile]:
    """File specs with ``visits`` for the kinds of record a wide file holds once per visit."""
    per_visit = _visit_columns(file.header)
    stems = list(dict.fromkeys(stem for stems in per_visit.values() for stem in stems))
    specs: list[DraftFile] = []
    while stems and (kind := matcher.kind_of([(s, "") for s in stems])) is not None:
        if "visit" not in matcher.specs[kind].columns:
            break
        kinds_seen.add(kind)
        spec = DraftFile(kind, file.path.name, kind, notes=[
            f"from {file.path.name}: a record per visit, from the columns named per visit",
            "FILL IN: name the visits: the keys of visits are the visit names, the values the column suffixes"])
        for column in file.header:  # the keys that are not per visit
            if (match := matcher.match(kind, column)) is not None and match.path in ("study_id", "subject_id"):
                spec.take(match.path, column, match)
        cells = best_cell_scheme(stems) if kind == "isncsci_exam" else None
        cell_stems = set(cells[1]) if cells is not None and set(cells[1]) <= set(stems) else set()
        spec.cells = cells[0] if cell_stems and cells is not None else None
        for stem in stems:
            match = matcher.match(kind, stem) if stem not in cell_stems else None
            if match is not None and match.path != "visit":
                spec.take(match.path, f"{stem}_{VISIT}", match, **(
                    {"values": match.spec.values} if match.spec.values else {}))
        used = {c["column"].removesuffix(f"_{VISIT}") for c in spec.columns.values()} | cell_stems
        spec.visits = {suffix.upper(): suffix for suffix, by_stem in per_visit.items() if used & set(by_stem)}
        stems = [s for s in stems if s not in used]
        specs.append(spec)
    return specs


def _kinds_of_file(file: Sniffed, matcher: Matcher, draft: Draft, kinds_seen: set[str]) -> list[DraftFile]:
    """The file specs reading ``file``: the kinds it holds per visit (a wide export), then the kind most of its
    columns hold, then the kind most of the columns left hold, and so on (a long export holds demographics, exams
    and SCIM-III in one row)."""
    specs = _visit_specs(file, matcher, kinds_seen)
    per_visit = {column for spec in specs for column in _columns_read(spec)}
    remaining = [h for h in file.header if h not in per_visit]
    while (kind := matcher.kind_of([(h, "") for h in remaining])) is not None:
        name = kind if kind not in kinds_seen else f"{kind}_{len(draft.files) + len(specs)}"
        kinds_seen.add(kind)
        spec = DraftFile(name, file.path.name, kind, notes=[f"from {file.path.name}"])
        cells = best_cell_scheme(remaining) if kind == "isncsci_exam" else None
        cell_columns: set[str] = set()
        if cells is not None and set(cells[1]) <= set(remaining):
            spec.cells, cell_columns = cells[0], set(cells[1])
        for column in file.header:
            if column in cell_columns:
                continue
            match = matcher.match(kind, column)
            if match is not None and (column in remaining or match.path in KEY_FIELDS):
                spec.take(match.path, column, match, **({"values": match.spec.values} if match.spec.values else {}))
        taken = {c["column"] for c in spec.columns.values()} | cell_columns
        remaining = [h for h in remaining if h not in taken]
        specs.append(spec)
    return specs


def _columns_read(spec: DraftFile) -> list[str]:
    """The columns of the file a drafted spec reads (each visit's, for a spec with visits)."""
    cells = list(spec.cells.columns()) if spec.cells else []
    names = [c["column"] for c in spec.columns.values()] + [f"{c}_{VISIT}" if spec.visits else c for c in cells]
    return list(dict.fromkeys(resolve(n, t) for n in names for t in _tokens(spec)))


def _tokens(spec: DraftFile) -> list[str | None]:
    """The texts that stand for ``{visit}`` in the spec's columns (None: its columns are not per visit)."""
    return [*spec.visits.values()] or [None]


def _example(file: Sniffed, column: str) -> str:
    seen = file.values.get(column) or []
    return f"e.g. {seen[0]!r}" if seen else "empty in the rows read"


def _use_default_map(draft: Draft, matcher: Matcher, name: str, values: list[str]) -> None:
    """The default layout's value map, with a note of the values seen that it lacks."""
    table = matcher.layout.value_maps[name]
    draft.value_maps.setdefault(name, dict(table))
    known = {normal(k) for k in table}
    unknown = sorted({v for v in values if normal(v) not in known})
    if unknown:
        expected = ", ".join(sorted({str(v) for v in table.values()}))
        draft.map_notes.setdefault(name, []).append(
            f"FILL IN: the export has {', '.join(map(repr, unknown))}, which this map lacks ({expected})")


def _guess_dates(dates: list[str], datetimes: list[str], draft: Draft) -> tuple[list[str], list[str]]:
    date_formats = guess_formats(dates, DATE_FORMATS) if dates else []
    time_candidates = [d + t for d in DATE_FORMATS[:6] for t in TIME_PARTS]
    # a date-time column may also hold bare dates: those are read with the date formats
    timed = [v for v in datetimes if any(c in v for c in "T:")]
    datetime_formats = guess_formats(timed, time_candidates) if timed else []
    for kind, found in (("date", date_formats), ("date-time", datetime_formats)):
        if len([f for f in found if f in DATE_FORMATS[1:3] or f[:8] in ("%d/%m/%Y", "%m/%d/%Y")]) > 1:
            draft.notes.append(f"FILL IN: {kind} values read as day first and as month first alike; keep the one "
                               "your export writes")
    if dates and not date_formats:
        draft.notes.append("FILL IN: no known date format reads every date value; write date_formats")
    if timed and not datetime_formats:
        draft.notes.append("FILL IN: no known date-time format reads every date-time value; write datetime_formats")
    if timed and not any("%z" in f for f in datetime_formats):
        draft.notes.append("timezone: the times carry no UTC offset; write the site's offset (e.g. +01:00)")
    return date_formats or ["%Y-%m-%d"], datetime_formats
