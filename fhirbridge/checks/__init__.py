"""Record-level checks over the hub, whatever format the records came from: references between records,
ISNCSCI and SCIM-III consistency, and the timeline of each subject. Every check looks at one subject's records
(and its study), so a chunk of whole subjects can be checked on its own."""

from fhirbridge.checks.run import check

__all__ = ["check"]
