"""define.xml (Define-XML 2.1) describing the datasets written: every dataset and variable with its origin, the
codelists used (CDISC ones with their NCI codes and CT version, sponsor terms marked as extended values,
sponsor codelists), MedDRA as an external dictionary with its version, and value-level metadata for the
findings domains (QS, NV, RS: one entry per test code)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from fhirbridge import __version__
from fhirbridge.formats.sdtm import odm
from fhirbridge.formats.sdtm.dataset import Dataset, as_text
from fhirbridge.formats.sdtm.design import parameter_names
from fhirbridge.inputs import Source, expand
from fhirbridge.mapping.sdtm_mapping import DomainSpec, FindingTest, SdtmMapping, VariableSpec

_ODM = f"{{{odm.ODM_NS}}}"
_DEF = f"{{{odm.DEF_NS}}}"
_XLINK = f"{{{odm.XLINK_NS}}}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class Define:
    """What the reader takes from a define.xml beside the datasets: the IG version, external dictionaries and the
    UTC offset of the study's clock (when fhirbridge wrote it)."""

    standard: str | None
    dictionaries: dict[str, str]
    timezone: str | None = None


def write(datasets: list[tuple[Dataset, str, dict[str, None]]], path: Path, mapping: SdtmMapping, study_id: str,
          title: str | None, dictionaries: dict[str, str | None] | None = None) -> None:
    """``datasets`` pairs each dataset with the file name it was written to and the --TESTCD it holds (for the
    value-level metadata of QS, NV and RS); ``dictionaries`` names the version of each external dictionary the
    records were coded with (``{"MedDRA": "27.0"}``)."""
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
        "Description": f"{_CLOCK} {mapping.timezone}", f"{_DEF}DefineVersion": "2.1.0"})
    ct = mapping.ct()
    standards = etree.SubElement(version, f"{_DEF}Standards")
    etree.SubElement(standards, f"{_DEF}Standard", OID=_IG, Name=mapping.standard.name, Type="IG",
                     Version=mapping.standard.version, Status="Final")
    etree.SubElement(standards, f"{_DEF}Standard", OID=_CT, Name=ct.name, Type="CT", PublishingSet=ct.publishing_set,
                     Version=ct.version, Status="Final")
    codelists: dict[str, None] = {}
    value_lists = [(d, tests) for d, _, tests in datasets if tests and _findings(mapping, d.name)]
    for dataset, tests in value_lists:
        _value_list(version, dataset, tests)
    for dataset, tests in value_lists:
        _where_clauses(version, dataset, tests)
    for dataset, file_name, _ in datasets:
        _item_group(version, dataset, file_name, mapping)
    test_codes: dict[str, list[str]] = {}  # sponsor codelists of the findings' --TESTCD and --TEST
    for dataset, _, tests in datasets:
        specs = mapping.dataset_variables(dataset.name) or {}
        findings = _findings(mapping, dataset.name)
        vlm = findings is not None and bool(tests)
        for column in dataset.columns:
            spec = specs.get(column.name)
            codelist = _codelist_of(spec)
            if findings is not None and spec is not None and spec.derive in ("testcd", "test") and tests:
                names = {t.testcd: t.test for t in findings.all_tests().values()}
                codelist = f"SPONSOR.{column.name}"
                test_codes[codelist] = list(tests) if spec.derive == "testcd" else \
                    list(dict.fromkeys(names.get(t, t) for t in tests))
            _item_def(version, dataset, column.name, spec, codelist, vlm and column.name == f"{dataset.name}ORRES")
            codelists.update(dict.fromkeys(filter(None, [codelist])))
        if vlm:
            codelists.update(dict.fromkeys(_vlm_items(version, dataset, tests, mapping)))
    for name in codelists:
        _codelist(version, name, mapping, dictionaries or {}, test_codes.get(name))
    etree.ElementTree(root).write(str(path), xml_declaration=True, encoding="UTF-8", pretty_print=True)


_IG, _CT = "STD.1", "STD.CT"
#: How define.xml states the rule for times (see ``times``), which reading takes back.
_CLOCK = "Date-times (--DTC) are the study's local clock time, without offset; the clock's UTC offset:"


def _findings(mapping: SdtmMapping, name: str) -> DomainSpec | None:
    spec = mapping.domains.get(name)
    return spec if spec is not None and spec.kind == "findings" and spec.has_subjects() else None


