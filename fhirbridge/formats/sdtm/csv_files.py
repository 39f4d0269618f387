"""SDTM datasets as CSV: one file per dataset (``ae.csv``), variable names in the header, UTF-8."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fhirbridge.formats.sdtm.dataset import Column, Dataset, Value
from fhirbridge.formats.sdtm.values import ColumnTypes, UnreadableDataset, typed_value
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue


class CsvWriter:
    """Appends rows to ``ae.csv`` as they come: the header holds only the variable names."""

    def __init__(self, path: Path, columns: list[Column]) -> None:
        self.names = [c.name for c in columns]
        self.handle = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle, lineterminator="\n")
        self.writer.writerow(self.names)

    def append(self, dataset: Dataset, texts: list[list[str]], first: int) -> None:
        self.writer.writerows(zip(*texts, strict=True))

    def finish(self, columns: list[Column]) -> None:
        self.handle.close()

    def close(self) -> None:
        self.handle.close()


def read(path: Source, types: ColumnTypes, issues: list[Issue]) -> Dataset:
    """Read one dataset; Num variables (by the mapping) become numbers. Streams rows from the file."""
    name = path.stem.upper()
    dataset = Dataset(name=name, label="", columns=[], file=str(path))
    try:
        with io.TextIOWrapper(path.open(), encoding="utf-8-sig", newline="") as handle:
            rows = csv.reader(handle, strict=True)
            header = next(rows, None)
            if header is None:
                raise UnreadableDataset("file is empty: no header row", row=1)
            header = [h.strip().upper() for h in header]
            kinds = types(name)
            dataset.columns = [Column(name=h, type=kinds.get(h, "Char")) for h in header]
            for cells in rows:
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    raise UnreadableDataset(f"row has {len(cells)} fields, the header has {len(header)}",
                                            row=rows.line_num)
                row: dict[str, Value] = {}
                for column, cell in zip(dataset.columns, cells, strict=True):
                    row[column.name] = typed_value(cell.strip(), column.type, (str(path), rows.line_num, column.name),
                                                   issues)
                dataset.rows.append(row)
                dataset.row_numbers.append(rows.line_num)
    except csv.Error as exc:
        raise UnreadableDataset(f"malformed CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UnreadableDataset(f"not UTF-8: {exc.reason}") from None
    return dataset
