"""The registry of issue codes: one stable code, severity, title and description per kind of problem.

Codes never change meaning once published; pipelines filter on them (``--select`` / ``--ignore``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

SeverityName = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: SeverityName
    layer: str
    title: str
    description: str


RULES: Final[dict[str, Rule]] = {
    r.code: r
    for r in (
        # input that cannot be read at all
        Rule("FB-IO-001", "fatal", "syntax", "File not readable",
             "The input file does not exist or cannot be opened."),
        Rule("FB-IO-002", "fatal", "syntax", "Empty file", "The input file holds no header and no data."),
        Rule("FB-IO-003", "warning", "syntax", "Unexpected text encoding",
             "The file is not UTF-8; it was decoded with the detected encoding. Re-export as UTF-8."),
        Rule("FB-IO-004", "fatal", "syntax", "Malformed CSV", "The CSV file cannot be parsed."),
        Rule("FB-IO-005", "warning", "syntax", "Unrecognised input file",
             "No mapping spec entry matches this file name; it was not read."),
        Rule("FB-IO-006", "fatal", "syntax", "Malformed JSON", "The JSON input cannot be parsed."),
        # mapping specs
        Rule("FB-MAP-001", "fatal", "schema", "Invalid mapping spec",
             "The mapping spec does not follow the mapping spec schema."),
        # tables
        Rule("FB-CSV-001", "error", "schema", "Missing column",
             "A column the mapping spec requires is absent from the header; no row of the file can be read."),
        Rule("FB-CSV-002", "warning", "schema", "Unused column",
             "A column in the file is not used by the mapping spec; its values are not converted."),
        Rule("FB-CSV-003", "error", "schema", "Invalid value",
             "A value does not have the type, range or allowed values of its field; the row is not converted."),
        Rule("FB-CSV-004", "error", "terminology", "Unmapped code",
             "A coded value has no entry in the mapping spec's value map; the row is not converted."),
        Rule("FB-CSV-005", "error", "schema", "Invalid date",
             "A date does not match the mapping spec's date formats or is not a real calendar date."),
        Rule("FB-CSV-006", "error", "schema", "Wrong number of fields",
             "A row has more or fewer fields than the header; the row is not converted."),
        Rule("FB-CSV-007", "error", "references", "Duplicate record",
             "Two rows describe the same record (same subject and key); the later row is not converted."),
        Rule("FB-CSV-009", "warning", "schema", "Value not representable in the CSV layout",
             "A record value has no column in the output CSV layout and is not written."),
        # FHIR output
        Rule("FB-FHIR-001", "error", "schema", "Resource fails FHIR structure validation",
             "A resource does not validate against the FHIR resource model."),
        Rule("FB-FHIR-002", "error", "references", "Unresolved reference",
             "A reference in the bundle does not resolve to an entry of the bundle."),
        Rule("FB-FHIR-003", "warning", "schema", "Value not representable in FHIR",
             "A record value has no place in the FHIR representation and is not written."),
        # clinical consistency
        Rule("FB-SCIM-001", "error", "clinical", "SCIM-III subscale does not equal the sum of its items",
             "A reported SCIM-III subscale score differs from the sum of its item scores."),
        Rule("FB-SCIM-002", "error", "clinical", "SCIM-III total does not equal the sum of the subscales",
             "The reported SCIM-III total differs from the sum of the three subscales."),
        Rule("FB-SCIM-003", "warning", "clinical", "SCIM-III assessment incomplete",
             "Some SCIM-III items are missing; subscales and total cannot be checked or derived."),
        Rule("FB-ISN-001", "error", "clinical", "Reported ISNCSCI classification disagrees with the raw exam",
             "A classification value reported by the site differs from the value computed from the raw exam "
             "under the ISNCSCI 2019 rules."),
        Rule("FB-ISN-002", "information", "clinical", "ISNCSCI classification derived",
             "The export carried the raw exam only; the classification was computed from it."),
        Rule("FB-ISN-003", "error", "schema", "Unreadable ISNCSCI exam",
             "An exam in the reference's flat JSON layout lacks a key or holds a value outside the worksheet's."),
        Rule("FB-DATE-001", "error", "clinical", "Infusion before injury or enrolment",
             "The infusion is dated before the subject's injury or enrolment."),
        Rule("FB-DATE-002", "error", "clinical", "Adverse event ends before it starts",
             "The adverse event's resolution date is before its onset date."),
        Rule("FB-AE-001", "warning", "clinical", "Adverse event not treatment-emergent",
             "The adverse event started before the study infusion."),
        Rule("FB-AE-002", "error", "clinical", "Serious adverse event without criteria",
             "An adverse event is marked serious but no seriousness criterion is given (or the reverse)."),
        # references between records
        Rule("FB-REF-001", "error", "references", "Unknown subject",
             "A record refers to a subject that is not among the subjects read; the record is not converted."),
        Rule("FB-REF-002", "error", "references", "Unknown study",
             "A subject names a study that is not described by the study metadata; it is not converted."),
        # HTTP service and registry ingest
        Rule("FB-SRV-001", "error", "schema", "Not a transaction or batch Bundle",
             "Ingest takes a Bundle of type transaction or batch; nothing was stored."),
        Rule("FB-SRV-002", "error", "schema", "Unsupported bundle entry",
             "An entry lacks a resource or request, or asks for something other than POST Type or PUT Type/id; "
             "nothing was stored."),
        Rule("FB-SRV-003", "error", "schema", "Unsupported conditional create",
             "ifNoneExist must be a single identifier search (identifier=system|value); nothing was stored."),
        Rule("FB-SRV-004", "error", "references", "Duplicate bundle entry",
             "Two entries share a fullUrl or write the same Type/id; nothing was stored."),
        Rule("FB-SRV-005", "error", "references", "Reference to a resource that is not stored",
             "A reference points to a resource that is neither in the bundle nor in the store; nothing was stored."),
        Rule("FB-SRV-006", "warning", "references", "Conditional create kept the stored resource",
             "A conditional create matched a stored resource whose content differs; the stored resource was kept. "
             "Send the resource with PUT to update it."),
        Rule("FB-SRV-007", "fatal", "syntax", "Request body too large",
             "The request body exceeds the service's size limit; it was not read."),
        Rule("FB-SRV-008", "fatal", "syntax", "Unsupported media type",
             "The request body is not in a format this endpoint reads."),
        Rule("FB-SRV-009", "fatal", "syntax", "Malformed or unsafe XML",
             "The XML cannot be parsed, or declares a DTD or entities, which are refused."),
        Rule("FB-SRV-010", "error", "references", "Resource not found",
             "No stored resource (or version) has this type and id."),
        Rule("FB-SRV-011", "error", "schema", "Invalid request parameter",
             "A search or operation parameter is unknown for this endpoint or its value has the wrong syntax."),
        Rule("FB-SRV-012", "error", "security", "Not authorised",
             "Write endpoints need the API key (Authorization: Bearer KEY or X-API-Key) when one is set."),
        Rule("FB-SRV-013", "fatal", "service", "Internal error",
             "The service failed unexpectedly; nothing was stored. The service log has the details."),
    )
}  # fmt: skip


def rule(code: str) -> Rule:
    return RULES[code]
