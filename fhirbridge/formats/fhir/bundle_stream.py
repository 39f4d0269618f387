"""The entries of a Bundle file of any size, one at a time, without holding the document.

JSON is cut into chunks of whole entries where an entry starts with ``fullUrl`` (as Bundles mostly are written),
each chunk parsed by orjson in one call (``json_entry_chunks``); anything else, or a chunk orjson refuses, is
scanned with the standard library's JSON decoder (``raw_decode``) over a sliding window of the file:
the Bundle's other elements are read as they come, and each element of ``entry`` is decoded on its own. XML is
read with lxml's ``iterparse``, each ``entry`` element turned into its JSON form and dropped. A file that is
not a Bundle (a bare resource, small) or whose ``entry`` comes before its ``resourceType`` is left to the
whole-document reader: ``NotStreamable``.
"""

from __future__ import annotations

import codecs
import copy
import json
import re
from collections.abc import Iterator
from typing import IO, Any

import orjson
from lxml import etree

from fhirbridge.formats.fhir import xml
from fhirbridge.formats.fhir.models import Release
from fhirbridge.formats.fhir.versions import ReleaseEvidence
from fhirbridge.inputs import Source

WINDOW = 1 << 20
#: entries parsed in one chunk by the cutting reader: about this many bytes (the cut falls after it)
CHUNK_BYTES = 1 << 20
#: the cutting reader gives up (and the decoder scans the rest) on an entry larger than this
_LARGEST_ENTRY = 64 << 20
#: entries per chunk given by the scanning reader
_SCANNED_CHUNK = 256
_ENTRY_ARRAY = re.compile(rb'"entry"[ \t\n\r]*:[ \t\n\r]*\[')
_ENTRY_START = re.compile(rb'[ \t\n\r]*\{[ \t\n\r]*"fullUrl"[ \t\n\r]*:')
_EMPTY_OBJECT = re.compile(rb"\{[ \t\n\r]*\}")
_BEFORE_ENTRY = re.compile(rb'\}[ \t\n\r]*,[ \t\n\r]*\{[ \t\n\r]*\Z')
_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class NotStreamable(Exception):
    """The file is not a Bundle read entry by entry; read it whole."""


class BadDocument(ValueError):
    """The file is not valid JSON or XML; ``code`` is the issue code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Text:
    """A window of the decoded file, refilled as the scan reaches its end."""

    def __init__(self, path: Source) -> None:
        self.handle = path.open()
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.text = ""
        self.eof = False

    def more(self, size: int = WINDOW) -> bool:
        if self.eof:
            return False
        data = self.handle.read(size)
        self.eof = not data
        try:
            self.text += self.decoder.decode(data, final=self.eof)
        except UnicodeDecodeError as exc:
            raise BadDocument("FB-IO-006", f"not valid JSON: not UTF-8 ({exc.reason})") from None
        return True

    def skip_space(self, pos: int) -> int:
        while True:
            pos = _SPACE.match(self.text, pos).end()  # type: ignore[union-attr]
            if pos < len(self.text) or not self.more():
                return pos

    def char(self, pos: int) -> str:
        pos = self.skip_space(pos)
        return self.text[pos] if pos < len(self.text) else ""

    def value(self, pos: int) -> tuple[Any, int]:
        """Decode the JSON value at ``pos`` (after spaces), reading on while the window cuts it."""
        pos = self.skip_space(pos)
        if len(self.text) - pos < 1 << 16:
            self.more()  # a number cut by the end of the window would decode as a shorter one
        size = WINDOW
        while True:
            try:
                return _DECODER.raw_decode(self.text, pos)
            except json.JSONDecodeError as exc:
                if not self.more(size):
                    raise BadDocument("FB-IO-006", f"not valid JSON: {exc}") from None
                size *= 2

    def drop(self, pos: int) -> int:
        """Forget the text before ``pos``; returns where ``pos`` is now."""
        if pos > WINDOW:
            self.text = self.text[pos:]
            return 0
        return pos

    def close(self) -> None:
        self.handle.close()


def json_entries(path: Source, top: dict[str, Any]) -> Iterator[Any]:
    """Each element of the Bundle's ``entry`` (any JSON value), in order; the Bundle's other elements go into
    ``top`` as they are read (all of them once the iterator is done), and ``entry`` as an empty list where the
    array is, so that ``top`` keeps the order of the elements and tells an empty array from none."""
    text = _Text(path)
    try:
        text.more()
        pos = text.skip_space(0)
        if text.char(pos) != "{":
            raise NotStreamable
        pos += 1
        while True:
            pos = text.skip_space(pos)
            if text.char(pos) == "}":
                return
            key, pos = text.value(pos)
            pos = text.skip_space(pos)
            if text.char(pos) != ":":
                raise BadDocument("FB-IO-006", f"not valid JSON: ':' expected at character {pos}")
            pos = text.skip_space(pos + 1)
            if key == "entry" and text.char(pos) == "[":
                if top.get("resourceType") != "Bundle":
                    raise NotStreamable
                top[key] = []
                pos = yield from _array(text, pos + 1)
            else:
                top[key], pos = text.value(pos)
            pos = text.skip_space(pos)
            separator = text.char(pos)
            if separator == ",":
                pos += 1
            elif separator != "}":
                raise BadDocument("FB-IO-006", "not valid JSON: ',' or '}' expected")
    finally:
        text.close()


def _array(text: _Text, pos: int) -> Iterator[Any]:
    pos = text.skip_space(pos)
    if text.char(pos) == "]":
        return pos + 1
    while True:
        item, pos = text.value(pos)
        yield item
        pos = text.drop(text.skip_space(pos))
        separator = text.char(pos)
        if separator == "]":
            return pos + 1
        if separator != ",":
            raise BadDocument("FB-IO-006", "not valid JSON: ',' or ']' expected in Bundle.entry")
        pos += 1


class Chunk(list[Any]):
    """Entries parsed from one piece of text, and whether that text holds no empty object (``{}``), which lets
    the screen skip its check of every object's size."""

    no_empty_object = False