def _codelist_of(spec: VariableSpec | FindingTest | None) -> str | None:
    """The define.xml codelist of a variable or test result: its CDISC codelist, its dictionary, or its sponsor
    codelist (prefixed ``SPONSOR.`` so that a sponsor list never takes a CDISC name)."""
    if spec is None:
        return None
    if spec.ct is not None:
        return spec.ct
    if isinstance(spec, VariableSpec) and spec.dictionary is not None:
        return spec.dictionary if spec.type == "Char" else None  # a code (Num) is not the dictionary's text
    return f"SPONSOR.{spec.codelist}" if spec.codelist is not None else None


def _value_list(version: etree._Element, dataset: Dataset, tests: dict[str, None]) -> None:
    orres = f"{dataset.name}ORRES"
    value_list = etree.SubElement(version, f"{_DEF}ValueListDef", OID=f"VL.{dataset.name}.{orres}")
    for order, testcd in enumerate(tests, start=1):
        item = etree.SubElement(value_list, f"{_ODM}ItemRef", ItemOID=f"{odm.item_oid(dataset.name, orres)}.{testcd}",
                                OrderNumber=str(order), Mandatory="No")
        etree.SubElement(item, f"{_DEF}WhereClauseRef", WhereClauseOID=f"WC.{dataset.name}.{testcd}")


def _where_clauses(version: etree._Element, dataset: Dataset, tests: dict[str, None]) -> None:
    for testcd in tests:
        clause = etree.SubElement(version, f"{_DEF}WhereClauseDef", OID=f"WC.{dataset.name}.{testcd}")
        check = etree.SubElement(clause, f"{_ODM}RangeCheck", attrib={
            "Comparator": "EQ", "SoftHard": "Soft", f"{_DEF}ItemOID": odm.item_oid(dataset.name,
                                                                                   f"{dataset.name}TESTCD")})
        etree.SubElement(check, f"{_ODM}CheckValue").text = testcd


def _vlm_items(version: etree._Element, dataset: Dataset, tests: dict[str, None], mapping: SdtmMapping) -> list[str]:
    """One ItemDef per test code of the dataset (its result's type, length, codelist); the codelists used."""
    spec = _findings(mapping, dataset.name)
    assert spec is not None
    by_code = {t.testcd: t for t in spec.all_tests().values()}
    orres = f"{dataset.name}ORRES"
    length = str(max((len(as_text(r.get(orres))) for r in dataset.rows), default=1) or 1)
    used = []
    for testcd in tests:
        test = by_code.get(testcd)
        # scores: every SCIM-III item and subscale, every worksheet cell (a cell's row has a location)
        whole = spec.result_type == "int" or (test is not None and test.loc is not None)
        item = etree.SubElement(version, f"{_ODM}ItemDef", attrib={
            "OID": f"{odm.item_oid(dataset.name, orres)}.{testcd}", "Name": orres,
            "DataType": "integer" if whole else "text", "Length": length, "SASFieldName": orres})
        _description(item, test.test if test is not None else testcd)
        codelist = _codelist_of(test)
        if codelist is not None:
            etree.SubElement(item, f"{_ODM}CodeListRef", CodeListOID=f"CL.{codelist}")
            used.append(codelist)
        etree.SubElement(item, f"{_DEF}Origin", Type="Collected", Source="Investigator")
    return used


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


def _item_def(version: etree._Element, dataset: Dataset, name: str, spec: VariableSpec | None, codelist: str | None,
              value_list: bool) -> None:
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
    if codelist is not None:
        etree.SubElement(item, f"{_ODM}CodeListRef", CodeListOID=f"CL.{codelist}")
    origin, source = _origin(spec)
    etree.SubElement(item, f"{_DEF}Origin", attrib={"Type": origin, **({"Source": source} if source else {})})
    if value_list:
        etree.SubElement(item, f"{_DEF}ValueListRef", ValueListOID=f"VL.{dataset.name}.{name}")


