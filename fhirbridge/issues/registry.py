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
        Rule("FB-IO-004", "fatal", "syntax", "Malformed CSV",
             "The CSV file cannot be parsed past a point (an unterminated quote, a field over 128 KiB); the message "
             "says where reading stopped and how many lines were not read. Nothing is written."),
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
             "Columns in the file are not used by the mapping spec; their values are not converted. One issue per "
             "file, with the count and the first names."),
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
        # validation of any FHIR R4 content (fhirbridge.formats.fhir.checker)
        Rule("FB-IO-007", "error", "syntax", "Malformed NDJSON line",
             "A line of an NDJSON file is not one JSON object; the line is skipped, the other lines are checked."),
        Rule("FB-IO-008", "fatal", "syntax", "Input format not recognised",
             "The format of the input could not be told from its content; name it with --as."),
        Rule("FB-IO-009", "fatal", "syntax", "No records",
             "The input yields no record at all: an empty folder, no file the layout's file patterns match, or "
             "files with a header only. Nothing is written; the message says what was looked for."),
        Rule("FB-FHIR-010", "error", "schema", "Not an R4 resource",
             "A resource has no resourceType, or one that FHIR R4 does not define; it is not checked further."),
        Rule("FB-FHIR-011", "error", "schema", "Unknown element",
             "An element is not defined for its type in FHIR R4 (misspelt, or from another release)."),
        Rule("FB-FHIR-012", "error", "schema", "Required element missing",
             "An element whose minimum cardinality is 1 or more is absent."),
        Rule("FB-FHIR-013", "error", "schema", "Too many values",
             "An element holds more values than its maximum cardinality (or an array where one value is allowed)."),
        Rule("FB-FHIR-014", "error", "schema", "Wrong JSON shape",
             "A repeating element is not an array, or a complex element is not a JSON object."),
        Rule("FB-FHIR-015", "error", "schema", "Invalid primitive value",
             "A primitive value does not have its type's JSON type, range or format (integer, decimal, date, "
             "dateTime, instant, id, uri, code, ...)."),
        Rule("FB-FHIR-016", "error", "schema", "Choice type given twice",
             "A choice element (value[x], effective[x], ...) is present with more than one type."),
        Rule("FB-FHIR-017", "error", "terminology", "Code not in a required value set",
             "A code, Coding or CodeableConcept bound to a required value set of FHIR R4 holds no code from it."),
        Rule("FB-FHIR-018", "error", "invariants", "FHIRPath invariant violated",
             "A constraint of the FHIR R4 specification (ele-1, dom-2..dom-5, obs-6, obs-7, per-1, ...) evaluates "
             "to false; the severity is the constraint's own."),
        Rule("FB-FHIR-019", "information", "invariants", "Best-practice invariant not followed",
             "A best-practice constraint of the specification (dom-6: a resource should have a narrative, ...) is "
             "not met. Opt-in: runs only when selected (--select FB-FHIR-019)."),
        Rule("FB-FHIR-020", "error", "references", "Duplicate fullUrl",
             "Two entries of a bundle share a fullUrl (bdl-7)."),
        Rule("FB-FHIR-021", "error", "references", "Bundle entry request missing or misplaced",
             "An entry of a transaction, batch or history bundle has no request, or an entry of another bundle type "
             "has one (bdl-3)."),
        Rule("FB-FHIR-022", "error", "references", "Reference to a resource of the wrong type",
             "A reference resolves to a resource whose type the element does not allow."),
        Rule("FB-FHIR-023", "information", "invariants", "Invariant not evaluated",
             "The FHIRPath engine cannot evaluate a constraint on this content; it was not checked."),
        Rule("FB-FHIR-024", "information", "schema", "Content of another FHIR release",
             "A bundle, resource or NDJSON line has the shape of FHIR R5 (or declares it); the R4 structure, binding "
             "and invariant rules do not run on it. The FHIR reader checks it against its own release."),
        Rule("FB-FHIR-030", "error", "terminology", "Unknown code in a fhirbridge CodeSystem",
             "A coding names one of fhirbridge's CodeSystems with a code that CodeSystem does not define."),
        Rule("FB-FHIR-031", "error", "profiles", "Resource does not match its fhirbridge profile",
             "A resource claims a fhirbridge profile in meta.profile, but lacks the code that profile requires."),
        Rule("FB-FHIR-032", "error", "profiles", "Required component missing",
             "A resource claiming a fhirbridge profile lacks a component or element the profile requires (the 134 "
             "ISNCSCI exam values, the 19 SCIM-III items, derivedFrom)."),
        Rule("FB-FHIR-033", "error", "profiles", "Value not allowed by the fhirbridge profile",
             "A value is outside the values its profile allows (an ISNCSCI cell value, a SCIM-III item or score)."),
        Rule("FB-FHIR-034", "warning", "profiles", "Unknown fhirbridge profile",
             "meta.profile names a URL under fhirbridge's canonical that fhirbridge does not publish."),
        Rule("FB-FHIR-035", "error", "profiles", "SCI value outside what its code allows",
             "An Observation (or component) coded as something fhirbridge knows - LOINC 97843-7 (AIS grade), an "
             "ISNCSCI level, zone, score or worksheet cell, a SCIM-III item or score - holds a value that code does "
             "not allow (an AIS of F, a motor score of 6, a SCIM-III total of 120), whatever profile it claims."),
        Rule("FB-FHIR-040", "error", "clinical", "Records of one subject disagree on identity",
             "Patients sharing an identifier differ in sex or birth date, or a record names a study its patient "
             "is not enrolled in."),
        # reading FHIR (JSON, XML, NDJSON; R4, R4B, R5) into records
        Rule("FB-FHIR-050", "fatal", "syntax", "Malformed FHIR XML",
             "The XML input is not well-formed; nothing of the file is read."),
        Rule("FB-FHIR-051", "fatal", "syntax", "XML document type declaration refused",
             "The XML input declares a DOCTYPE (entities, an external DTD); FHIR never needs one and the file is "
             "refused unread."),
        Rule("FB-FHIR-052", "error", "schema", "Not a FHIR resource",
             "A JSON object, NDJSON line or XML element names no resource type of the FHIR release read; it is not "
             "converted."),
        Rule("FB-FHIR-053", "error", "schema", "Bundle entry without a resource",
             "An entry of a Bundle holds no resource (or not a JSON object); nothing of it is converted."),
        Rule("FB-FHIR-054", "warning", "schema", "Resource type not converted",
             "The input holds a resource of a type fhirbridge does not read into records; it is not converted."),
        Rule("FB-FHIR-055", "warning", "terminology", "Unknown code",
             "An Observation, Procedure or Condition carries a code fhirbridge does not map; the resource is not "
             "converted."),
        Rule("FB-FHIR-056", "warning", "schema", "Element not converted",
             "An element or extension of a resource has no place in the records; its value is not carried over."),
        Rule("FB-FHIR-057", "error", "schema", "Resource of another FHIR release",
             "A resource has elements of another FHIR release than the one the input is read as (an R5 "
             "AdverseEvent in R4 input, ...); it is not converted."),
        Rule("FB-FHIR-058", "warning", "schema", "FHIR release unclear",
             "The input declares conflicting FHIR releases, or its resources have the shapes of several; the "
             "release it is read as is named in the message."),
        Rule("FB-FHIR-059", "error", "schema", "Invalid record in FHIR input",
             "The values of a resource do not make a valid record (a required value missing, a value outside the "
             "allowed ones); it is not converted."),
        Rule("FB-FHIR-060", "warning", "references", "Resource linked to nothing in the input",
             "A resource points at no Patient of the input (or at one enrolled in no study), a value at no panel, "
             "an infusion at no product: valid FHIR that may refer to a server, but without what it points at it "
             "is not converted."),
        Rule("FB-FHIR-061", "error", "references", "Duplicate record in FHIR input",
             "Two resources describe the same record (same subject and key); the later one is not converted."),
        # SDTM datasets (read and write) and SDTM conformance
        Rule("FB-SDTM-001", "fatal", "syntax", "Unreadable SDTM dataset",
             "An SDTM dataset file (CSV, SAS XPORT, Dataset-JSON or Dataset-XML) cannot be parsed or is truncated."),
        Rule("FB-SDTM-002", "error", "schema", "Unknown SDTM dataset",
             "The dataset is not a domain (or SUPP-- dataset) of the SDTM mapping; none of its rows is converted."),
        Rule("FB-SDTM-003", "error", "schema", "Required SDTM variable missing",
             "A variable whose SDTMIG core is Req is absent from the dataset (Pinnacle 21 SD0056, CDISC CG0014)."),
        Rule("FB-SDTM-004", "warning", "schema", "Expected SDTM variable missing",
             "A variable whose SDTMIG core is Exp is absent from the dataset (Pinnacle 21 SD0057, CDISC CG0016)."),
        Rule("FB-SDTM-005", "error", "schema", "Required SDTM value empty",
             "A Req variable has no value on a row (Pinnacle 21 SD0002, CDISC CG0014)."),
        Rule("FB-SDTM-006", "error", "terminology", "Value not in controlled terminology",
             "A value is not a term of the variable's non-extensible CDISC codelist (Pinnacle 21 CT2001, FDA FDAB017) "
             "or of its sponsor codelist (SD0037); the record is not converted."),
        Rule("FB-SDTM-007", "error", "schema", "Invalid ISO 8601 date",
             "A --DTC value is not an ISO 8601 date or date-time (partial dates allowed; Pinnacle 21 SD0003)."),
        Rule("FB-SDTM-008", "error", "references", "Duplicate --SEQ",
             "The sequence number is used twice for the same USUBJID in one dataset (Pinnacle 21 SD0005, CDISC "
             "CG0028)."),
        Rule("FB-SDTM-009", "error", "references", "USUBJID not in DM",
             "A dataset names a subject that the DM dataset does not hold (Pinnacle 21 SD0064, CDISC CG0029)."),
        Rule("FB-SDTM-010", "error", "clinical", "Start after end",
             "The --ENDTC of a row is before its --STDTC (Pinnacle 21 SD0013, FDA FDAB034)."),
        Rule("FB-SDTM-011", "warning", "schema", "Beyond SAS XPORT v5 limits",
             "A variable name is over 8 characters, a label over 40, or a text value over 200 bytes; when writing "
             "XPT the value is cut (an error)."),
        Rule("FB-SDTM-012", "error", "schema", "SDTM record not convertible",
             "The rows of a record do not give a valid hub record (value type, range or grammar); it is not "
             "converted."),
        Rule("FB-SDTM-013", "warning", "schema", "Unmapped SDTM variable",
             "A variable of the dataset is not used by the SDTM mapping; its values are not converted."),
        Rule("FB-SDTM-014", "warning", "schema", "Value not representable in SDTM",
             "A record value has no variable, test or qualifier in the SDTM mapping (or no submission value) and is "
             "not written."),
        Rule("FB-SDTM-015", "error", "terminology", "Unknown test code",
             "A findings row's --TESTCD (with its location and laterality) is not a test of the SDTM mapping; the "
             "row is not converted."),
        Rule("FB-SDTM-016", "warning", "references", "Inconsistent study-level value",
             "Subjects of one study give different arms or countries in DM; the first is kept."),
        Rule("FB-SDTM-017", "error", "references", "Orphan supplemental qualifier",
             "A SUPP-- row points at no record of its parent domain, or names a QNAM the mapping does not know."),
        Rule("FB-SDTM-018", "error", "schema", "Numeric SDTM value not a number",
             "A Num variable holds text that is not a number; it is read as empty."),
        Rule("FB-SDTM-019", "warning", "schema", "Non-ASCII text in SAS XPORT",
             "XPT v5 has no text encoding; the value is written as UTF-8, which SAS may read in another encoding."),
        Rule("FB-SDTM-020", "warning", "syntax", "File not read as SDTM",
             "A file is not an SDTM dataset file, or is in another file format than the datasets read; it is "
             "not read."),
        Rule("FB-SDTM-021", "information", "terminology", "MedDRA hierarchy not in the export",
             "Adverse events are coded to a MedDRA preferred term but the export gives no other level of the "
             "hierarchy (LLT, HLT, HLGT, SOC); those variables are left empty: MedDRA is licensed and fhirbridge "
             "does not look terms up."),
        Rule("FB-SDTM-022", "error", "schema", "TS without the study start date",
             "TS has no SSTDTC parameter: the FDA rejects a submission without it (eCTD technical rejection "
             "criterion 1734)."),
        Rule("FB-SDTM-023", "warning", "schema", "Trial summary parameter missing",
             "TS lacks a parameter the FDA expects (Study Data Technical Conformance Guide, TS: SENDTC, TITLE, "
             "STYPE, TPHASE, TBLIND, TCNTRL, INTTYPE, ACTSUB, PLANSUB, REGID, SDTIGVER, SDTMVER), or a trial design "
             "dataset (TA, TE, TV, TI, SE, SV) is absent."),
        Rule("FB-SDTM-024", "error", "schema", "Inconsistent SDTMIG version",
             "The SDTMIG version in TS (SDTIGVER) or define.xml is not the one the datasets follow."),
        Rule("FB-SDTM-025", "information", "terminology", "Sponsor term in an extensible codelist",
             "A value is not a term of the variable's extensible CDISC codelist nor a sponsor term the mapping "
             "declares; extensible codelists accept it (Pinnacle 21 CT2002). Reported once per variable and value."),
        Rule("FB-SDTM-026", "warning", "clinical", "Time not at the study's UTC offset",
             "SDTM --DTC holds the study's local clock time without an offset; a time at another offset is written "
             "converted to the study's clock, and reads back at the study's offset."),
        Rule("FB-SDTM-027", "error", "clinical", "Result and completion status disagree",
             "A findings row has a result and --STAT NOT DONE, neither a result nor --STAT (Pinnacle 21 SD0047, "
             "CDISC CG0348), or a --REASND without --STAT NOT DONE (SD0023, CG0094)."),
        Rule("FB-SDTM-028", "warning", "references", "Not in the trial design",
             "An EPOCH, ARMCD or element is not in the trial arms and elements (TA, TE) (Pinnacle 21 SD1015, "
             "SD0066, SD0067; CDISC CG0009)."),
        Rule("FB-SDTM-029", "warning", "references", "Visit not in the trial or subject visits",
             "A VISITNUM / VISIT is not a planned visit of TV (Pinnacle 21 SD1017, SD1023; CDISC CG0213), or a "
             "subject's visit has no SV record (SD0065, CG0034)."),
        Rule("FB-SDTM-030", "error", "references", "Inconsistent supplemental qualifier",
             "Two SUPP-- rows qualify the same record with the same QNAM (Pinnacle 21 SD0086, CDISC CG0411), or one "
             "QNAM has two labels (SD0046)."),
        Rule("FB-SDTM-031", "error", "syntax", "Unreadable SDTM row",
             "A row of a Dataset-JSON dataset is not an array of one value per column; that row is not read, the "
             "others are."),
        Rule("FB-SDTM-032", "warning", "syntax", "Character XML cannot hold",
             "A text value holds a control character (U+0001 to U+001F but tab, line feed and carriage return) that "
             "XML 1.0 cannot hold even escaped; Dataset-XML is written without it (Dataset-JSON and XPT keep it)."),
        # clinical consistency
        Rule("FB-SCIM-001", "error", "clinical", "SCIM-III subscale does not equal the sum of its items",
             "A reported SCIM-III subscale score (or mobility sub-score: room and toilet, indoors and outdoors) "
             "differs from the sum of its item scores."),
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
        Rule("FB-ISN-004", "warning", "clinical", "Reported ISNCSCI value is one of several the exam allows",
             "The raw exam leaves the value undetermined between several possibilities (e.g. AIS A,B when deep anal "
             "pressure is not testable) and the site reported one of them: plausible, but not derivable from the "
             "exam."),
        Rule("FB-ISN-005", "warning", "clinical", "Lowest non-key muscle at a level without a key muscle",
             "The lowest non-key muscle with motor function is named at T2 to L1, segments without a key muscle; "
             "the classification only takes key-muscle levels (C5-T1, L2-S1) into account."),
        Rule("FB-ISN-006", "warning", "clinical", "AIS E at the subject's first exam",
             "AIS E means normal function in a person who had prior deficits; at the first exam of a subject enrolled "
             "for a spinal cord injury it is suspicious (a wrong grade, or an exam missing before it)."),
        Rule("FB-ISN-007", "information", "clinical", "Values marked * without the reason",
             "The exam has values marked * (impairment not due to SCI) but gives no non-SCI condition behind them."),
        Rule("FB-DATE-001", "error", "clinical", "Infusion before injury or enrolment",
             "The infusion is dated before the subject's injury or enrolment."),
        Rule("FB-DATE-002", "error", "clinical", "Adverse event ends before it starts",
             "The adverse event's resolution date is before its onset date; it is not converted (written, it "
             "would break FHIR's per-1)."),
        Rule("FB-AE-001", "warning", "clinical", "Adverse event not treatment-emergent",
             "The adverse event started before the study infusion."),
        Rule("FB-AE-002", "error", "clinical", "Serious adverse event without criteria",
             "An adverse event is marked serious but no seriousness criterion is given (or the reverse)."),
        # references between records
        Rule("FB-REF-001", "error", "references", "Unknown subject",
             "A record refers to a subject that is not among the subjects read; the record is not converted."),
        Rule("FB-REF-002", "error", "references", "Unknown study",
             "A subject names a study that is not described by the study metadata (or no study file was read); "
             "the subject and its records are not converted."),
        Rule("FB-REF-003", "warning", "references", "Link to a procedure the subject does not have",
             "An infusion names a source harvest, or an adverse event's causality a procedure (harvest, infusion), "
             "that the subject has no record of; FHIR cannot point at it, and the link is not written there."),
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
        Rule("FB-SRV-010", "error", "references", "Resource not found",
             "No stored resource (or version) has this type and id."),
        Rule("FB-SRV-011", "error", "schema", "Invalid request parameter",
             "A search or operation parameter is unknown for this endpoint or its value has the wrong syntax."),
        Rule("FB-SRV-012", "error", "security", "Not authorised",
             "Every endpoint but /metadata needs credentials when authentication is configured: the API key "
             "(Authorization: Bearer KEY or X-API-Key) or an OAuth2 bearer token of the configured issuer."),
        Rule("FB-SRV-013", "fatal", "service", "Internal error",
             "The service failed unexpectedly; nothing was stored. The service log has the details."),
        # FHIR REST interactions and search
        Rule("FB-REST-001", "error", "capability", "Not supported",
             "The service does not support this search parameter, modifier, result parameter or resource type "
             "(the CapabilityStatement at /metadata lists what it does); nothing was searched or stored."),
        Rule("FB-REST-002", "error", "conflict", "Precondition failed",
             "If-Match names another version than the current one, or a conditional write matches more than one "
             "resource; nothing was stored."),
        Rule("FB-REST-003", "error", "lifecycle", "Resource deleted",
             "The resource (or version) was deleted; its earlier versions stay in its history."),
        Rule("FB-REST-004", "error", "capability", "Resource of another FHIR release",
             "The store holds R4 resources; a resource that declares or has the shape of another release is "
             "refused rather than stored unchecked."),
        Rule("FB-REST-005", "error", "conflict", "Deletion of a referenced resource",
             "Other stored resources refer to the resource; delete or change them first. Nothing was deleted."),
        Rule("FB-REST-006", "warning", "capability", "Search parameter ignored",
             "Under Prefer: handling=lenient a parameter the service does not support is ignored, not refused."),
        Rule("FB-REST-007", "error", "schema", "Resource does not match the request",
             "The body's resourceType or id differs from the type and id of the URL; nothing was stored."),
        Rule("FB-REST-008", "error", "syntax", "Resource nested too deeply",
             "The objects and arrays of the body nest deeper than the service's limit (--max-depth; deeper than any "
             "FHIR resource needs); nothing was read further or stored."),
        Rule("FB-SRV-030", "fatal", "syntax", "Request not received in time",
             "The client sent the request body more slowly than the service's body timeout allows, or less of it "
             "than its Content-Length announced; nothing was stored."),
        Rule("FB-SRV-031", "fatal", "syntax", "Request over a limit",
             "The request exceeds one of the service's limits (bundle entries, repeated parameters, "
             "name length, expanded upload size); nothing was read further or stored."),
        Rule("FB-SRV-032", "fatal", "syntax", "Unreadable upload",
             "An uploaded archive is corrupt, encrypted, uses an unsupported compression, declares wrong sizes or "
             "holds a file and a folder of the same name; nothing was read from it."),
        Rule("FB-SRV-033", "error", "security", "Forbidden",
             "The credentials are valid but lack the scope this request needs (system/*.read for reads, "
             "system/*.write for writes), or the job belongs to another client."),
        Rule("FB-SRV-034", "error", "service", "Bulk job failed or not ready",
             "A bulk export or import job failed, was cancelled, or its files are not (or no longer) there."),
        Rule("FB-SRV-036", "error", "service", "Statement timeout",
             "A database statement ran longer than the service's statement timeout and was cancelled; nothing was "
             "stored. Try again later, or ask for less."),
        Rule("FB-SRV-035", "error", "schema", "Subject refused by bulk import",
             "Every resource of this subject was left out of the import because one of them failed validation or "
             "could not be stored; the other subjects were imported."),
    )
}  # fmt: skip


#: Rules that run only when selected by code or prefix: they describe style, not validity.
OPT_IN: Final[frozenset[str]] = frozenset({"FB-FHIR-019"})


def rule(code: str) -> Rule:
    return RULES[code]
