"""SDTM datasets as SAS XPORT version 5 (``ae.xpt``), written and read with pyreadstat.

XPT v5 has no text encoding: SAS reads it in its session encoding (usually Latin-1 or ASCII). fhirbridge
writes UTF-8 and warns about every non-ASCII value; a value over 200 bytes is cut to 200 and reported.
"""

from __future__ import annotations

import math
from pathlib import Path

from fhirbridge.formats.sdtm.conformance import XPT_CHAR, xpt_limits
from fhirbridge.formats.sdtm.dataset import Column, Dataset, Value, data_type
from fhirbridge.formats.sdtm.values import UnreadableDataset
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue, Severity


def write(dataset: Dataset, path: Path, issues: list[Issue]) -> None:
    import pandas as pd  # only needed for XPT (pyreadstat writes from a data frame)
    import pyreadstat

    located = Dataset(name=dataset.name, label=dataset.label, columns=dataset.columns, rows=dataset.rows,
                      file=str(path))
    issues.extend(i.model_copy(update={"severity": Severity.ERROR, "message": f"{i.message}; cut to fit"})
                  for i in xpt_limits(located))
    frame = {}
    for column in dataset.columns:
        values = [row.get(column.name) for row in dataset.rows]
        if column.type == "Num":
            frame[column.name] = pd.Series([math.nan if v is None else float(v) for v in values], dtype="float64")
        else:
            frame[column.name] = pd.Series([_fit(v, column.name, i, located, issues) for i, v in enumerate(values)],
                                           dtype="object")
    pyreadstat.write_xport(pd.DataFrame(frame), str(path), file_label=dataset.label[:40],
                           column_labels=[c.label[:40] for c in dataset.columns], table_name=dataset.name[:8],
                           file_format_version=5)


def _fit(value: Value, name: str, index: int, dataset: Dataset, issues: list[Issue]) -> str:
    text = "" if value is None else str(value)
    if not text.isascii():
        issues.append(Issue.of("FB-SDTM-019", f"{name} holds non-ASCII text; XPT v5 has no encoding, it is written "
                               "as UTF-8", file=dataset.file, row=dataset.row_number(index), column=name,
                               subject=str(dataset.rows[index].get("USUBJID") or "") or None, value=text))
    encoded = text.encode("utf-8")
    return encoded[:XPT_CHAR].decode("utf-8", errors="ignore") if len(encoded) > XPT_CHAR else text


def read(path: Source) -> Dataset:
    import pyreadstat

    try:
        with path.local_path() as local:
            values, meta = pyreadstat.read_xport(str(local), output_format="dict", encoding="utf-8")
    except Exception as exc:  # pyreadstat raises its own error types for every kind of damage
        raise UnreadableDataset(f"not a readable SAS XPORT file: {exc}") from None
    names = list(meta.column_names)
    kinds = {n: "Num" if meta.readstat_variable_types.get(n) == "double" else "Char" for n in names}
    count = len(values[names[0]]) if names else 0
    rows = [{n: _value(values[n][i]) for n in names} for i in range(count)]
    labels = dict(zip(names, meta.column_labels or [""] * len(names), strict=True))
    columns = [Column(name=n.upper(), label=labels[n] or "", type=kinds[n],  # type: ignore[arg-type]
                      data_type=data_type(kinds[n], [r[n] for r in rows], n.upper())) for n in names]
    upper = [{n.upper(): v for n, v in row.items()} for row in rows]
    name = (meta.table_name or path.stem).upper()
    return Dataset(name=name, label=meta.file_label or "", columns=columns, rows=upper, file=str(path),
                   row_numbers=list(range(1, count + 1)))


def _value(value: object) -> Value:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    text = str(value)
    return text if text != "" else None