def _codelist(version: etree._Element, name: str, mapping: SdtmMapping, dictionaries: dict[str, str | None],
              sponsor_terms: list[str] | None = None) -> None:
    """A CDISC codelist (with its NCI codes and the CT version's standard), an external dictionary, or a
    sponsor codelist (its submission values; the findings' test codes and names, declared non-standard)."""
    ct = mapping.ct().codelists.get(name)
    attrib = {"OID": f"CL.{name}", "Name": ct.name if ct else name.removeprefix("SPONSOR."), "DataType": "text"}
    if ct is not None:
        attrib[f"{_DEF}StandardOID"] = _CT
    elif sponsor_terms is not None:
        attrib[f"{_DEF}IsNonStandard"] = "Yes"
    codelist = etree.SubElement(version, f"{_ODM}CodeList", attrib=attrib)
    if sponsor_terms is not None:
        for value in sponsor_terms:
            etree.SubElement(codelist, f"{_ODM}EnumeratedItem", CodedValue=value)
        return
    if name in ("MedDRA",):
        external = {"Dictionary": "MedDRA"}
        if dictionaries.get(name):
            external["Version"] = str(dictionaries[name])
        etree.SubElement(codelist, f"{_ODM}ExternalCodeList", attrib=external)
        return
    if ct is None:
        hub = mapping.codelists[name.removeprefix("SPONSOR.")]
        for value in dict.fromkeys(hub.values.values()):
            etree.SubElement(codelist, f"{_ODM}EnumeratedItem", CodedValue=value)
        return
    for value in _terms_written(name, mapping):
        code = ct.terms.get(value)
        item = etree.SubElement(codelist, f"{_ODM}EnumeratedItem", attrib={"CodedValue": value, **(
            {} if value in ct.terms else {f"{_DEF}ExtendedValue": "Yes"})})
        if code is not None:
            etree.SubElement(item, f"{_ODM}Alias", Context="nci:ExtCodeID", Name=code)
    etree.SubElement(codelist, f"{_ODM}Alias", Context="nci:ExtCodeID", Name=ct.code)


#: A CDISC codelist of at most this many terms is listed whole in define.xml; a longer one (units, locations)
#: lists the terms the mapping writes.
_WHOLE = 20


def _terms_written(name: str, mapping: SdtmMapping) -> list[str]:
    ct = mapping.ct().codelists[name]
    terms: dict[str, None] = dict.fromkeys(ct.terms) if len(ct.terms) <= _WHOLE and not ct.subset else {}
    for spec in mapping.domains.values():
        for v in [*spec.variables.values(), *spec.all_tests().values()]:
            if v.ct != name:
                continue
            if v.codelist is not None:
                terms.update(dict.fromkeys(mapping.codelists[v.codelist].values.values()))
            if isinstance(v, VariableSpec) and v.constant:
                terms[v.constant] = None
        if name in ("TSPARMCD", "TSPARM") and spec.design_parameters:
            terms.update(dict.fromkeys(t.testcd if name == "TSPARMCD" else t.test for t in spec.all_tests().values()))
    if name in ("TSPARMCD", "TSPARM"):
        design = parameter_names(mapping)
        terms.update(dict.fromkeys(design if name == "TSPARMCD" else design.values()))
    if name == "EPOCH":
        terms.update(dict.fromkeys(e.epoch for e in mapping.trial_design.elements.values()))
    terms.update(dict.fromkeys(mapping.ct_extensions.get(name, [])))
    return list(terms)


def _origin(spec: VariableSpec | None) -> tuple[str, str | None]:
    """The origin of a variable: collected (from the investigator), from the protocol (the trial design),
    derived by fhirbridge, or assigned (constants)."""
    if spec is None or spec.field is not None or spec.flag is not None:
        return "Collected", "Investigator"
    if spec.item is not None or spec.study is not None:
        return "Protocol", None
    return ("Derived", "Sponsor") if spec.derive is not None or spec.when is not None else ("Assigned", "Sponsor")


def _description(parent: etree._Element, text: str) -> None:
    description = etree.SubElement(parent, f"{_ODM}Description")
    etree.SubElement(description, f"{_ODM}TranslatedText", attrib={_XML_LANG: "en"}).text = text


def read_define(inputs: list[Path | Source]) -> Define | None:
    """The define.xml named among the inputs or in a folder named, if any: its IG version and dictionaries."""
    found = next((s.path for s in expand(inputs, lambda folder: sorted(folder.glob("*")))
                  if s.path is not None and s.path.name.lower() == "define.xml" and s.path.is_file()), None)
    if found is None:
        return None
    try:
        document = etree.parse(str(found))
    except (OSError, etree.XMLSyntaxError):
        return None  # not read here: conformance of the datasets does not depend on it
    ns = {"odm": odm.ODM_NS, "def": odm.DEF_NS}
    ig = next((s.get("Version") for s in document.iterfind(".//def:Standard", ns) if s.get("Type") == "IG"), None)
    dictionaries = {e.get("Dictionary", ""): e.get("Version", "") for e in
                    document.iterfind(".//odm:ExternalCodeList", ns) if e.get("Version")}
    described = next((m.get("Description", "") for m in document.iterfind(".//odm:MetaDataVersion", ns)), "")
    clock = described.removeprefix(_CLOCK).strip() if described.startswith(_CLOCK) else None
    return Define(ig, {("MedDRA" if k.upper() == "MEDDRA" else k): v for k, v in dictionaries.items()},
                  clock if clock and re.fullmatch(r"Z|[+-]\d{2}:\d{2}", clock) else None)
