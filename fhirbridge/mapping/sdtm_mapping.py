"""The SDTM mapping spec: domains, their variables and where each takes its value, test codes and CT."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from fhirbridge.domains.isncsci.structure import DERMATOMES, MYOTOMES, SIDES
from fhirbridge.mapping.csv_layout import RECORD_TYPES, _field_problem
from fhirbridge.mapping.loader import MappingError, bundled, load_model, read_yaml, validate_model

Core = Literal["Req", "Exp", "Perm"]
Derivation = Literal[
    "domain", "usubjid", "seq", "visitnum", "visitdy", "first_infusion_start", "last_infusion_end", "last_date",
    "death_date", "death_flag", "arm_null_reason", "group", "epoch", "lobxfl",
    "testcd", "test", "orres", "stresc", "stresn", "stat", "reasnd", "loc", "lat", "derived_flag",
    "valcd", "vcdref", "vcdver",
]  # fmt: skip
#: Domains whose rows fhirbridge derives (from the trial design and the subjects' records) and never reads back.
DerivedKind = Literal["design", "elements", "visits"]
#: Dates of a subject that trial elements start at (``trial_design.elements.*.start``).
Milestone = Literal["enrolment", "harvest", "infusion", "infusion_end"]
#: SDTM names are at most 8 characters (SAS XPORT v5), upper case, starting with a letter.
NAME_PATTERN = r"^[A-Z][A-Z0-9]{0,7}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Flag(Strict):
    """Y when the list ``field`` holds ``value``; N otherwise, or blank when ``only_if`` is false."""

    field: str
    value: str
    only_if: str | None = None


class VariableSpec(Strict):
    label: str = Field(min_length=1, max_length=40)
    core: Core
    type: Literal["Char", "Num"] = "Char"
    codelist: str | None = None
    field: str | None = None
    constant: str | None = None
    when: str | None = None
    study: str | None = None
    missing: str | None = None
    flag: Flag | None = None
    derive: Derivation | None = None
    item: str | None = Field(default=None, description="the key of a derived row (trial design, SE, SV)")
    ct: str | None = Field(default=None, description="the CDISC CT codelist its values come from")
    dictionary: Literal["MedDRA"] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> VariableSpec:
        sources = [s for s in ("field", "constant", "study", "flag", "derive", "item") if getattr(self, s) is not None]
        if len(sources) > 1:
            raise ValueError(f"a variable takes its value from one source, not {' and '.join(sources)}")
        if self.when is not None and self.constant is None:
            raise ValueError("'when' only applies to a constant")
        return self


class FindingTest(Strict):
    """One test of a findings domain: its code and name, and where a row of it sits (location, side)."""

    testcd: str = Field(pattern=NAME_PATTERN)
    test: str = Field(min_length=1, max_length=40)
    codelist: str | None = None
    ct: str | None = Field(default=None, description="the CDISC CT codelist of its result (value-level metadata)")
    loc: str | None = None
    lat: Literal["right", "left"] | None = None
    when_missing: Literal["omit", "not_done"] = "omit"


class SuppSpec(Strict):
    """A supplemental qualifier: a record field's value (keyed by its path in ``supp``), or, for ``result_flag``,
    the ``*`` / ``**`` flag of a findings result. ``idvar`` overrides the domain's ``supp_idvar``."""

    qnam: str = Field(pattern=NAME_PATTERN)
    qlabel: str = Field(min_length=1, max_length=40)
    codelist: str | None = None
    idvar: str | None = None


