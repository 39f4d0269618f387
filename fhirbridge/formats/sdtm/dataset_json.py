"""SDTM datasets as CDISC Dataset-JSON 1.1 (``ae.json``): column metadata and rows as arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from fhirbridge.formats.sdtm import odm
from fhirbridge.formats.sdtm.dataset import Column, Dataset, Value
from fhirbridge.formats.sdtm.values import UnreadableDataset
from fhirbridge.inputs import Source

VERSION = "1.1.0"
# --DTC may be partial (2019-03), which the Dataset-JSON "datetime" type does not allow: they are strings
_TYPES = {"text": "string", "integer": "integer", "float": "double", "datetime": "string"}
_KINDS = {"string": "Char", "datetime": "Char", "date": "Char", "integer": "Num", "decimal": "Num", "float": "Num",
          "double": "Num"}


def write(dataset: Dataset, path: Path, study_id: str, keys: list[str]) -> None:
    columns = []
    for column in dataset.columns:
        entry: dict[str, Any] = {"itemOID": odm.item_oid(dataset.name, column.name), "name": column.name,
                                 "label": column.label, "dataType": _TYPES[column.data_type]}
        if column.name in keys:
            entry["keySequence"] = keys.index(column.name) + 1
        columns.append(entry)
    document = {
        "datasetJSONCreationDateTime": odm.creation_time(),
        "datasetJSONVersion": VERSION,
        "fileOID": f"{odm.study_oid(study_id)}.{dataset.name}",
        "originator": "fhirbridge",
        "studyOID": odm.study_oid(study_id),
        "metaDataVersionOID": odm.METADATA_VERSION,
        "metaDataRef": "define.xml",
        "itemGroupOID": odm.item_group_oid(dataset.name),
        "records": len(dataset.rows),
        "name": dataset.name,
        "label": dataset.label,
        "columns": columns,
        "rows": [[row.get(c.name) for c in dataset.columns] for row in dataset.rows],
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def read(path: Source) -> Dataset:
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
            raise UnreadableDataset(f"rows[{index}] does not have one value per column", row=index + 1)
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
