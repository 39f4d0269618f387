"""The checker for resources met one at a time, as the FHIR reader and writer meet them: every problem of a
resource as an Issue, located in its file, and whether the resource is fit to use (no error)."""

from __future__ import annotations

import threading
from typing import Any

from fhirbridge.formats.fhir.checker.definitions import load
from fhirbridge.formats.fhir.checker.profiles import own_codes
from fhirbridge.formats.fhir.checker.structure import Walker, WalkOptions
from fhirbridge.issues.issue import Issue, Severity


class ResourceChecker:
    """Structure, values, required bindings, our CodeSystems and invariants of single resources of ``release``
    (R4 and R4B: the R4 definitions; R5: the R5 ones)."""

    def __init__(self, release: str = "R4") -> None:
        self.walker = Walker(self._emit, WalkOptions(own_codes=own_codes()), load(release))
        self.found: list[Issue] = []
        self.file: str | None = None
        self.row: int | None = None

    def _emit(self, code: str, message: str, target: str | None, value: Any, expected: str | None,
              severity: str | None) -> None:
        self.found.append(Issue.of(code, message, file=self.file, row=self.row, target=target, value=value,
                                   expected=expected, severity=Severity.parse(severity) if severity else None))

    def check(self, resource: Any, path: str, file: str | None = None, row: int | None = None) -> list[Issue]:
        """The issues of one resource at ``path`` (``Bundle.entry[3].resource``); its references are in
        ``walker.references`` until the next check, for a bundle check to resolve."""
        self.found, self.file, self.row = [], file, row
        self.walker.references.clear()
        self.walker.resource(resource, path)
        return self.found


_THREAD = threading.local()


def thread_checker(definitions: str) -> ResourceChecker:
    """This thread's checker of ``definitions`` (``DEFINITIONS_OF[release]``). A checker holds the issues and
    references of the resource it checks, so threads that check at once (the service's requests) each need their
    own; the definitions and screens they are made from are built once and shared."""
    try:
        checkers: dict[str, ResourceChecker] = _THREAD.checkers
    except AttributeError:  # the thread's first check
        checkers = _THREAD.checkers = {}
    found = checkers.get(definitions)
    if found is None:
        found = checkers[definitions] = ResourceChecker(definitions)
    return found


def fit(issues: list[Issue]) -> bool:
    """A resource with these issues can be used: none is an error."""
    return all(i.severity < Severity.ERROR for i in issues)

