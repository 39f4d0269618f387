"""Bundle integrity: fullUrls unique (bdl-7), transaction and batch entries carry a request (bdl-3), and every
reference of a collection or transaction bundle resolves to one of its entries, of a type the element allows.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.formats.fhir.checker.structure import Reference, locate_all

Emit = Callable[[str, str, str, Any, "str | None", "str | None"], None]

#: Bundle types whose references must resolve inside the bundle.
RESOLVING = frozenset({"collection", "transaction", "batch", "document", "message"})
_NEEDS_REQUEST = frozenset({"batch", "transaction", "history"})
_RELATIVE = re.compile(r"(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?")
_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]")
#: resources held at most for their references that do not resolve yet (a forward reference mostly resolves a
#: few entries later); past it the oldest one's are located in it, and it is let go
_HELD_RESOURCES = 1000


def check_bundle(bundle: dict[str, Any], references: list[Reference], emit: Emit) -> None:
    """Integrity of one Bundle whose resources the walker has already checked (``references`` is what it met)."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return
    index = BundleEntries()
    for entry in entries:
        index.add(entry)
    index.check(bundle.get("type"), references, emit)


@dataclass(slots=True)
class _Keys:
    """What the integrity rules look at in one entry."""

    full_url: str | None
    version: str | None  # meta.versionId: one fullUrl may repeat across versions of a resource
    rtype: str | None
    rid: str | None
    request: bool


@dataclass
class BundleEntries:
    """The entries of a bundle reduced to the few keys its integrity depends on, noted one entry at a time, so
    that a bundle read entry by entry is checked without holding its resources (whose ``type`` may come after
    them in the file, hence the checks at the end)."""

    keys: list[_Keys | None] = field(default_factory=list)  # None for an entry that is not an object
    by_url: dict[str, str] = field(default_factory=dict)  # fullUrl → resource type (the last entry's)
    by_type_id: dict[str, str] = field(default_factory=dict)  # Type/id → resource type
    #: references that did not resolve when met, by the fullUrl or Type/id of the entries they may resolve to
    waiting: dict[str, list[Reference]] = field(default_factory=dict)
    #: the waiting references of each resource held for them (by the resource's id), oldest first
    holding: dict[int, list[Reference]] = field(default_factory=dict)

    def add(self, entry: Any) -> None:
        if not isinstance(entry, dict):
            self.keys.append(None)
            return
        resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
        full_url, rtype, rid = entry.get("fullUrl"), resource.get("resourceType"), resource.get("id")
        keys = _Keys(full_url if isinstance(full_url, str) else None,
                     meta.get("versionId") if isinstance(meta.get("versionId"), str) else None,
                     rtype if isinstance(rtype, str) else None, rid if isinstance(rid, str) else None,
                     "request" in entry)
        self.keys.append(keys)
        if keys.rtype is not None:
            if keys.full_url is not None:
                self.by_url[keys.full_url] = keys.rtype
            if keys.rid is not None:
                self.by_type_id[f"{keys.rtype}/{keys.rid}"] = keys.rtype
            if self.waiting:
                self._arrived(keys)

    def settle(self, met: list[Reference], path: str) -> list[Reference]:
        """The references ``met`` in the entry just added (resource at ``path``), to keep until the bundle's end.
        One that resolves to an entry of a type it allows keeps only the resource's path: it is checked again at
        the end and passes (unless a later entry takes its fullUrl with another type, which bdl-7 reports). The
        others wait, holding their resource, for an entry that settles them; those still waiting at the end,
        or when too many resources are held, are located in their resource (all of one resource in one walk),
        for they may have to be reported."""
        kept: list[Reference] = []
        waiting: list[Reference] = []
        for ref in met:
            text = sys.intern(ref.reference)
            if ref.within is None:
                kept.append(Reference(ref.path, text, ref.targets))
            elif text.startswith("#") or self._allows(ref, text):
                kept.append(Reference(path, text, ref.targets))
            else:
                ref.reference = text
                kept.append(ref)
                waiting.append(ref)
        if waiting:
            self._wait(waiting)
        return kept

    def _wait(self, refs: list[Reference]) -> None:
        """Hold ``refs`` (of one resource) until an entry they may resolve to comes, by the keys it would have."""
        resource = refs[0].within
        self.holding[id(resource)] = refs
        for ref in refs:
            for key in self._lookups(ref):
                self.waiting.setdefault(key, []).append(ref)
        while len(self.holding) > _HELD_RESOURCES:
            self._locate(self.holding.pop(next(iter(self.holding))))

    def _lookups(self, ref: Reference) -> tuple[str, ...]:
        """The fullUrls and Type/id keys of the entries ``ref`` could resolve to."""
        relative = _RELATIVE.fullmatch(ref.reference)
        if relative is None:
            return (ref.reference,)
        type_id = f"{relative['type']}/{relative['id']}"
        base = _entry_base(ref.path, self.keys)
        return (ref.reference, type_id, f"{base}{type_id}") if base else (ref.reference, type_id)

    def _arrived(self, keys: _Keys) -> None:
        """Settle the waiting references that the entry with ``keys`` resolves, letting go of their resources."""
        for key in (keys.full_url, f"{keys.rtype}/{keys.rid}" if keys.rtype and keys.rid else None):
            for ref in self.waiting.pop(key, ()) if key is not None else ():
                within = ref.within
                if within is None or not self._allows(ref, ref.reference):
                    continue
                ref.within = None
                held = self.holding.get(id(within))
                if held is not None and all(r.within is None for r in held):
                    del self.holding[id(within)]

    def located(self) -> None:
        """Locate every reference still waiting (at the end of the bundle)."""
        for refs in self.holding.values():
            self._locate(refs)
        self.holding.clear()
        self.waiting.clear()

    @staticmethod
    def _locate(refs: list[Reference]) -> None:
        unsettled = [r for r in refs if r.within is not None]
        if not unsettled:
            return
        where = locate_all(unsettled[0].within, {r.reference for r in unsettled}, unsettled[0].path)
        for ref in unsettled:
            ref.path, ref.within = where.get(ref.reference, ref.path), None

    def _allows(self, ref: Reference, text: str) -> bool:
        target = _target(text, ref.path, self.keys, self.by_url, self.by_type_id)
        return target is not None and (not ref.targets or target in ref.targets)

    def check(self, bundle_type: Any, references: list[Reference], emit: Emit) -> None:
        """fullUrls, requests and ``references`` (with their paths) of a bundle of ``bundle_type``."""
        self.located()
        bundle_type = bundle_type if isinstance(bundle_type, str) else None
        first_seen: dict[tuple[str, str | None], int] = {}
        for i, keys in enumerate(self.keys):
            if keys is None:
                continue
            if keys.full_url is not None:
                key = (keys.full_url, keys.version)
                if bundle_type != "history" and key in first_seen:
                    emit("FB-FHIR-020", f"bdl-7: fullUrl {keys.full_url} is also the fullUrl of entry "
                         f"{first_seen[key]}", f"Bundle.entry[{i}].fullUrl", keys.full_url,
                         "a fullUrl no other entry has", None)
                first_seen.setdefault(key, i)
            if bundle_type in _NEEDS_REQUEST and not keys.request:
                emit("FB-FHIR-021", f"bdl-3: entry of a {bundle_type} bundle has no request", f"Bundle.entry[{i}]",
                     None, "entry.request (method and url)", None)
            elif bundle_type is not None and bundle_type not in _NEEDS_REQUEST and keys.request:
                emit("FB-FHIR-021", f"bdl-3: entry of a {bundle_type} bundle must not have a request",
                     f"Bundle.entry[{i}].request", None, "no request", None)
        if bundle_type not in RESOLVING:
            return
        for ref in references:
            _resolve(ref, self.keys, self.by_url, self.by_type_id, bundle_type, emit)


