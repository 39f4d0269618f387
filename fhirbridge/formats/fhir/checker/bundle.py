"""Bundle integrity: fullUrls unique (bdl-7), transaction and batch entries carry a request (bdl-3), and every
reference of a collection or transaction bundle resolves to one of its entries, of a type the element allows.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.formats.fhir.checker.keyindex import KeyIndex
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


def _key(text: object) -> int:
    """The 64-bit key of a fullUrl, Type/id or versionId (never 0, which stands for none)."""
    return hash(text) or 1


@dataclass
class BundleEntries:
    """The entries of a bundle reduced to what its integrity depends on, noted one entry at a time, so that a
    bundle read entry by entry is checked without holding its resources (whose ``type`` may come after them in
    the file, hence the checks at the end).

    Memory stays near flat on any size: each entry leaves a byte (whether it has a request), a 64-bit key of its
    fullUrl and of its Type/id in arrays, and its fullUrl key with a type code in a ``KeyIndex`` (about 12 bytes,
    where a dict took about 80); no string is kept. A reference that resolves when it is met, to a type its
    element allows, is settled then and kept nowhere; only those that do not resolve yet are held (see
    ``settle``). Keys are Python's 64-bit string hashes: two different fullUrls taken for one another (about 1 in
    10^7 for a million entries) is the one inexactness, and a repeated fullUrl is confirmed by looking back at the
    keys of the earlier entries."""

    requests: bytearray = field(default_factory=bytearray)  # per entry: 0 no object, 1 no request, 2 a request
    urls: array = field(default_factory=lambda: array("q"))  # per entry: key of its fullUrl, 0 for none
    versions: dict[int, int] = field(default_factory=dict)  # entry → key of its meta.versionId, when it has one
    by_url: KeyIndex = field(default_factory=KeyIndex)  # fullUrl key → type code (the last entry's)
    untyped: set[int] = field(default_factory=set)  # fullUrl keys of entries without a resource type
    type_codes: dict[str, int] = field(default_factory=dict)
    type_names: list[str] = field(default_factory=list)
    #: keys of the Type/id of the entries, in order; moved into a ``KeyIndex`` at the first relative reference
    type_ids: array = field(default_factory=lambda: array("q"))
    type_id_set: KeyIndex | None = None
    #: server base of each entry (an index in ``base_names``, 0 for none), from the first fullUrl with one
    bases: array | None = None
    base_names: list[str] = field(default_factory=lambda: [""])
    duplicates: list[tuple[int, int, str]] = field(default_factory=list)  # (entry, first entry, fullUrl): bdl-7
    #: references that did not resolve when met, by the fullUrl or Type/id of the entries they may resolve to
    waiting: dict[str, list[Reference]] = field(default_factory=dict)
    #: the waiting references of each resource held for them (by the resource's id), oldest first
    holding: dict[int, list[Reference]] = field(default_factory=dict)
    #: the references still to check at the end, in the order met, and (by id) those of them settled since
    pending: list[Reference] = field(default_factory=list)
    arrived: set[int] = field(default_factory=set)
    compact_at: int = 1024

    def add(self, entry: Any) -> None:
        if type(entry) is dict and "request" not in entry:
            resource, full_url = entry.get("resource"), entry.get("fullUrl")
            if type(resource) is dict and type(full_url) is str and full_url.startswith("urn:") and (
                    "meta" not in resource):
                rtype, rid = resource.get("resourceType"), resource.get("id")
                if type(rtype) is str and type(rid) is str:
                    self._add_plain(full_url, rtype, rid)
                    return
        self._add_any(entry)

    def _add_any(self, entry: Any) -> None:
        index = len(self.requests)
        if not isinstance(entry, dict):
            self.requests.append(0)
            self.urls.append(0)
            if self.bases is not None:
                self.bases.append(0)
            return
        resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
        full_url, rtype, rid = entry.get("fullUrl"), resource.get("resourceType"), resource.get("id")
        full_url = full_url if isinstance(full_url, str) else None
        rtype = rtype if isinstance(rtype, str) else None
        rid = rid if isinstance(rid, str) else None
        self.requests.append(2 if "request" in entry else 1)
        url = 0
        if full_url is not None:
            url = _key(full_url)
            meta = resource.get("meta")
            version = meta.get("versionId") if isinstance(meta, dict) else None
            version_key = _key(version) if isinstance(version, str) else 0
            if url in self.by_url or url in self.untyped:
                first = self._first(url, version_key, index)
                if first is not None:
                    self.duplicates.append((index, first, full_url))
            if version_key:
                self.versions[index] = version_key
        self.urls.append(url)
        self._note_base(full_url)
        if rtype is None:
            if url:
                self.untyped.add(url)
            return
        code = self._type_code(rtype)
        if url:
            self.by_url.set(url, code)
        if rid is not None:
            self._note_type_id(rtype, rid)
        if self.waiting:
            self._arrived(full_url, f"{rtype}/{rid}" if rid else None)

    def _add_plain(self, full_url: str, rtype: str, rid: str) -> None:
        """``add`` of the common entry: no request, a ``urn:`` fullUrl (no server base), a resource with a type, an
        id and no meta (no versionId): what ``add`` does for it, without its tests for the other cases."""
        index = len(self.requests)
        self.requests.append(1)
        url = _key(full_url)
        if self.by_url.get(url) is not None or url in self.untyped:
            first = self._first(url, 0, index)
            if first is not None:
                self.duplicates.append((index, first, full_url))
        self.urls.append(url)
        if self.bases is not None:
            self.bases.append(0)
        code = self._type_code(rtype)
        self.by_url.set(url, code)
        self._note_type_id(rtype, rid)
        if self.waiting:
            self._arrived(full_url, f"{rtype}/{rid}" if rid else None)

    def _type_code(self, rtype: str) -> int:
        code = self.type_codes.get(rtype)
        if code is None:
            code = self.type_codes[rtype] = len(self.type_names)
            self.type_names.append(rtype)
        return code

    def _note_type_id(self, rtype: str, rid: str) -> None:
        type_id = _key((rtype, rid))
        if self.type_id_set is not None:
            self.type_id_set.set(type_id, 0)
        else:
            self.type_ids.append(type_id)

    def _first(self, url: int, version: int, before: int) -> int | None:
        """The first entry before ``before`` with the fullUrl key ``url`` and versionId key ``version``."""
        at = -1
        while True:
            try:
                at = self.urls.index(url, at + 1, before)
            except ValueError:
                return None
            if self.versions.get(at, 0) == version:
                return at

    def _note_base(self, full_url: str | None) -> None:
        """The server base of the entry just added (``https://x/fhir/`` of ``https://x/fhir/Patient/1``)."""
        base = None
        if full_url is not None and full_url.startswith("http"):
            relative = _RELATIVE.search(full_url)
            base = full_url[: relative.start()] if relative else None
        if base is None:
            if self.bases is not None:
                self.bases.append(0)
            return
        if self.bases is None:
            self.bases = array("I", bytes(4 * (len(self.requests) - 1)))
        try:
            self.bases.append(self.base_names.index(base))
        except ValueError:
            self.bases.append(len(self.base_names))
            self.base_names.append(base)

    def settle(self, met: list[Reference], path: str) -> None:
        """Note the references ``met`` in the entry just added (resource at ``path``). One that resolves to an
        entry of a type it allows is settled and dropped (a later entry taking the same fullUrl is reported by
        bdl-7); so is a contained one (#id, ref-1's business). The others are kept (``pending_references``);
        those met by the screen wait, holding their resource, for an entry that settles them (and drops them);
        those still waiting at the end, or when too many resources are held, are located in their resource (all
        of one resource in one walk), for they may have to be reported."""
        waiting: list[Reference] = []
        for ref in met:
            text = ref.reference
            if text.startswith("#") or self._allows(ref, text):
                continue
            self.pending.append(ref)
            if ref.within is not None:
                waiting.append(ref)
        if waiting:
            self._wait(waiting)
        if len(self.pending) >= self.compact_at:
            self.pending = self.pending_references()
            self.compact_at = max(1024, 2 * len(self.pending))

    def pending_references(self) -> list[Reference]:
        """The references kept by ``settle`` that no entry has settled since, in the order met."""
        if self.arrived:
            self.pending = [r for r in self.pending if id(r) not in self.arrived]
            self.arrived.clear()
        return self.pending

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
        base = self._entry_base(ref.path)
        return (ref.reference, type_id, f"{base}{type_id}") if base else (ref.reference, type_id)

    def _arrived(self, full_url: str | None, type_id: str | None) -> None:
        """Settle the waiting references that the entry just added resolves, letting go of their resources."""
        for key in (full_url, type_id):
            for ref in self.waiting.pop(key, ()) if key is not None else ():
                within = ref.within
                if within is None or not self._allows(ref, ref.reference):
                    continue
                ref.within = None
                self.arrived.add(id(ref))
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
        target = self._target(text, ref.path)
        return target is not None and (not ref.targets or target in ref.targets)

    def check(self, bundle_type: Any, references: list[Reference], emit: Emit) -> None:
        """fullUrls, requests and ``references`` (with their paths) of a bundle of ``bundle_type``: those kept by
        ``settle``, or all of them for a bundle checked whole."""
        self.located()
        bundle_type = bundle_type if isinstance(bundle_type, str) else None
        repeated = {} if bundle_type == "history" else {i: (first, url) for i, first, url in self.duplicates}
        wrong = 1 if bundle_type in _NEEDS_REQUEST else 2 if bundle_type is not None else None
        requests = self._positions(wrong) if wrong is not None else []
        for i in sorted({*repeated, *requests}):
            if i in repeated:
                first, url = repeated[i]
                emit(
                    "FB-FHIR-020",
                    f"bdl-7: fullUrl {url} is also the fullUrl of entry {first}",
                    f"Bundle.entry[{i}].fullUrl",
                    url,
                    "a fullUrl no other entry has",
                    None,
                )
            if self.requests[i] != wrong:
                continue
            if wrong == 1:
                emit(
                    "FB-FHIR-021",
                    f"bdl-3: entry of a {bundle_type} bundle has no request",
                    f"Bundle.entry[{i}]",
                    None,
                    "entry.request (method and url)",
                    None,
                )
            else:
                emit(
                    "FB-FHIR-021",
                    f"bdl-3: entry of a {bundle_type} bundle must not have a request",
                    f"Bundle.entry[{i}].request",
                    None,
                    "no request",
                    None,
                )
        if bundle_type not in RESOLVING:
            return
        for ref in references:
            self._resolve(ref, bundle_type, emit)

    def _positions(self, flag: int) -> list[int]:
        """The entries whose request byte is ``flag``."""
        found: list[int] = []
        at = self.requests.find(flag)
        while at != -1:
            found.append(at)
            at = self.requests.find(flag, at + 1)
        return found

    def _resolve(self, ref: Reference, bundle_type: str, emit: Emit) -> None:
        text = ref.reference
        if text.startswith("#"):
            return  # contained references are ref-1's business
        if bundle_type in ("transaction", "batch") and "?" in text:
            return  # a conditional reference, resolved by the server
        target = self._target(text, ref.path)
        if target is None:
            emit(
                "FB-FHIR-002",
                f"reference {text} does not resolve to an entry of the {bundle_type} bundle",
                ref.located(),
                text,
                "the fullUrl (or Type/id) of an entry",
                None,
            )
            return
        if ref.targets and target not in ref.targets:
            emit(
                "FB-FHIR-022",
                f"reference {text} points at a {target}; this element allows {', '.join(ref.targets)}",
                ref.located(),
                target,
                " or ".join(ref.targets),
                None,
            )

    def _target(self, text: str, path: str) -> str | None:
        """The resource type of the entry that reference ``text`` (met at ``path``) resolves to, if any."""
        code = self.by_url.get(_key(text))
        if code is not None:
            return self.type_names[code]
        relative = _RELATIVE.fullmatch(text)
        if relative is None:
            return None
        rtype, rid = relative["type"], relative["id"]
        if self.type_id_set is None:
            self.type_id_set = KeyIndex()
            for type_id in self.type_ids:
                self.type_id_set.set(type_id, 0)
            self.type_ids = array("q")
        if _key((rtype, rid)) in self.type_id_set:
            return rtype
        base = self._entry_base(path)
        code = self.by_url.get(_key(f"{base}{rtype}/{rid}")) if base else None
        return self.type_names[code] if code is not None else None

    def _entry_base(self, path: str) -> str | None:
        """The server base of the entry holding ``path``."""
        if self.bases is None:
            return None
        match = _ENTRY.match(path)
        if match is None or int(match.group(1)) >= len(self.bases):
            return None
        return self.base_names[self.bases[int(match.group(1))]] or None
