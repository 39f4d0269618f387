"""SDTM datasets as CDISC Dataset-JSON 1.1 (``ae.json``): column metadata and rows as arrays.

The header states the number of rows and each column's type (integer until a value has a fraction), known
only once every row is in: rows are serialized as they come into a temporary file beside the output, and the
document is put together from the header and those bytes at the end, exactly as ``orjson`` indents the whole.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

import orjson

from fhirbridge.formats.sdtm import odm
from fhirbridge.formats.sdtm.dataset import Column, Dataset, Value
from fhirbridge.formats.sdtm.values import UnreadableDataset
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue

VERSION = "1.1.0"
# --DTC may be partial (2019-03), which the Dataset-JSON "datetime" type does not allow: they are strings
_TYPES = {"text": "string", "integer": "integer", "float": "double", "datetime": "string"}
_KINDS = {"string": "Char", "datetime": "Char", "date": "Char", "integer": "Num", "decimal": "Num", "float": "Num",
          "double": "Num"}
#: A row's place in the document: an item of ``rows``, itself indented by two levels of two spaces.
_ROW_INDENT = b"    "


class DatasetJsonWriter:
    """One dataset's Dataset-JSON file: rows appended chunk by chunk, the file written by ``finish``."""

    def __init__(self, path: Path, name: str, label: str, columns: list[Column], study_id: str,
                 keys: list[str]) -> None:
        self.path = path
        self.name = name
        self.label = label
        self.names = [c.name for c in columns]
        self.study_id = study_id
        self.keys = keys
        self.records = 0
        self.spool: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115 (closed by close())
            dir=path.parent, prefix=f".{path.name}.")

    def append(self, dataset: Dataset, texts: list[list[str]], first: int) -> None:
        indented = b"\n" + _ROW_INDENT
        for row in dataset.rows:
            if self.records:
                self.spool.write(b",\n")
            text = orjson.dumps([row.get(n) for n in self.names], option=orjson.OPT_INDENT_2)
            self.spool.write(_ROW_INDENT + text.replace(b"\n", indented))
            self.records += 1

    def finish(self, columns: list[Column]) -> None:
        entries = []
        for column in columns:
            entry: dict[str, Any] = {"itemOID": odm.item_oid(self.name, column.name), "name": column.name,
                                     "label": column.label, "dataType": _TYPES[column.data_type]}
            if column.name in self.keys:
                entry["keySequence"] = self.keys.index(column.name) + 1
            entries.append(entry)
        document = {
            "datasetJSONCreationDateTime": odm.creation_time(),
            "datasetJSONVersion": VERSION,
            "fileOID": f"{odm.study_oid(self.study_id)}.{self.name}",
            "originator": "fhirbridge",
            "studyOID": odm.study_oid(self.study_id),
            "metaDataVersionOID": odm.METADATA_VERSION,
            "metaDataRef": "define.xml",
            "itemGroupOID": odm.item_group_oid(self.name),
            "records": self.records,
            "name": self.name,
            "label": self.label,
            "columns": entries,
        }
        # the document without its last member, "rows", which follows it
        head = orjson.dumps(document, option=orjson.OPT_INDENT_2).rpartition(b"\n}")[0]
        self.spool.seek(0)
        with self.path.open("wb") as out:
            out.write(head + b',\n  "rows": ')
            if self.records:
                out.write(b"[\n")
                shutil.copyfileobj(self.spool, out, 1 << 20)
                out.write(b"\n  ]")
            else:
                out.write(b"[]")
            out.write(b"\n}\n")
        self.spool.close()

    def close(self) -> None:
        self.spool.close()


def read(path: Source, issues: list[Issue]) -> Dataset:
    """The dataset; a row that is not an array of one value per column is reported (FB-SDTM-031) and left out,
    the others are read."""
    try:
        document = path.json()
    except orjson.JSONDecodeError as exc:
        raise UnreadableDataset(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("columns"), list):
        raise UnreadableDataset("not a Dataset-JSON document: no 'columns' array")
    columns = []
    for index, entry in enumerate(document["columns"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise UnreadableDataset(f"columns[{index}] has no name")
        kind = _KINDS.get(str(entry.get("dataType")), "Char")
        columns.append(Column(name=entry["name"].upper(), label=str(entry.get("label", "")), type=kind))  # type: ignore[arg-type]
    dataset = Dataset(name=str(document.get("name") or path.stem).upper(), label=str(document.get("label", "")),
                      columns=columns, file=str(path))
    for index, values in enumerate(document.get("rows") or []):
        if not isinstance(values, list) or len(values) != len(columns):
            what = "null" if values is None else f"{len(values)} values" if isinstance(values, list) else "not an array"
            issues.append(Issue.of("FB-SDTM-031", f"rows[{index}] is {what}, not one value per column "
                                   f"({len(columns)}); the row is not read", file=str(path), row=index + 1,
                                   target=f"rows[{index}]", expected=f"{len(columns)} values"))
            continue
        dataset.rows.append({c.name: _value(v) for c, v in zip(columns, values, strict=True)})
        dataset.row_numbers.append(index + 1)
    return dataset


def _value(value: Any) -> Value:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int | float) else str(value)