def _resolve(ref: Reference, entries: list[_Keys | None], by_url: dict[str, str], by_type_id: dict[str, str],
             bundle_type: str, emit: Emit) -> None:
    text = ref.reference
    if text.startswith("#"):
        return  # contained references are ref-1's business
    if bundle_type in ("transaction", "batch") and "?" in text:
        return  # a conditional reference, resolved by the server
    target = _target(text, ref.path, entries, by_url, by_type_id)
    if target is None:
        emit("FB-FHIR-002", f"reference {text} does not resolve to an entry of the {bundle_type} bundle", ref.located(),
             text, "the fullUrl (or Type/id) of an entry", None)
        return
    if ref.targets and target not in ref.targets:
        emit("FB-FHIR-022", f"reference {text} points at a {target}; this element allows {', '.join(ref.targets)}",
             ref.located(), target, " or ".join(ref.targets), None)


def _target(text: str, path: str, entries: list[_Keys | None], by_url: dict[str, str], by_type_id: dict[str, str]
            ) -> str | None:
    """The resource type of the entry that reference ``text`` (met at ``path``) resolves to, if any."""
    target = by_url.get(text)
    if target is not None:
        return target
    relative = _RELATIVE.fullmatch(text)
    if relative is None:
        return None
    target = by_type_id.get(f"{relative['type']}/{relative['id']}")
    if target is None:
        base = _entry_base(path, entries)
        target = by_url.get(f"{base}{relative['type']}/{relative['id']}") if base else None
    return target


def _entry_base(path: str, entries: list[_Keys | None]) -> str | None:
    """The server base of the entry holding ``path`` (``https://x/fhir/`` of ``https://x/fhir/Patient/1``)."""
    match = _ENTRY.match(path)
    if match is None:
        return None
    keys = entries[int(match.group(1))]
    full_url = keys.full_url if keys is not None else None
    if full_url is None or not full_url.startswith("http"):
        return None
    relative = _RELATIVE.search(full_url)
    return full_url[: relative.start()] if relative else None
