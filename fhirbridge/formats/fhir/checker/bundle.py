"""Bundle integrity: fullUrls unique (bdl-7), transaction and batch entries carry a request (bdl-3), and every
reference of a collection or transaction bundle resolves to one of its entries, of a type the element allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.formats.fhir.checker.structure import Reference

Emit = Callable[[str, str, str, Any, "str | None", "str | None"], None]

#: Bundle types whose references must resolve inside the bundle.
RESOLVING = frozenset({"collection", "transaction", "batch", "document", "message"})
_NEEDS_REQUEST = frozenset({"batch", "transaction", "history"})
_RELATIVE = re.compile(r"(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?")
_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]")


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

    def add(self, entry: Any) -> None:
        if not isinstance(entry, dict):
            self.keys.append(None)
            return
        resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
        full_url, rtype, rid = entry.get("fullUrl"), resource.get("resourceType"), resource.get("id")
        self.keys.append(_Keys(full_url if isinstance(full_url, str) else None,
                               meta.get("versionId") if isinstance(meta.get("versionId"), str) else None,
                               rtype if isinstance(rtype, str) else None, rid if isinstance(rid, str) else None,
                               "request" in entry))

    def check(self, bundle_type: Any, references: list[Reference], emit: Emit) -> None:
        """fullUrls, requests and ``references`` (with their paths) of a bundle of ``bundle_type``."""
        bundle_type = bundle_type if isinstance(bundle_type, str) else None
        by_url: dict[str, str] = {}  # fullUrl → resource type
        by_type_id: dict[str, str] = {}  # Type/id → resource type
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
                if keys.rtype is not None:
                    by_url[keys.full_url] = keys.rtype
            if keys.rtype is not None and keys.rid is not None:
                by_type_id[f"{keys.rtype}/{keys.rid}"] = keys.rtype
            if bundle_type in _NEEDS_REQUEST and not keys.request:
                emit("FB-FHIR-021", f"bdl-3: entry of a {bundle_type} bundle has no request", f"Bundle.entry[{i}]",
                     None, "entry.request (method and url)", None)
            elif bundle_type is not None and bundle_type not in _NEEDS_REQUEST and keys.request:
                emit("FB-FHIR-021", f"bdl-3: entry of a {bundle_type} bundle must not have a request",
                     f"Bundle.entry[{i}].request", None, "no request", None)
        if bundle_type not in RESOLVING:
            return
        for ref in references:
            _resolve(ref, self.keys, by_url, by_type_id, bundle_type, emit)


def _resolve(ref: Reference, entries: list[_Keys | None], by_url: dict[str, str], by_type_id: dict[str, str],
             bundle_type: str, emit: Emit) -> None:
    text = ref.reference
    if text.startswith("#"):
        return  # contained references are ref-1's business
    if bundle_type in ("transaction", "batch") and "?" in text:
        return  # a conditional reference, resolved by the server
    target = by_url.get(text)
    relative = _RELATIVE.fullmatch(text)
    if target is None and relative is not None:
        target = by_type_id.get(f"{relative['type']}/{relative['id']}")
        if target is None:
            base = _entry_base(ref.path, entries)
            target = by_url.get(f"{base}{relative['type']}/{relative['id']}") if base else None
    if target is None:
        emit("FB-FHIR-002", f"reference {text} does not resolve to an entry of the {bundle_type} bundle", ref.located(),
             text, "the fullUrl (or Type/id) of an entry", None)
        return
    if ref.targets and target not in ref.targets:
        emit("FB-FHIR-022", f"reference {text} points at a {target}; this element allows {', '.join(ref.targets)}",
             ref.located(), target, " or ".join(ref.targets), None)


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
