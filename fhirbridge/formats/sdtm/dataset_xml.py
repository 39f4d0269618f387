"""SDTM datasets as CDISC Dataset-XML 1.0 (``ae.xml``): ODM 1.3.2 ClinicalData, one ItemGroupData per row.

Item OIDs are those of the define.xml written beside the datasets (``IT.AE.AESEV``); reading takes the
variable name from the OID, so a file read back needs no define.xml. Reading streams the file.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from fhirbridge.formats.sdtm import odm
from fhirbridge.formats.sdtm.dataset import Column, Dataset, Value, as_text
from fhirbridge.formats.sdtm.values import ColumnTypes, UnreadableDataset, typed_value
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue

_ODM = f"{{{odm.ODM_NS}}}"
_DATA = f"{{{odm.DATA_NS}}}"


def write(dataset: Dataset, path: Path, study_id: str) -> None:
    root = etree.Element(f"{_ODM}ODM", nsmap={None: odm.ODM_NS, "data": odm.DATA_NS}, attrib={
        "FileOID": f"{odm.study_oid(study_id)}.{dataset.name}", "FileType": "Snapshot",
        "CreationDateTime": odm.creation_time(), "ODMVersion": "1.3.2", "Originator": "fhirbridge",
        f"{_DATA}DatasetXMLVersion": "1.0.0",
    })
    clinical = etree.SubElement(root, f"{_ODM}ClinicalData", StudyOID=odm.study_oid(study_id),
                                MetaDataVersionOID=odm.METADATA_VERSION)
    for seq, row in enumerate(dataset.rows, start=1):
        group = etree.SubElement(clinical, f"{_ODM}ItemGroupData", attrib={
            "ItemGroupOID": odm.item_group_oid(dataset.name), f"{_DATA}ItemGroupDataSeq": str(seq)})
        for column in dataset.columns:
            value = row.get(column.name)
            if value is not None:
                etree.SubElement(group, f"{_ODM}ItemData", ItemOID=odm.item_oid(dataset.name, column.name),
                                 Value=as_text(value))
    etree.ElementTree(root).write(str(path), xml_declaration=True, encoding="UTF-8", pretty_print=True)


def read(path: Source, types: ColumnTypes, issues: list[Issue]) -> Dataset:
    dataset = Dataset(name=path.stem.upper(), label="", columns=[], file=str(path))
    names: dict[str, str] = {}
    try:
        with path.open() as handle:
            for _, element in etree.iterparse(handle, events=("end",), tag=f"{_ODM}ItemGroupData"):
                group = str(element.get("ItemGroupOID", ""))
                dataset.name = group.removeprefix("IG.").upper() or dataset.name
                kinds = types(dataset.name)
                number = len(dataset.rows) + 1
                row: dict[str, Value] = {}
                for item in element.iterfind(f"{_ODM}ItemData"):
                    oid = str(item.get("ItemOID", ""))
                    name = names.setdefault(oid, oid.rpartition(".")[2].upper())
                    row[name] = typed_value(str(item.get("Value", "")), kinds.get(name, "Char"),
                                            (str(path), number, name), issues)
                dataset.rows.append(row)
                dataset.row_numbers.append(number)
                element.clear()
    except etree.XMLSyntaxError as exc:
        raise UnreadableDataset(f"not well-formed XML: {exc}") from None
    # Dataset-XML leaves empty values out, so a variable empty on every row is only known from the mapping
    kinds = types(dataset.name)
    declared = list(kinds) + [n for n in dict.fromkeys(names.values()) if n not in kinds]
    dataset.columns = [Column(name=n, type=kinds.get(n, "Char")) for n in declared]
    return dataset
