"""FHIR validation of any R4 content: structure, values, bindings, invariants, profiles, bundle integrity."""