def has_empty_object(text: bytes) -> bool:
    """Whether JSON text may hold an empty object (or a string that looks like one)."""
    return _EMPTY_OBJECT.search(text) is not None


#: A run of 19 digits is a number that may lie outside 64 bits, which orjson reads as a float (-9223372036854775809
#: becomes -9.223372036854776e18) where the scanner keeps the integer it is. It is found by mapping every digit to
#: ``0`` and looking for 19 of them: a tenth of the time of the regular expression ``\d{19}`` on a chunk.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def _exact_loads(text: bytes) -> Any:
    """``orjson.loads`` of text that holds no number orjson could read inexactly (else ``_Unsure``, and the
    scanner reads the file: such numbers are rare and always wrong in FHIR, whose integers are 32-bit)."""
    if text.translate(_DIGITS_AS_ZERO).find(_LONG_NUMBER) >= 0:
        raise _Unsure
    return orjson.loads(text)


class _Unsure(Exception):
    """The cutting reader cannot tell where entries end here: the decoder scans on."""


def json_entry_chunks(path: Source, top: dict[str, Any]) -> Iterator[list[Any]]:
    """The elements of the Bundle's ``entry``, as ``json_entries`` gives them (the same values, ``top`` filled the
    same way), in chunks of about ``CHUNK_BYTES``. A chunk is cut just before an entry that starts with
    ``{"fullUrl":`` and parsed by orjson as one array: the cut is right when the array parses (a cut inside a
    string or a nested object leaves brackets or quotes unbalanced), so no byte is scanned in Python. Where no
    such cut is found, or orjson refuses the text (JSON it does not take, or broken JSON, whose message the
    decoder gives), the decoder scans the file from the start and skips the entries already given."""
    given = 0
    try:
        for chunk in _cut_chunks(path, top):
            given += len(chunk)
            yield chunk
        return
    except _Unsure:
        pass
    chunk = []
    for n, item in enumerate(json_entries(path, top)):
        if n < given:
            continue
        chunk.append(item)
        if len(chunk) >= _SCANNED_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _cut_chunks(path: Source, top: dict[str, Any]) -> Iterator[list[Any]]:
    with path.open() as handle:
        text = handle.read(CHUNK_BYTES)
        found = _ENTRY_ARRAY.search(text)
        if text.startswith(codecs.BOM_UTF8) or found is None:
            raise _Unsure
        head = text[:found.start()].rstrip()
        if not head.endswith(b","):
            raise _Unsure
        try:
            header = _exact_loads(head[:-1] + b"}")
        except orjson.JSONDecodeError:
            raise _Unsure from None
        if not isinstance(header, dict) or header.get("resourceType") != "Bundle" or "entry" in header:
            raise _Unsure
        rest = text[found.end():]
        if _ENTRY_START.match(rest) is None:
            raise _Unsure  # no entry, or entries that do not start with fullUrl: no cut would be found
        top.update(header)
        top["entry"] = []
        eof = False
        while True:
            rest, eof = _fill(handle, rest, eof)
            if eof:
                entries, tail = _last(rest)
                if entries:
                    yield entries
                top.update(tail)
                return
            cut = _cut(rest)
            if cut is None:
                if len(rest) > _LARGEST_ENTRY:
                    raise _Unsure
                more = handle.read(CHUNK_BYTES)
                eof = not more
                rest += more
                continue
            yield _parsed(rest[:cut])
            rest = rest[cut:].lstrip(b" \t\n\r")[1:]  # past the comma


