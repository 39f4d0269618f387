"""Options of one conversion, shared by every spoke so that a new option never changes a signature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from fhirbridge.errors import FhirbridgeError
from fhirbridge.formats.spill import Spill

if TYPE_CHECKING:  # the records are not needed to hold options (start-up time of commands that build none)
    from fhirbridge.records import IsncsciClassification

Progress = Callable[[str], None]


class Stages(Protocol):
    """Counts of the work done, by stage (``read``: chunks of subjects read; ``check`` and ``write``: records),
    for a progress display; called in the parent process only."""

    def advance(self, stage: str, count: int = 1) -> None: ...

#: Classifications computed for exams whose export carried only the raw exam, by exam key.
Derived = dict[tuple[str, ...], "IsncsciClassification"]


class UnsupportedOption(FhirbridgeError, ValueError):
    """An option combination a spoke does not support (a usage error: exit code 2)."""


@dataclass
class ConvertOptions:
    csv_mapping: Path | None = None  # CSV layout spec (input or output); default: mappings/csv-default.yaml
    fhir_mapping: Path | None = None  # default: mappings/fhir-r4.yaml
    sdtm_mapping: Path | None = None  # default: the bundled SDTM mapping spec
    bundle_type: Literal["collection", "transaction"] = "collection"
    fhir_format: Literal["json", "xml", "ndjson"] = "json"
    fhir_version: Literal["R4", "R4B", "R5"] | None = None  # None: R4 on output, detected on input
    #: the input's FHIR release when converting FHIR into FHIR (another release in one step); None: detected
    from_fhir_version: Literal["R4", "R4B", "R5"] | None = None
    sdtm_format: Literal["csv", "xpt", "dataset-json", "dataset-xml"] = "csv"
    #: worker processes for the work on chunks of subjects; None: one per core; 1: all in this process
    jobs: int | None = None
    bundle_size: int | None = None  # at most this many entries per Bundle file (a subject is never split)
    bundle_per_subject: bool = False  # one Bundle file per subject (with the study)
    pretty: bool = False  # indented JSON and XML; compact (one entry per line) otherwise
    progress: Progress | None = None
    stages: Stages | None = None
    #: FHIR resources that validation's checker has already checked, and of them those it rejected, by (file,
    #: FHIRPath, NDJSON line): the reader then trusts that check rather than checking each resource again
    fhir_rejected: frozenset[tuple[str, str, int | None]] | None = None
    #: the JSON Bundles that checker has parsed, their entries in a spill file the reader takes them from
    fhir_parsed: Spill | None = None
