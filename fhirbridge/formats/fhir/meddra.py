"""Where the MedDRA hierarchy of an adverse event goes in FHIR (R4, R4B and R5 alike), shared by the writer and
the reader so that the two cannot drift apart.

- ``meddra_code``, ``meddra_term``: a MedDRA Coding of ``event`` (R4) / ``code`` (R5), the preferred term, as
  HL7's Adverse Event Clinical Research IG puts it;
- ``meddra_llt_code``, ``meddra_llt``: a second MedDRA Coding of the same concept, marked by fhirbridge's
  ``meddra-level`` extension (``LLT``);
- ``meddra_hlt``, ``meddra_hlgt``, ``meddra_soc`` (and their ``_code``): fhirbridge's ``meddra-hlt``,
  ``meddra-hlgt`` and ``meddra-soc`` extensions of the AdverseEvent (valueCoding);
- ``meddra_version``: the ``version`` of each of these Codings.

The LLT is a coding of the event because the verbatim term was coded to it (the PT follows from it); the upper
levels classify the term rather than code it, so they are not codings of the event. Only what the export gives is
written: MedDRA is licensed and fhirbridge looks no level up.
"""

from __future__ import annotations

from typing import Any

#: The levels above the preferred term, by the record's field (``<field>`` the name, ``<field>_code`` the code),
#: which is also the key of its extension in the mapping spec.
UPPER_LEVELS = {"meddra_hlt": "high level term", "meddra_hlgt": "high level group term",
                "meddra_soc": "primary system organ class"}
#: The ``meddra-level`` code of a lowest level term Coding (a MedDRA Coding without it is the preferred term).
LLT = "LLT"


def meddra_coding(system: str, code: str | None, name: str | None, version: str | None) -> dict[str, Any] | None:
    """A MedDRA Coding of one level, or None when the export gives neither code nor name."""
    if not (code or name):
        return None
    coding: dict[str, Any] = {"system": system}
    if version:
        coding["version"] = version
    if code:
        coding["code"] = code
    if name:
        coding["display"] = name
    return coding
