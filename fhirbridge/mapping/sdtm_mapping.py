"""The SDTM mapping spec: domains, their variables and where each takes its value, test codes and CT."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from fhirbridge.domains.isncsci.structure import DERMATOMES, MYOTOMES, SIDES
from fhirbridge.mapping.csv_layout import RECORD_TYPES, _field_problem
from fhirbridge.mapping.loader import bundled, load_model

Core = Literal["Req", "Exp", "Perm"]
Derivation = Literal[
    "domain", "usubjid", "seq", "visitnum", "first_infusion_start", "group",
    "testcd", "test", "orres", "stresc", "stresn", "stat", "loc", "lat", "derived_flag",
]  # fmt: skip
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

    @model_validator(mode="after")
    def _one_source(self) -> VariableSpec:
        sources = [s for s in ("field", "constant", "study", "flag", "derive") if getattr(self, s) is not None]
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
    loc: str | None = None
    lat: Literal["right", "left"] | None = None
    when_missing: Literal["omit", "not_done"] = "omit"


class SuppSpec(Strict):
    qnam: str = Field(pattern=NAME_PATTERN)
    qlabel: str = Field(min_length=1, max_length=40)
    codelist: str | None = None


class DomainSpec(Strict):
    label: str = Field(min_length=1, max_length=40)
    kind: Literal["rows", "findings"] = "rows"
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
    _tests: dict[str, FindingTest] | None = PrivateAttr(default=None)
    _by_code: dict[tuple[str, str | None, str | None], tuple[str, FindingTest]] | None = PrivateAttr(default=None)

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
        for path in [*self.tests, *self.supp]:
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
        return next((name for name, v in self.variables.items() if v.derive == derive), None)

    def seq_variable(self) -> str | None:
        return self.variable_with("seq")

    def has_subjects(self) -> bool:
        """Whether rows belong to a subject (USUBJID) rather than to the study (TS)."""
        return self.variable_with("usubjid") is not None


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


class SdtmMapping(Strict):
    """A whole SDTM mapping spec (see ``mappings/sdtm-default.yaml`` for the documented default)."""

    spec: Literal["fhirbridge/sdtm-mapping"]
    version: str
    name: str
    description: str = ""
    standard: Standard
    codelists: dict[str, Codelist] = {}
    visits: dict[str, int] = {}
    supp_variables: dict[str, VariableSpec]
    domains: dict[str, DomainSpec] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)

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

    def domain_of_supp(self, name: str) -> str | None:
        """The parent domain of a SUPP-- dataset name (``SUPPAE`` → ``AE``) that this mapping writes."""
        parent = name[4:] if name.startswith("SUPP") else None
        return parent if parent in self.domains and self.domains[parent].supp else None

    def dataset_variables(self, name: str) -> dict[str, VariableSpec] | None:
        """The variables of a dataset this mapping knows (a domain or one of its SUPP-- datasets)."""
        if name in self.domains:
            return self.domains[name].variables
        return self.supp_variables if self.domain_of_supp(name) else None


def load_sdtm_mapping(path: Path | None = None) -> SdtmMapping:
    """Load an SDTM mapping spec; without a path, the default shipped with fhirbridge."""
    path = path or bundled("sdtm-default.yaml")
    mapping = load_model(path, SdtmMapping, "SDTM mapping spec")
    mapping.path = path
    return mapping
