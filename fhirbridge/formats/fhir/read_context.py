"""What every FHIR → record reader needs: the mapping spec read backwards, and per resource a tally of the
elements used, so that whatever is not converted is reported rather than dropped silently."""

from __future__ import annotations

from functools import cached_property
from typing import Any, TypeVar

from pydantic import ValidationError

from fhirbridge.formats.fhir.context import lookup
from fhirbridge.formats.fhir.entries import Entry
from fhirbridge.formats.fhir.models import Release
from fhirbridge.issues.issue import Issue
from fhirbridge.mapping.fhir_mapping import FhirMapping
from fhirbridge.records import Record, SourceLocation

R = TypeVar("R", bound=Record)
#: Elements that never hold record values: identity, metadata and the generated narrative.
_NOT_VALUES = frozenset({"resourceType", "id", "meta", "text", "language"})


class ReadContext:
    """The mapping spec, the release read and the issues of one reading."""

    def __init__(self, mapping: FhirMapping, release: Release, issues: list[Issue],
                 rejected: frozenset[tuple[str, str, int | None]] | None = None) -> None:
        self.mapping = mapping
        self.release = release
        self.issues = issues
        #: resources already checked and rejected (None: each is checked when read)
        self.rejected = rejected
        # the spec's systems, extension URLs and named codes as looked up: asked several times per resource read
        self._looked_up: dict[tuple[str, str], Any] = {}

    @property
    def r5(self) -> bool:
        return self.release == "R5"

    def system(self, key: str) -> str:
        found = self._looked_up.get(("systems", key))
        if found is None:
            found = self._looked_up["systems", key] = lookup(self.mapping, "systems", key)
        return found

    def extension_url(self, key: str) -> str:
        found = self._looked_up.get(("extensions", key))
        if found is None:
            found = self._looked_up["extensions", key] = lookup(self.mapping, "extensions", key)
        return found

    def named(self, key: str) -> tuple[str, str]:
        """(system URL, code) of one of the mapping spec's named codes."""
        found = self._looked_up.get(("codes", key))
        if found is None:
            lookup(self.mapping, "codes", key)
            coding = self.mapping.coding(key)
            found = self._looked_up["codes", key] = coding["system"], coding["code"]
        return found

    def unmapped(self, table: str, fhir_code: str) -> str | None:
        """The record value a FHIR code stands for in one of the mapping spec's value maps."""
        return self._reversed.get(table, {}).get(fhir_code)

    @cached_property
    def _reversed(self) -> dict[str, dict[str, str]]:
        return {name: {fhir: ours for ours, fhir in table.items()} for name, table in self.mapping.value_maps.items()}

    def code(self, concept: Any, system_key: str) -> str | None:
        """The code of the first coding of a CodeableConcept from one of the mapping spec's systems."""
        return code_in(concept, self.system(system_key))


def codings(concept: Any) -> list[dict[str, Any]]:
    coding = concept.get("coding") if isinstance(concept, dict) else None
    return [c for c in coding if isinstance(c, dict)] if isinstance(coding, list) else []


def code_in(concept: Any, system: str) -> str | None:
    """The code of the first coding of ``system`` (asked some 150 times per ISNCSCI exam read: a plain loop)."""
    coding = concept.get("coding") if isinstance(concept, dict) else None
    if isinstance(coding, list):
        for c in coding:
            if isinstance(c, dict) and c.get("system") == system:
                return c.get("code")
    return None


def reference(value: Any) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else None
    return ref if isinstance(ref, str) else None


def date_only(item: Item, value: Any, element: str) -> Any:
    """A date of the record from a FHIR dateTime: a time of day has no place and is reported."""
    if isinstance(value, str) and "T" in value:
        item.issue("FB-FHIR-056", f"the time of day of {value} is not kept (the record holds a date)", element)
        return value.split("T", 1)[0]
    return value