class DomainSpec(Strict):
    label: str = Field(min_length=1, max_length=40)
    kind: Literal["rows", "findings", "design", "elements", "visits"] = "rows"
    rows_from: Literal["parameters", "elements", "arm", "visits", "criteria"] | None = None
    record: Literal["study", "subject", "harvest", "infusion", "isncsci_exam", "scim_assessment", "adverse_event"]
    class_: str = Field(alias="class")
    structure: str
    keys: list[str]
    variables: dict[str, VariableSpec] = Field(min_length=1)
    record_key: list[str] = []
    result_type: Literal["str", "int"] = "str"
    tests: dict[str, FindingTest] = {}
    isncsci_cells: dict[Literal["motor", "light_touch", "pin_prick"], FindingTest] = {}
    computed: str | None = None
    supp_idvar: str | None = None
    supp: dict[str, SuppSpec] = {}
    # findings: a result flagged * or ** keeps its value, and the flag goes to this qualifier (IDVAR --SEQ)
    result_flag: SuppSpec | None = None
    # findings: a result written as --STAT NOT DONE with this --REASND (hub text → reason), e.g. NT
    not_done_values: dict[str, str] = {}
    # TS: the design parameters and those fhirbridge derives follow the study record's
    design_parameters: bool = False
    # dictionary → the record field holding its version (define.xml names the version, no variable does)
    dictionary_versions: dict[str, str] = {}
    _tests: dict[str, FindingTest] | None = PrivateAttr(default=None)
    _by_code: dict[tuple[str, str | None, str | None], tuple[str, FindingTest]] | None = PrivateAttr(default=None)
    _derives: dict[str, str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> DomainSpec:
        record = RECORD_TYPES[self.record]
        for name, var in self.variables.items():
            if len(name) > 8 or not name.isupper():
                raise ValueError(f"variables.{name}: SDTM names are upper case and at most 8 characters")
            for path in (var.field, var.flag.field if var.flag else None):
                problem = path and _field_problem(record, path)
                if problem:
                    raise ValueError(f"variables.{name}: {problem}")
        for path in [*self.tests, *self.supp, *self.dictionary_versions.values()] \
                if self.kind in ("rows", "findings") else []:
            problem = _field_problem(record, path)
            if problem:
                raise ValueError(f"{path}: {problem}")
        for name in [*self.keys, *self.record_key, *filter(None, [self.supp_idvar])]:
            if name not in self.variables:
                raise ValueError(f"{name} is named as a key but is not a variable of the domain")
        if self.kind == "findings" and not self.record_key:
            raise ValueError("a findings domain needs a record_key")
        seen: dict[tuple[str, str | None, str | None], str] = {}
        for path, test in self.all_tests().items():
            ident = (test.testcd, test.loc, test.lat)
            if ident in seen:
                raise ValueError(f"tests {seen[ident]} and {path} have the same code, location and side")
            seen[ident] = path
        return self

    def all_tests(self) -> dict[str, FindingTest]:
        """Field path → test, with the ISNCSCI worksheet cells expanded (one test per side and segment)."""
        if self._tests is None:
            self._tests = self._expand_tests()
        return self._tests

    def test_of(self, testcd: object, loc: object, lat: object) -> tuple[str, FindingTest] | None:
        """The field path and test of a findings row, by test code, location and side."""
        if self._by_code is None:
            self._by_code = {(t.testcd, t.loc, t.lat): (p, t) for p, t in self.all_tests().items()}
        return self._by_code.get((testcd, loc, lat))  # type: ignore[arg-type]

    def _expand_tests(self) -> dict[str, FindingTest]:
        out: dict[str, FindingTest] = {}
        for modality, template in self.isncsci_cells.items():
            for side in SIDES:
                for level in MYOTOMES if modality == "motor" else DERMATOMES:
                    out[f"{side}.{modality}.{level}"] = template.model_copy(update={"loc": level, "lat": side})
        out.update(self.tests)
        return out

    def variable_with(self, derive: str) -> str | None:
        """The name of the variable computed by ``derive`` (e.g. the --TESTCD variable), if any."""
        if self._derives is None:
            self._derives = {}
            for name, v in self.variables.items():
                if v.derive is not None:
                    self._derives.setdefault(v.derive, name)
        return self._derives.get(derive)

    def seq_variable(self) -> str | None:
        return self.variable_with("seq")

    def has_subjects(self) -> bool:
        """Whether rows belong to a subject (USUBJID) rather than to the study (TS)."""
        return self.variable_with("usubjid") is not None

    def derived(self) -> bool:
        """Whether fhirbridge derives the whole dataset (trial design, SE, SV): it is not read back."""
        return self.kind in ("design", "elements", "visits")

    def date_variable(self) -> str | None:
        """The variable dating a row (--STDTC, else --DTC) for EPOCH and --LOBXFL."""
        names = [n for n, v in self.variables.items() if n.endswith("DTC") and (v.field or v.item)]
        return next((n for n in names if n.endswith("STDTC")), names[0] if names else None)


class Codelist(Strict):
    values: dict[str, str] = Field(min_length=1, description="hub value → CDISC submission value")

    def submission(self, value: object) -> str | None:
        key = str(value).lower() if isinstance(value, bool) else str(value)
        return self.values.get(key)

    def hub(self, submitted: str) -> str | bool | None:
        """The hub value of a submission value; ``true`` / ``false`` keys stand for the booleans."""
        key = next((k for k, v in self.values.items() if v == submitted), None)
        return {"true": True, "false": False}.get(key, key) if key is not None else None


class Standard(Strict):
    name: str
    version: str
    model: str = Field(description="the SDTM model version the implementation guide builds on")


class Element(Strict):
    """A trial element (TE): its description, epoch, the subject's date it starts at (SE) and its rules."""

    element: str = Field(min_length=1, max_length=40)
    epoch: str
    start: Milestone
    start_rule: str
    end_rule: str | None = None
    duration: str | None = None


class Visit(Strict):
    """A planned visit (TV): its number, planned study day and start rule."""

    visitnum: int
    visitdy: int | None = None
    start_rule: str


class Criterion(Strict):
    """An inclusion or exclusion criterion (TI)."""

    category: Literal["INCLUSION", "EXCLUSION"]
    text: str = Field(min_length=1, max_length=200)


class Parameter(Strict):
    """A trial summary parameter of the design (TS): its name and value."""

    parm: str = Field(min_length=1, max_length=40)
    value: str = Field(min_length=1)
    ct: str | None = None


class TrialDesign(Strict):
    """The protocol's design: TS parameters, the elements of the study's single arm (TE, TA), planned visits
    (TV) and eligibility criteria (TI). SE and SV are derived from each subject's dates and visits."""

    parameters: dict[str, Parameter] = {}
    elements: dict[str, Element] = {}
    arm: list[str] = []
    visits: dict[str, Visit] = {}
    criteria: dict[str, Criterion] = {}

    @model_validator(mode="after")
    def _known_elements(self) -> TrialDesign:
        unknown = [e for e in self.arm if e not in self.elements]
        if unknown:
            raise ValueError(f"arm: element(s) {', '.join(unknown)} are not among the elements")
        return self


class SdtmMapping(Strict):
    """A whole SDTM mapping spec (see ``mappings/sdtm-default.yaml`` for the documented default)."""

    spec: Literal["fhirbridge/sdtm-mapping"]
    version: str
    name: str
    description: str = ""
    standard: Standard
    terminology: str = Field(default="cdisc-ct.yaml", description="the CDISC CT file (in mappings/ or beside)")
    #: the UTC offset of the study's clock: --DTC holds local time without offset (see docs/sdtm.md)
    timezone: str = Field(default="Z", pattern=r"^(Z|[+-]\d{2}:\d{2})$")
    codelists: dict[str, Codelist] = {}
    #: sponsor terms added to extensible CDISC codelists (declared in define.xml as extended values)
    ct_extensions: dict[str, list[str]] = {}
    trial_design: TrialDesign = TrialDesign()
    supp_variables: dict[str, VariableSpec]
    domains: dict[str, DomainSpec] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)
    _ct: Terminology | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _references(self) -> SdtmMapping:
        for name, domain in self.domains.items():
            if len(name) != 2 or not name.isupper():
                raise ValueError(f"domains.{name}: a domain code is two upper-case letters")
            named = [(f"variables.{v}", s.codelist) for v, s in domain.variables.items()]
            named += [(f"tests.{p}", t.codelist) for p, t in domain.all_tests().items()]
            named += [(f"supp.{p}", s.codelist) for p, s in domain.supp.items()]
            for where, codelist in named:
                if codelist is not None and codelist not in self.codelists:
                    raise ValueError(f"domains.{name}.{where}: unknown codelist {codelist!r}")
        return self

    def visitnum(self, visit: str) -> int | None:
        planned = self.trial_design.visits.get(visit)
        return planned.visitnum if planned is not None else None

    def ct(self) -> Terminology:
        """The CDISC CT the mapping names (loaded once)."""
        if self._ct is None:
            base = self.path.parent if self.path is not None else bundled(".")
            path = base / self.terminology
            self._ct = load_terminology(path if path.exists() else bundled(self.terminology))
        return self._ct

    def domain_of_supp(self, name: str) -> str | None:
        """The parent domain of a SUPP-- dataset name (``SUPPAE`` → ``AE``) that this mapping writes."""
        parent = name[4:] if name.startswith("SUPP") else None
        spec = self.domains.get(parent or "")
        return parent if spec is not None and (spec.supp or spec.result_flag) else None

    def dataset_variables(self, name: str) -> dict[str, VariableSpec] | None:
        """The variables of a dataset this mapping knows (a domain or one of its SUPP-- datasets)."""
        if name in self.domains:
            return self.domains[name].variables
        return self.supp_variables if self.domain_of_supp(name) else None


