"""The one base class of fhirbridge's usage errors, so that a pipeline catches them all with one ``except``.

A usage error is a call that cannot be carried out as asked: an option value that does not exist, a format
fhirbridge does not read or write, an option combination a spoke does not support, a mapping spec that cannot be
used. Problems of the data itself are never raised: they are issues in the Report. This module imports nothing,
so that every layer can raise these errors.
"""

from __future__ import annotations


class FhirbridgeError(Exception):
    """A call fhirbridge cannot carry out as asked (the command line exits with code 2 and the message)."""


class InvalidOption(FhirbridgeError, ValueError):
    """An option value or format name fhirbridge does not know; the message lists the valid ones."""
