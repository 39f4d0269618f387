"""What the SDTM writer produces: the checked-in example, XPT read back by pyreadstat, Dataset-JSON against its
schema, define.xml against the Define-XML 2.1 schema and complete, and the same FHIR from SDTM as from CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXAMPLE, EXAMPLE_SDTM_MAPPING, REPO, SHARED
from lxml import etree

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.formats.sdtm import odm
from fhirbridge.issues.report import Report
from fhirbridge.mapping.sdtm_mapping import load_sdtm_mapping

SDTM_EXAMPLE = REPO / "examples" / "honmou2021" / "sdtm"
REFERENCE = SHARED / "reference"
#: The creation time of the checked-in example (see README, "SDTM").
EXAMPLE_EPOCH = "1735689600"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example study converted from CSV to every SDTM file format, once for the module."""
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EXAMPLE_EPOCH)
        for fmt in ("csv", "xpt", "dataset-json", "dataset-xml"):
            folder = tmp_path_factory.mktemp(fmt)
            report = api.convert([EXAMPLE], folder, target="sdtm", options=ConvertOptions(
                sdtm_format=fmt, sdtm_mapping=EXAMPLE_SDTM_MAPPING))  # type: ignore[arg-type]
            assert report.exit_code == 0, report.issues
            out[fmt] = folder
    return out


def test_the_checked_in_example_is_what_fhirbridge_writes(written):
    expected = {p.name: p.read_bytes() for p in sorted(SDTM_EXAMPLE.iterdir())}
    produced = {p.name: p.read_bytes() for p in sorted(written["csv"].iterdir())}
    assert produced.keys() == expected.keys()
    for name in expected:
        assert produced[name] == expected[name], f"{name} differs: regenerate examples/honmou2021/sdtm"


def test_every_format_reads_back_as_the_records_of_the_csv_export(written):
    expected = api.read([EXAMPLE], Report())
    for fmt, folder in written.items():
        report = Report()
        back = api.read([folder], report, source="sdtm", options=ConvertOptions(sdtm_mapping=EXAMPLE_SDTM_MAPPING))
        # the example is coded to MedDRA preferred terms only: one information issue says so
        assert [i.code for i in report.issues] == ["FB-SDTM-021"], fmt
        for kind in expected.count():
            assert getattr(back, kind) == getattr(expected, kind), (fmt, kind)


def _strip_volatile(bundle: dict) -> dict:
    entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Provenance"]
    for entry in entries:
        entry["resource"]["meta"].pop("source", None)
    return {**bundle, "entry": entries}


def test_csv_to_sdtm_to_fhir_gives_the_fhir_of_csv_to_fhir(written, tmp_path):
    """One file format suffices here: every format reads back as the same records (test above)."""
    direct = api.convert([EXAMPLE], tmp_path / "direct")
    via_sdtm = api.convert([written["csv"]], tmp_path / "via", source="sdtm",
                           options=ConvertOptions(sdtm_mapping=EXAMPLE_SDTM_MAPPING))
    assert direct.exit_code == via_sdtm.exit_code == 0
    a = json.loads((tmp_path / "direct" / "bundle.json").read_text())
    b = json.loads((tmp_path / "via" / "bundle.json").read_text())
    assert len(a["entry"]) > 100
    assert _strip_volatile(a) == _strip_volatile(b)


def test_xpt_reads_back_with_names_labels_and_types(written):
    pyreadstat = pytest.importorskip("pyreadstat")
    mapping = load_sdtm_mapping(EXAMPLE_SDTM_MAPPING)
    for path in sorted(written["xpt"].glob("*.xpt")):
        _, meta = pyreadstat.read_xport(str(path), output_format="dict")
        variables = mapping.dataset_variables(meta.table_name)
        assert variables is not None, path.name
        assert meta.column_names == list(variables)
        assert meta.column_labels == [v.label for v in variables.values()]
        for name, v in variables.items():
            assert meta.readstat_variable_types[name] == ("double" if v.type == "Num" else "string"), name
            assert len(name) <= 8 and len(v.label) <= 40
    ae, _ = pyreadstat.read_xport(str(written["xpt"] / "ae.xpt"), output_format="dict")
    assert ae["AESEQ"][0] == 1.0 and ae["AESEV"][0] == "MILD"


def test_dataset_json_validates_against_its_schema(written):
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = REFERENCE / "dataset-json" / "dataset.schema.json"
    if not schema_path.exists():
        pytest.skip(f"Dataset-JSON schema not found at {schema_path} (../shared/reference is absent)")
    schema = json.loads(schema_path.read_text())
    for path in sorted(written["dataset-json"].glob("*.json")):
        document = json.loads(path.read_text())
        jsonschema.validate(document, schema, cls=jsonschema.Draft201909Validator)
        assert document["records"] == len(document["rows"])


def _odmlib_schema(relative: str) -> etree.XMLSchema:
    odmlib = pytest.importorskip("odmlib")
    return etree.XMLSchema(etree.parse(str(Path(odmlib.__file__).parent / "schemas" / relative)))


