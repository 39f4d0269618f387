"""define.xml (Define-XML 2.1) describing the datasets written: every dataset, variable and codelist used."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from fhirbridge import __version__
from fhirbridge.formats.sdtm import odm
from fhirbridge.formats.sdtm.dataset import Dataset, as_text
from fhirbridge.mapping.sdtm_mapping import SdtmMapping, VariableSpec

_ODM = f"{{{odm.ODM_NS}}}"
_DEF = f"{{{odm.DEF_NS}}}"
_XLINK = f"{{{odm.XLINK_NS}}}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def write(datasets: list[tuple[Dataset, str]], path: Path, mapping: SdtmMapping, study_id: str,
          title: str | None) -> None:
    """``datasets`` pairs each dataset with the file name it was written to."""
    root = etree.Element(f"{_ODM}ODM", nsmap={None: odm.ODM_NS, "def": odm.DEF_NS, "xlink": odm.XLINK_NS}, attrib={
        "FileType": "Snapshot", "FileOID": f"{odm.study_oid(study_id)}.DEFINE", "ODMVersion": "1.3.2",
        "CreationDateTime": odm.creation_time(), "Originator": "fhirbridge", "SourceSystem": "fhirbridge",
        "SourceSystemVersion": __version__, f"{_DEF}Context": "Submission",
    })
    study = etree.SubElement(root, f"{_ODM}Study", OID=odm.study_oid(study_id))
    variables = etree.SubElement(study, f"{_ODM}GlobalVariables")
    etree.SubElement(variables, f"{_ODM}StudyName").text = study_id
    etree.SubElement(variables, f"{_ODM}StudyDescription").text = title or study_id
    etree.SubElement(variables, f"{_ODM}ProtocolName").text = study_id
    version = etree.SubElement(study, f"{_ODM}MetaDataVersion", attrib={
        "OID": odm.METADATA_VERSION, "Name": f"fhirbridge SDTM mapping {mapping.name} {mapping.version}",
        f"{_DEF}DefineVersion": "2.1.0"})
    standards = etree.SubElement(version, f"{_DEF}Standards")
    etree.SubElement(standards, f"{_DEF}Standard", OID="STD.1", Name=mapping.standard.name, Type="IG",
                     Version=mapping.standard.version, Status="Final")
    codelists: dict[str, None] = {}
    for dataset, file_name in datasets:
        _item_group(version, dataset, file_name, mapping)
    for dataset, _ in datasets:
        specs = mapping.dataset_variables(dataset.name) or {}
        for column in dataset.columns:
            spec = specs.get(column.name)
            _item_def(version, dataset, column.name, spec)
            if spec is not None and spec.codelist is not None:
                codelists[spec.codelist] = None
    for name in codelists:
        codelist = etree.SubElement(version, f"{_ODM}CodeList", OID=f"CL.{name}", Name=name, DataType="text")
        for value in dict.fromkeys(mapping.codelists[name].values.values()):
            etree.SubElement(codelist, f"{_ODM}EnumeratedItem", CodedValue=value)
    etree.ElementTree(root).write(str(path), xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _item_group(version: etree._Element, dataset: Dataset, file_name: str, mapping: SdtmMapping) -> None:
    parent = mapping.domain_of_supp(dataset.name)
    spec = mapping.domains.get(parent or dataset.name)
    keys = spec.keys if spec is not None and parent is None else ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR",
                                                                  "IDVARVAL", "QNAM"]
    group = etree.SubElement(version, f"{_ODM}ItemGroupDef", attrib={
        "OID": odm.item_group_oid(dataset.name), "Domain": parent or dataset.name, "Name": dataset.name,
        "SASDatasetName": dataset.name, "Repeating": "No" if dataset.name == "DM" else "Yes",
        "IsReferenceData": "Yes" if dataset.name == "TS" else "No", "Purpose": "Tabulation",
        f"{_DEF}Structure": spec.structure if spec is not None and parent is None else
        "One record per IDVAR, IDVARVAL, and QNAM value per subject",
        f"{_DEF}StandardOID": "STD.1", f"{_DEF}ArchiveLocationID": f"LF.{dataset.name}"})
    _description(group, dataset.label)
    variables = mapping.dataset_variables(dataset.name) or {}
    for order, column in enumerate(dataset.columns, start=1):
        core = variables[column.name].core if column.name in variables else "Perm"
        attrib = {"ItemOID": odm.item_oid(dataset.name, column.name), "OrderNumber": str(order),
                  "Mandatory": "Yes" if core == "Req" else "No"}
        if column.name in keys:
            attrib["KeySequence"] = str(keys.index(column.name) + 1)
        etree.SubElement(group, f"{_ODM}ItemRef", attrib=attrib)
    klass = spec.class_ if spec is not None and parent is None else "RELATIONSHIP"
    etree.SubElement(group, f"{_DEF}Class", Name=klass)
    leaf = etree.SubElement(group, f"{_DEF}leaf", attrib={"ID": f"LF.{dataset.name}", f"{_XLINK}href": file_name})
    etree.SubElement(leaf, f"{_DEF}title").text = file_name


def _item_def(version: etree._Element, dataset: Dataset, name: str, spec: VariableSpec | None) -> None:
    column = next(c for c in dataset.columns if c.name == name)
    attrib = {"OID": odm.item_oid(dataset.name, name), "Name": name, "DataType": column.data_type,
              "SASFieldName": name}
    if column.data_type != "datetime":
        longest = max((len(as_text(r.get(name))) for r in dataset.rows), default=1)
        attrib["Length"] = str(max(longest, 1))
    if column.data_type == "float":
        attrib["SignificantDigits"] = str(max((len(as_text(r.get(name)).partition(".")[2]) for r in dataset.rows),
                                              default=1))
    item = etree.SubElement(version, f"{_ODM}ItemDef", attrib=attrib)
    _description(item, column.label)
    if spec is not None and spec.codelist is not None:
        etree.SubElement(item, f"{_ODM}CodeListRef", CodeListOID=f"CL.{spec.codelist}")
    etree.SubElement(item, f"{_DEF}Origin", Type=_origin(spec))


def _origin(spec: VariableSpec | None) -> str:
    if spec is None or spec.field is not None or spec.flag is not None:
        return "Collected"
    return "Derived" if spec.derive is not None or spec.when is not None else "Assigned"


def _description(parent: etree._Element, text: str) -> None:
    description = etree.SubElement(parent, f"{_ODM}Description")
    etree.SubElement(description, f"{_ODM}TranslatedText", attrib={_XML_LANG: "en"}).text = text