class Item:
    """One resource being read into a record: the elements taken, and issues located in it."""

    def __init__(self, entry: Entry, ctx: ReadContext) -> None:
        self.entry = entry
        self.ctx = ctx
        self.resource = entry.resource
        self.used: set[str] = set(_NOT_VALUES)
        self.used_extensions: set[int] = set()
        self.rejected = False

    def get(self, key: str) -> Any:
        """An element's value, which the record now carries (or which only repeats what the record implies)."""
        self.used.add(key)
        return self.resource.get(key)

    def extensions(self, key: str) -> list[tuple[int, dict[str, Any]]]:
        """The extensions with the URL of one of the mapping spec's extensions, with their positions."""
        url = self.ctx.extension_url(key)
        found = [(i, e) for i, e in enumerate(self.resource.get("extension", [])) if e.get("url") == url]
        self.used_extensions.update(i for i, _ in found)
        return found

    def extension_value(self, key: str, value_key: str) -> tuple[str, Any]:
        """(FHIRPath, value) of the first extension with that URL, or ("", None)."""
        found = self.extensions(key)
        if not found:
            return "", None
        i, extension = found[0]
        for extra, _ in found[1:]:
            self.issue("FB-FHIR-056", "the extension repeats; only the first is read", f"extension[{extra}]")
        return f"extension[{i}].{value_key}", extension.get(value_key)

    def member_of_visit(self, visit: Any) -> None:
        """A value Observation of a panel: its own visit extension (if any) must name the panel's visit; it is
        read (not reported as left over) and the panel's visit is the record's."""
        at, own = self.extension_value("visit", "valueString")
        if own is not None and own != visit:
            self.issue("FB-FHIR-056", f"its visit {own!r} is not its panel's ({visit!r}); the panel's is kept", at,
                       value=own, expected=str(visit))

    def issue(self, code: str, message: str, element: str = "", **kwargs: Any) -> None:
        entry = self.entry
        self.ctx.issues.append(Issue.at(code, f"{entry.type}: {message}", entry.file, entry.line,
                                        f"{entry.path}.{element}" if element else entry.path, **kwargs))

    def reject(self, code: str, message: str, element: str = "") -> None:
        """The resource is not converted, for the reason the issue gives (its elements are not listed)."""
        self.issue(code, message, element)
        self.rejected = True

    def report_leftovers(self) -> None:
        """Every element and extension not taken: its value is not carried over, and the user is told."""
        if self.rejected:
            return
        for key in self.resource:
            name = key.removeprefix("_")
            if name not in self.used and name != "extension":
                self.issue("FB-FHIR-056", f"{name} has no place in the records; it is not converted", name)
        for i, extension in enumerate(self.resource.get("extension", [])):
            if i not in self.used_extensions:
                self.issue("FB-FHIR-056", f"extension {extension.get('url')} is not converted", f"extension[{i}]")

    def source(self, columns: dict[str, str], elsewhere: dict[str, str] | None = None) -> SourceLocation:
        """Where the record comes from; ``columns`` maps record fields to the elements of this resource they were
        read from, ``elsewhere`` to full FHIRPaths in other resources."""
        located = {field: self.entry.at(element) for field, element in columns.items()}
        return SourceLocation(file=self.entry.file, row=self.entry.line, path=self.entry.path,
                              columns={**located, **(elsewhere or {})})

    def build(self, kind: type[R], values: dict[str, Any], columns: dict[str, str],
              elsewhere: dict[str, str] | None = None) -> R | None:
        """The record, or None with an issue per invalid value located at the element it was read from."""
        source = self.source(columns, elsewhere)
        try:
            return kind.model_validate({**values, "source": source})
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                message = (f"{field}: a value is required" if err["type"] == "missing" or err.get("input", 0) is None
                           else f"{field}: {err['msg'].removeprefix('Value error, ')}")
                value = err.get("input")
                self.ctx.issues.append(Issue.of(
                    "FB-FHIR-059", f"{self.entry.type}: {message}; the {kind.__name__} is not converted",
                    source=source, field=field, value=value if isinstance(value, str | int | float | bool) else None))
            return None