@pytest.mark.parametrize("fmt", ["csv", "xpt", "dataset-json", "dataset-xml"])
def test_define_xml_is_valid_define_2_1_and_lists_everything_written(written, fmt):
    folder = written[fmt]
    document = etree.parse(str(folder / "define.xml"))
    schema = _odmlib_schema("define/2.1/define2-1-0.xsd")
    assert schema.validate(document), schema.error_log
    ns = {"odm": odm.ODM_NS, "def": odm.DEF_NS, "xlink": odm.XLINK_NS}
    groups = {g.get("Name"): g for g in document.iterfind(".//odm:ItemGroupDef", ns)}
    files = {p.name for p in folder.iterdir() if p.name != "define.xml"}
    hrefs = {g.find("def:leaf", ns).get(f"{{{odm.XLINK_NS}}}href") for g in groups.values()}
    assert hrefs == files
    items = {i.get("OID"): i.get("Name") for i in document.iterfind(".//odm:ItemDef", ns)}
    mapping = load_sdtm_mapping(EXAMPLE_SDTM_MAPPING)
    for name, group in groups.items():
        refs = [items[r.get("ItemOID")] for r in group.iterfind("odm:ItemRef", ns)]
        assert refs == list(mapping.dataset_variables(name) or {}), name


def test_dataset_xml_uses_the_items_of_define_xml(written):
    """odmlib ships the ODM and Define-XML schemas but not the Dataset-XML extension schema (which lets
    ClinicalData hold ItemGroupData directly), so the structure is checked here against define.xml."""
    folder = written["dataset-xml"]
    ns = {"odm": odm.ODM_NS}
    define = etree.parse(str(folder / "define.xml"))
    oids = {i.get("OID") for i in define.iterfind(".//odm:ItemDef", ns)}
    for path in sorted(folder.glob("*.xml")):
        if path.name == "define.xml":
            continue
        root = etree.parse(str(path)).getroot()
        assert root.get(f"{{{odm.DATA_NS}}}DatasetXMLVersion") == "1.0.0"
        assert root.get("ODMVersion") == "1.3.2"
        groups = root.findall("odm:ClinicalData/odm:ItemGroupData", ns)
        assert [g.get(f"{{{odm.DATA_NS}}}ItemGroupDataSeq") for g in groups] == [str(n) for n in
                                                                                range(1, len(groups) + 1)]
        used = {i.get("ItemOID") for g in groups for i in g.iterfind("odm:ItemData", ns)}
        assert used <= oids, path.name


#: Where SDTMIG 3.4 differs from 3.2 for a variable the mapping writes (3.3 made the arm variables Exp, with
#: ARMNRS saying why they are empty): (3.2 label and core) → (3.4 label and core).
CHANGED_SINCE_3_2 = {
    ("DM", "ARMCD"): (("Planned Arm Code", "Req"), ("Planned Arm Code", "Exp")),
    ("DM", "ARM"): (("Description of Planned Arm", "Req"), ("Description of Planned Arm", "Exp")),
    ("DM", "ACTARMCD"): (("Actual Arm Code", "Req"), ("Actual Arm Code", "Exp")),
    ("DM", "ACTARM"): (("Description of Actual Arm", "Req"), ("Description of Actual Arm", "Exp")),
}


def test_mapping_labels_and_core_follow_sdtmig_3_4():
    """One IG version throughout: the mapping, define.xml and TS name SDTMIG 3.4, and every variable the mapping
    shares with the SDTMIG 3.2 metadata (the machine-readable IG at hand) carries its label and core, except
    where 3.4 changed them (listed above)."""
    mapping = load_sdtm_mapping()
    assert (mapping.standard.name, mapping.standard.version, mapping.standard.model) == ("SDTMIG", "3.4", "2.0")
    path = REFERENCE / "fhir-cdisc-mapping" / "SDTMIGv3-2.xml"
    if not path.exists():
        pytest.skip(f"SDTMIG metadata not found at {path} (../shared/reference is absent)")
    metadata = {}
    for dataset in etree.parse(str(path)).iter("dataset"):
        for variable in dataset.iter("datasetVariable"):
            metadata[(dataset.findtext("name"), variable.findtext("name"))] = (
                variable.findtext("label"), variable.findtext("core"))
    compared = 0
    for domain, spec in mapping.domains.items():
        for name, v in spec.variables.items():
            if (domain, name) in metadata:
                before, now = CHANGED_SINCE_3_2.get((domain, name), (metadata[(domain, name)],) * 2)
                assert metadata[(domain, name)] == before, f"{domain}.{name}"
                assert (v.label, v.core) == now, f"{domain}.{name}"
                compared += 1
    assert compared >= 60


def test_define_xml_and_ts_name_the_same_ig_version(written):
    ns = {"def": odm.DEF_NS}
    document = etree.parse(str(written["csv"] / "define.xml"))
    standards = {s.get("Type"): (s.get("Name"), s.get("Version")) for s in document.iterfind(".//def:Standard", ns)}
    assert standards == {"IG": ("SDTMIG", "3.4"), "CT": ("CDISC/NCI", "2025-03-28")}
    ts = (written["csv"] / "ts.csv").read_text(encoding="utf-8")
    assert "SDTIGVER,SDTM IG Version,3.4," in ts and "SDTMVER,SDTM Version,2.0," in ts