def _fill(handle: IO[bytes], rest: bytes, eof: bool) -> tuple[bytes, bool]:
    while not eof and len(rest) < CHUNK_BYTES:
        more = handle.read(CHUNK_BYTES)
        eof = not more
        rest += more
    return rest, eof


def _cut(text: bytes) -> int | None:
    """Where the last entry of ``text`` starting with ``{"fullUrl":`` begins, as the end of the one before it
    (just after its ``}``); None when there is none (one entry so far)."""
    end = len(text)
    for _ in range(64):
        at = text.rfind(b'"fullUrl"', 0, end)
        if at <= 0:
            return None
        before = _BEFORE_ENTRY.search(text, max(0, at - 64), at)
        if before is not None:
            return before.start() + 1
        end = at
    raise _Unsure


def _parsed(text: bytes) -> Chunk:
    try:
        items = Chunk(_exact_loads(b"[" + text + b"]"))
    except orjson.JSONDecodeError:
        raise _Unsure from None
    items.no_empty_object = not has_empty_object(text)
    return items


def _last(text: bytes) -> tuple[list[Any], dict[str, Any]]:
    """The last entries and the Bundle's elements after ``entry``, from the end of the file: the ``]`` that closes
    the array is the one after which the rest is the end of the Bundle object."""
    end = len(text)
    for _ in range(16):
        at = text.rfind(b"]", 0, end)
        if at < 0:
            break
        end = at
        tail = text[at + 1:].strip(b" \t\n\r")
        if tail == b"}":
            return _parsed(text[:at]), {}
        if not tail.startswith(b","):
            continue
        try:
            members = _exact_loads(b"{" + tail[1:])
        except orjson.JSONDecodeError:
            continue
        if isinstance(members, dict):
            return _parsed(text[:at]), members
    raise _Unsure


def xml_entries(path: Source, asked: Release | None, top: dict[str, Any]
                ) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """Each entry of an XML Bundle in its JSON form (``fullUrl`` and ``resource``), with the problems of reading
    its resource; the Bundle's ``type`` goes into ``top``. The document is read twice: first to tell the release
    it is written in (whose element tables read it), as ``entries.xml_release`` does for a whole document."""
    release = _xml_opening(path, asked)
    index = 0
    try:
        for root, node in _bundle_children(path, top):
            name = node.tag.rpartition("}")[2]
            if name == "type":
                top["type"] = node.get("value")
            elif name == "entry":
                yield _xml_entry(node, release, index)
                index += 1
            node.clear()
            while node.getprevious() is not None:
                del root[0]
    except etree.XMLSyntaxError as exc:
        raise BadDocument("FB-FHIR-050", f"not well-formed XML: {exc}") from None