class CtCodelist(Strict):
    """A CDISC CT codelist: its NCI code, whether sponsor terms may extend it, and its terms (→ NCI code)."""

    code: str = Field(pattern=r"^C\d+$")
    name: str
    extensible: bool
    subset: bool = False
    origin: str
    terms: dict[str, str | None] = Field(min_length=1)


class Terminology(Strict):
    """A CDISC CT package, or the part of it a mapping uses (``mappings/cdisc-ct.yaml``)."""

    spec: Literal["fhirbridge/cdisc-ct"]
    name: str
    version: str
    publishing_set: str
    codelists: dict[str, CtCodelist]


def load_terminology(path: Path) -> Terminology:
    """The CT file at ``path``, read once per process (it does not change while fhirbridge runs)."""
    return _terminology(path.resolve())


@functools.lru_cache(maxsize=4)
def _terminology(path: Path) -> Terminology:
    return load_model(path, Terminology, "controlled terminology file")


def load_sdtm_mapping(path: Path | None = None) -> SdtmMapping:
    """Load an SDTM mapping spec; without a path, the default shipped with fhirbridge.

    A spec may start with ``extends: FILE`` (a bundled name such as ``sdtm-default.yaml``, or a path beside it)
    and give only what differs for its study: its top-level keys replace the base's, and ``trial_design``
    merges key by key.
    """
    path = path or bundled("sdtm-default.yaml")
    return _load_sdtm_mapping(path.resolve(), path.stat().st_mtime_ns if path.exists() else 0)


@functools.lru_cache(maxsize=8)
def _load_sdtm_mapping(path: Path, mtime: int) -> SdtmMapping:
    """A mapping spec read once per file version: every conversion uses it read-only."""
    mapping = validate_model(_with_base(path), path, SdtmMapping, "SDTM mapping spec")
    mapping.path = path
    return mapping


def _with_base(path: Path, depth: int = 0) -> dict[str, Any]:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise MappingError(f"{path}: an SDTM mapping spec must be a YAML mapping at the top level")
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if depth > 3:
        raise MappingError(f"{path}: 'extends' goes more than three files deep")
    base_path = path.parent / str(base_name)
    base = _with_base(base_path if base_path.exists() else bundled(str(base_name)), depth + 1)
    design = {**base.get("trial_design", {})}
    for key, value in (data.pop("trial_design", None) or {}).items():
        design[key] = {**design.get(key, {}), **value} if isinstance(value, dict) else value
    return {**base, **data, "trial_design": design}
