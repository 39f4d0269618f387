"""SDTM datasets as SAS XPORT version 5 (``ae.xpt``): written a chunk of rows at a time, read with pyreadstat.

XPT v5 has no text encoding: SAS reads it in its session encoding (usually Latin-1 or ASCII). fhirbridge
writes UTF-8 and warns about every non-ASCII value; a value over 200 bytes is cut to 200 and reported.

A character variable is as wide as its longest value, which is known only once every row is in: rows are kept
in a temporary file beside the output (pickled a chunk at a time) and the XPT written from it at the end.
"""

from __future__ import annotations

import math
import pickle
import tempfile
from itertools import islice
from pathlib import Path
from typing import IO

from fhirbridge.formats.sdtm import odm, xport_v5
from fhirbridge.formats.sdtm.conformance import XPT_CHAR, xpt_name_limits, xpt_value_limits
from fhirbridge.formats.sdtm.dataset import Column, Dataset, Value, data_type
from fhirbridge.formats.sdtm.values import UnreadableDataset
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue, Severity

XptRow = tuple[bytes | float | None, ...]
#: Rows pickled, and then encoded, together: few calls, and little memory whatever the size of a chunk.
_ROWS_AT_ONCE = 2000


class XptWriter:
    """One dataset's XPT file: rows appended chunk by chunk, the file written by ``finish``."""

    def __init__(self, path: Path, name: str, label: str, columns: list[Column], issues: list[Issue]) -> None:
        self.path = path
        self.name = name
        self.label = label
        self.columns = columns
        self.issues = issues
        self.widths = [1] * len(columns)
        self.spool: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115 (closed by close())
            dir=path.parent, prefix=f".{path.name}.")
        self.named = False

    def append(self, dataset: Dataset, texts: list[list[str]], first: int) -> None:
        """Report what XPT cannot hold (rows numbered from ``first``), and keep the rows as XPT will hold them."""
        located = Dataset(name=self.name, label=self.label, columns=self.columns, rows=dataset.rows,
                          file=str(self.path), row_numbers=list(range(first, first + len(dataset.rows))))
        limits = xpt_value_limits(located) if self.named else [*xpt_name_limits(located), *xpt_value_limits(located)]
        self.named = True
        self.issues.extend(i.model_copy(update={"severity": Severity.ERROR, "message": f"{i.message}; cut to fit"})
                           for i in limits)
        values: list[list[bytes | float | None]] = []
        for number, column in enumerate(self.columns):
            cells = [row.get(column.name) for row in dataset.rows]
            if column.type == "Num":
                values.append([None if v is None else float(v) for v in cells])  # type: ignore[arg-type]
            else:
                fitted = [_fit(v, column.name, i, located, self.issues) for i, v in enumerate(cells)]
                self.widths[number] = max(self.widths[number], max(map(len, fitted), default=0))
                values.append(fitted)  # type: ignore[arg-type]
        rows = zip(*values, strict=True)
        while block := list(islice(rows, _ROWS_AT_ONCE)):
            pickle.dump(block, self.spool, protocol=pickle.HIGHEST_PROTOCOL)

    def finish(self, columns: list[Column]) -> None:
        variables = [xport_v5.Variable(c.name[:8], c.label[:40], c.type, w if c.type == "Char" else 8)
                     for c, w in zip(self.columns, self.widths, strict=True)]
        self.spool.seek(0)
        written = 0
        with self.path.open("wb") as out:
            out.write(xport_v5.header(self.name, self.label, variables, odm.creation_moment()))
            while True:
                try:
                    rows: list[XptRow] = pickle.load(self.spool)
                except EOFError:
                    break
                block = b"".join(xport_v5.observations(rows, variables))
                out.write(block)
                written += len(block)
            out.write(xport_v5.padding(written))
        self.spool.close()

    def close(self) -> None:
        self.spool.close()


def _fit(value: Value, name: str, index: int, dataset: Dataset, issues: list[Issue]) -> bytes:
    if value is None:
        return b""
    text = str(value)
    if not text.isascii():
        issues.append(Issue.of("FB-SDTM-019", f"{name} holds non-ASCII text; XPT v5 has no encoding, it is written "
                               "as UTF-8", file=dataset.file, row=dataset.row_number(index), column=name,
                               subject=str(dataset.rows[index].get("USUBJID") or "") or None, value=text))
    encoded = text.encode("utf-8")
    return encoded[:XPT_CHAR].decode("utf-8", errors="ignore").encode("utf-8") if len(encoded) > XPT_CHAR else encoded


def read(path: Source) -> Dataset:
    import pyreadstat

    try:
        with path.local_path() as local:
            values, meta = pyreadstat.read_xport(str(local), output_format="dict", encoding="utf-8")
            names = list(meta.column_names)
            count = len(values[names[0]]) if names else 0
            _check_whole(local, sum(meta.variable_storage_width.get(n, 0) for n in names), count)
    except UnreadableDataset:
        raise
    except Exception as exc:  # pyreadstat raises its own error types for every kind of damage
        raise UnreadableDataset(f"not a readable SAS XPORT file: {exc}") from None
    kinds = {n: "Num" if meta.readstat_variable_types.get(n) == "double" else "Char" for n in names}
    rows = [{n: _value(values[n][i]) for n in names} for i in range(count)]
    labels = dict(zip(names, meta.column_labels or [""] * len(names), strict=True))
    columns = [Column(name=n.upper(), label=labels[n] or "", type=kinds[n],  # type: ignore[arg-type]
                      data_type=data_type(kinds[n], [r[n] for r in rows], n.upper())) for n in names]
    upper = [{n.upper(): v for n, v in row.items()} for row in rows]
    name = (meta.table_name or path.stem).upper()
    return Dataset(name=name, label=meta.file_label or "", columns=columns, rows=upper, file=str(path),
                   row_numbers=list(range(1, count + 1)))


#: The record that ends the header; the observations follow it.
_OBS_HEADER = b"HEADER RECORD*******OBS     HEADER RECORD"


def _check_whole(local: Path, row_length: int, rows: int) -> None:
    """Raise UnreadableDataset for a file cut short, which pyreadstat reads without a word (a header cut off gives
    no rows, a row cut off is dropped): an XPT file is whole 80-byte records, its header ends with the OBS
    header record, and after the last whole row come only blank padding bytes, fewer than 80."""
    size = local.stat().st_size
    if size % 80:
        raise UnreadableDataset(f"the file is cut short: {size} bytes is not a whole number of 80-byte records")
    with local.open("rb") as handle:
        head = handle.read(1 << 20)
        at = head.find(_OBS_HEADER)
        if at < 0:
            if size <= len(head):
                raise UnreadableDataset("the file is cut short: its header has no OBS header record")
            return  # a header over 1 MiB: not checked further
        start = at - at % 80 + 80  # the record holding the marker, then the rows
        handle.seek(start + rows * row_length)
        rest = handle.read()
    if len(rest) >= 80 or rest.strip(b" "):
        raise UnreadableDataset(f"the file is cut short: a row after row {rows} is incomplete "
                                f"({len(rest)} bytes of {row_length})")


def _value(value: object) -> Value:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    text = str(value)
    return text if text != "" else None