def _bundle_children(path: Source, top: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """The root and each element of an XML Bundle's top level once it is read whole (lxml iterparse): what both
    streams of an XML Bundle walk, the caller dropping what it has read. A document that is no Bundle is
    ``NotStreamable``; ``top`` learns it is one."""
    root = None
    for event, node in _events(path, ("start", "end")):
        if root is None:
            root = node
            if node.tag != f"{{{xml.FHIR_NS}}}Bundle":
                raise NotStreamable
            top["resourceType"] = "Bundle"
            continue
        if event == "end" and node.getparent() is root:
            yield root, node

def _xml_opening(path: Source, asked: Release | None) -> Release:
    """The release an XML document is read in, after refusing a DOCTYPE (entity expansion and external
    entities are attacks, and FHIR XML never needs one)."""
    with path.open() as handle:
        if re.search(rb"<!DOCTYPE", handle.read(4096), re.IGNORECASE):
            raise BadDocument("FB-FHIR-051", "the document declares a DOCTYPE; FHIR XML never needs one and it is "
                                             "refused (entity expansion and external entities are attacks)")
    return _xml_release(path) or asked or "R4"

def xml_bundle_entries(path: Source, top: dict[str, Any], asked: Release | None,
                       problems: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """Each entry of an XML Bundle in its JSON form with all its elements, as the whole document's reading gives
    it, with the problems of reading it added to ``problems``; ``top`` becomes the Bundle's other elements, as
    ``json_entries`` makes it: those before the first entry when it is read, all of them (and ``entry`` as an
    empty list in its place) at the end. A document whose reading at the Bundle's own level has a problem (text
    between its elements, an element it lacks, a repeat) is ``NotStreamable``: only the whole-document reading
    orders such problems among the entries'."""
    release = _xml_opening(path, asked)
    entry_tag = f"{{{xml.FHIR_NS}}}entry"
    index = 0
    before: set[str] = set()  # the Bundle's element names met before its first entry
    try:
        for root, node in _bundle_children(path, top):
            if node.tag != entry_tag:
                if not index and isinstance(node.tag, str):
                    before.add(node.tag.rpartition("}")[2])
                continue
            if (node.tail or "").strip():
                raise NotStreamable
            root.remove(node)  # read now; what stays is the Bundle's other elements
            if not index:
                top.update(_shell(root, release, before))
            entry, found = xml.entry_from_xml(node, release, index)
            problems.extend(found)
            index += 1
            yield entry
    except etree.XMLSyntaxError as exc:
        raise BadDocument("FB-FHIR-050", f"not well-formed XML: {exc}") from None
    if root is None:
        raise NotStreamable
    shell = _shell(root, release, before if index else None)
    top.clear()
    top.update(shell)


def _shell(root: Any, release: Release, before: set[str] | None) -> dict[str, Any]:
    """The Bundle's elements other than its entries in their JSON form, with ``entry`` as an empty list after the
    elements named in ``before`` (None: the Bundle had no entry). ``root`` holds no entry read yet, but may hold
    the next ones, in part (the parser reads ahead): only the elements before them are taken."""
    shell_root = etree.Element(root.tag, dict(root.attrib), nsmap=root.nsmap)
    shell_root.text = root.text
    for child in root:
        if child.tag == f"{{{xml.FHIR_NS}}}entry":
            break
        shell_root.append(copy.deepcopy(child))
    converted, found = xml.from_xml(shell_root, release)
    if found:
        raise NotStreamable
    if before is None:
        return converted
    shell = {k: v for k, v in converted.items() if k == "resourceType" or k.lstrip("_") in before}
    shell["entry"] = []
    shell.update((k, v) for k, v in converted.items() if k not in shell)
    return shell


def _events(path: Source, events: tuple[str, ...]) -> Any:
    return etree.iterparse(path.open(), events=events, resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


def _xml_release(path: Source) -> Release | None:
    """The release the resources of an XML Bundle are written in, from what they declare or their element
    names (see ``entries.xml_release``); None when they do not tell."""
    evidence = ReleaseEvidence()
    holders = (f"{{{xml.FHIR_NS}}}resource", f"{{{xml.FHIR_NS}}}contained")
    root = None
    try:
        for event, node in _events(path, ("start", "end")):
            if root is None:
                root = node
            if event != "end":
                continue
            parent = node.getparent()
            if parent is None or parent.tag in holders:
                names: dict[str, Any] = {child.tag.rpartition("}")[2]: True for child in node
                                         if isinstance(child.tag, str)}
                version = node.find(f"{{{xml.FHIR_NS}}}fhirVersion")
                if version is not None:
                    names["fhirVersion"] = version.get("value")
                evidence.add({"resourceType": node.tag.rpartition("}")[2], **names}, "the XML document")
            if parent is root:
                node.clear()
                while node.getprevious() is not None:
                    del root[0]
    except etree.XMLSyntaxError as exc:
        raise BadDocument("FB-FHIR-050", f"not well-formed XML: {exc}") from None
    if not (evidence.declarations or evidence.shapes):
        return None
    return evidence.decide(None)[0]


def _xml_entry(node: Any, release: Release, index: int) -> tuple[dict[str, Any], list[Any]]:
    entry: dict[str, Any] = {}
    full_url = node.find(f"{{{xml.FHIR_NS}}}fullUrl")
    if full_url is not None:
        entry["fullUrl"] = full_url.get("value")
    holder = node.find(f"{{{xml.FHIR_NS}}}resource")
    resource = next((child for child in holder if isinstance(child.tag, str)), None) if holder is not None else None
    if resource is None:
        return entry, []
    converted, problems = xml.from_xml(resource, release, f"Bundle.entry[{index}].resource")
    entry["resource"] = converted
    return entry, problems
