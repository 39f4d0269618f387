"""SDTM datasets as CDISC Dataset-XML 1.0 (``ae.xml``): ODM 1.3.2 ClinicalData, one ItemGroupData per row.

Item OIDs are those of the define.xml written beside the datasets (``IT.AE.AESEV``); reading takes the
variable name from the OID, so a file read back needs no define.xml. Reading streams the file.

Writing streams too: lxml serializes the document around the rows, and each row is written as it comes, in
the layout lxml gives the whole document when pretty-printing it (lxml's own incremental writer cannot write an
empty element in the short form, nor a child element without declaring its namespaces again).

XML 1.0 cannot hold most control characters, not even as character references; Dataset-JSON and XPT hold them as
they are. A text with one (U+0001 in an AE term) is written without it, and FB-SDTM-032 names the dataset file,
row and variable, so that the file stays readable and nothing changes silently.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO

from lxml import etree

from fhirbridge.formats.sdtm import odm
from fhirbridge.formats.sdtm.dataset import Column, Dataset, Row, Value
from fhirbridge.formats.sdtm.values import ColumnTypes, UnreadableDataset, typed_value
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue

_ODM = f"{{{odm.ODM_NS}}}"
_DATA = f"{{{odm.DATA_NS}}}"
#: What libxml2 escapes in an attribute value.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;",
                          "\t": "&#9;"})
#: What XML 1.0 cannot hold, even as a character reference (NUL is the separator of a column's values, which the
#: readers never give).
_NOT_XML = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: Rows serialized together: enough to make few calls, few enough to keep the text they make small.
_ROWS_AT_ONCE = 1000


class DatasetXmlWriter:
    """One dataset's Dataset-XML file, written row by row."""

    def __init__(self, path: Path, name: str, columns: list[Column], study_id: str, issues: list[Issue]) -> None:
        root = etree.Element(f"{_ODM}ODM", nsmap={None: odm.ODM_NS, "data": odm.DATA_NS}, attrib={
            "FileOID": f"{odm.study_oid(study_id)}.{name}", "FileType": "Snapshot",
            "CreationDateTime": odm.creation_time(), "ODMVersion": "1.3.2", "Originator": "fhirbridge",
            f"{_DATA}DatasetXMLVersion": "1.0.0",
        })
        clinical = etree.SubElement(root, f"{_ODM}ClinicalData", StudyOID=odm.study_oid(study_id),
                                    MetaDataVersionOID=odm.METADATA_VERSION)
        etree.SubElement(clinical, f"{_ODM}ItemGroupData")  # where the rows go
        document = etree.tostring(etree.ElementTree(root), xml_declaration=True, encoding="UTF-8", pretty_print=True)
        self.head, _, self.tail = document.partition(b"<ItemGroupData/>")
        self.group = f'<ItemGroupData ItemGroupOID="{_attribute(odm.item_group_oid(name))}" data:ItemGroupDataSeq="'
        self.items = [(c.name, f'      <ItemData ItemOID="{_attribute(odm.item_oid(name, c.name))}" Value="')
                      for c in columns]
        self.handle: IO[str] = path.open("w", encoding="utf-8", newline="\n")
        self.handle.write(self.head.decode("utf-8"))
        self.seq = 0
        self.path = path
        self.issues = issues

    def append(self, dataset: Dataset, texts: list[list[str]], first: int) -> None:
        for start in range(0, len(dataset.rows), _ROWS_AT_ONCE):
            end = start + _ROWS_AT_ONCE
            self._write(dataset.rows[start:end], [column[start:end] for column in texts], first + start)

    def _write(self, rows: list[Row], texts: list[list[str]], first: int) -> None:
        # one escaping pass per column: values hold no NUL, which XML cannot hold either
        items = []
        for (name, item), column in zip(self.items, texts, strict=True):
            joined = "\0".join(column)
            if _NOT_XML.search(joined):  # rare: find, report and leave out each such character
                joined = "\0".join(self._legal(text, name, rows[index], first + index)
                                   for index, text in enumerate(column))
            items.append([f'{item}{text}"/>\n' for text in joined.translate(_ESCAPES).split("\0")])
        lines: list[str] = []
        for index, row in enumerate(rows):
            self.seq += 1
            if self.seq > 1:
                lines.append("\n    ")
            present = [column[index] for (name, _), column in zip(self.items, items, strict=True)
                       if row.get(name) is not None]
            if present:
                lines.append(f'{self.group}{self.seq}">\n')
                lines.extend(present)
                lines.append("    </ItemGroupData>")
            else:
                lines.append(f'{self.group}{self.seq}"/>')
        self.handle.write("".join(lines))

    def _legal(self, text: str, name: str, row: Row, number: int) -> str:
        """``text`` without the characters XML cannot hold, each reported (row ``number`` of the file)."""
        if not _NOT_XML.search(text):
            return text
        shown = _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}", text)
        found = ", ".join(dict.fromkeys(f"U+{ord(c):04X}" for c in _NOT_XML.findall(text)))
        self.issues.append(Issue.of(
            "FB-SDTM-032", f"{name} holds a control character XML cannot hold ({found}); Dataset-XML has the value "
            "without it", file=str(self.path), row=number, column=name,
            subject=str(row.get("USUBJID") or "") or None, value=shown))
        return _NOT_XML.sub("", text)

    def finish(self, columns: list[Column]) -> None:
        self.handle.write(self.tail.decode("utf-8"))
        self.handle.close()

    def close(self) -> None:
        self.handle.close()


def _attribute(text: str) -> str:
    return text.translate(_ESCAPES)


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
