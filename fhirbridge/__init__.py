"""fhirbridge: convert and validate spinal-cord-injury trial data between CSV, CDISC SDTM and HL7 FHIR."""

__version__ = "0.1.0"
