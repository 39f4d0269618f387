"""FHIR XML ↔ the JSON form, for any resource of a release, driven by the element definitions.

The FHIR XML rules (https://hl7.org/fhir/R4/xml.html) that the JSON form does not show:

- elements come in the order of the specification (the checker's definitions keep each type's elements in it);
- a primitive is an element with a ``value`` attribute; its ``id`` and extensions (``_name`` in JSON) are the
  element's ``id`` attribute and ``extension`` children, and a repeating primitive pairs ``name[i]`` with
  ``_name[i]``;
- ``id`` of a data type or backbone element, and ``url`` of an Extension, are attributes, but a resource's
  ``id`` is an element;
- an element holding a resource (``Bundle.entry.resource``, ``contained``) wraps an element named after the
  resource type; the narrative ``div`` is XHTML in its own namespace.

fhir.resources can also write XML, but takes about 17 s to write and 10 s to read the 13-subject example
(5 MB) and turns integral decimals into ``44.0``; this mapping works on the JSON form directly and is a
round trip for every value. Both directions take the elements from the checker's definitions (``_defined``):
their order, which names a type holds, which repeat, which are primitives of which JSON type, resources or
XHTML; neither imports the models.

Parsing is hardened against hostile documents: no entity expansion, no DTD loading, no network access, no
huge trees, and a document that declares a DOCTYPE is refused outright.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import orjson
from lxml import etree

from fhirbridge.formats.fhir.checker.definitions import Slot, is_resource_type, load
from fhirbridge.formats.fhir.models import JSON_BOOLEAN, JSON_DECIMAL, JSON_INTEGER, Element, Kind, Release

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_INTEGER_TEXT = re.compile(r"-?\d+")


class XmlInputError(ValueError):
    """A document that is not well-formed or is refused (a DOCTYPE); ``code`` is the issue code for it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_comments=True, remove_pis=True)


def parse(data: bytes) -> etree._Element:
    """The root element of a FHIR XML document; refuses DOCTYPEs and anything not well-formed."""
    if re.search(rb"<!DOCTYPE", data[:4096], re.IGNORECASE):
        raise XmlInputError("FB-FHIR-051", "the document declares a DOCTYPE; FHIR XML never needs one and it is "
                                           "refused (entity expansion and external entities are attacks)")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlInputError("FB-FHIR-050", f"not well-formed XML: {exc}") from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise XmlInputError("FB-FHIR-051", "the document declares a DOCTYPE; it is refused")
    return root


# JSON → XML ------------------------------------------------------------------------------------------------

def to_xml(resource: dict[str, Any], release: Release) -> etree._Element:
    """One resource (a Bundle included) as an XML element; raises ValueError for content the release lacks."""
    return _Writer(release).resource(resource, str(resource.get("resourceType")))


def to_bytes(root: etree._Element) -> bytes:
    """The document, indented; the narrative keeps its exact whitespace (XHTML text is content)."""
    _indent(root, "\n")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def compact_bytes(root: etree._Element) -> bytes:
    """The document without indentation."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _indent(element: etree._Element, before: str) -> None:
    children = [child for child in element if child.tag.startswith(f"{{{FHIR_NS}}}")]
    if children:
        element.text = before + "  "
        for child in children:
            child.tail = before + "  "
            _indent(child, before + "  ")
        children[-1].tail = before
    for div in element.iterchildren(f"{{{XHTML_NS}}}div"):
        div.tail = before


def _tag(name: str) -> str:
    return f"{{{FHIR_NS}}}{name}"


def _text(value: Any) -> str:
    """A primitive's ``value`` attribute: JSON's spelling for numbers and booleans, the text otherwise; a decimal
    that remembers how it was written (a float with a ``text``, as the registry store reads them) keeps it."""
    if isinstance(value, float) and isinstance(written := getattr(value, "text", None), str):
        return written
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    return str(value)


#: The JSON type of the primitives whose JSON form is not a string (R5's integer64 is a string).
_JSON_PRIMITIVES = {"boolean": JSON_BOOLEAN, "integer": JSON_INTEGER, "positiveInt": JSON_INTEGER,
                    "unsignedInt": JSON_INTEGER, "decimal": JSON_DECIMAL}


@cache
def _defined(release: Release, model: str) -> dict[str, Element]:
    """The elements of a type or backbone path (``Bundle.entry``) by JSON name, from the checker's definitions of
    ``release``; a complex element's ``type`` names the definitions' model of its value."""
    return {key: _element(slot) for key, slot in load(release).models[model].slots.items()}


def _element(slot: Slot) -> Element:
    if slot.type == "xhtml":
        return Element(slot.key, "xhtml", "string", slot.many)
    if slot.primitive:
        return Element(slot.key, "primitive", _JSON_PRIMITIVES.get(slot.type, "string"), slot.many)
    kind: Kind = "resource" if slot.type == "Resource" else "complex"
    return Element(slot.key, kind, str(slot.model), slot.many)


class _Writer:
    """JSON → XML, each element in the specification's order (the checker's definitions keep it), as the official
    schemas require."""

    def __init__(self, release: Release) -> None:
        self.release = release

    def resource(self, resource: dict[str, Any], path: str) -> etree._Element:
        name = resource.get("resourceType")
        if not is_resource_type(self.release, name):
            raise ValueError(f"{path}: not a FHIR {self.release} resource type: {name!r}")
        root = etree.Element(_tag(str(name)), nsmap={None: FHIR_NS})
        self.children(root, resource, str(name), path, is_resource=True)
        return root

    def children(self, parent: etree._Element, obj: Any, model: str, path: str, is_resource: bool) -> None:
        if not isinstance(obj, dict):
            raise ValueError(f"{path}: expected a JSON object")
        defined = _defined(self.release, model)
        unknown = [k for k in obj if k != "resourceType" and k.removeprefix("_") not in defined]
        if unknown:
            raise ValueError(f"{path}: {', '.join(unknown)} not defined for {model} in {self.release}")
        for name, element in defined.items():
            if (name == "id" and not is_resource) or (name == "url" and model == "Extension"):
                if name in obj:
                    parent.set(name, str(obj[name]))
                continue
            value, extra = obj.get(name), obj.get(f"_{name}")
            if value is None and extra is None:
                continue
            if element.kind == "primitive":
                self.primitive(parent, element, value, extra, f"{path}.{name}")
                continue
            for i, item in enumerate(value if element.is_list else [value]):
                where = f"{path}.{name}[{i}]" if element.is_list else f"{path}.{name}"
                if element.kind == "xhtml":
                    parent.append(_xhtml(item, where))
                    continue
                child = etree.SubElement(parent, _tag(name))
                if element.kind == "resource":
                    child.append(self.resource(item, where))
                else:
                    self.children(child, item, element.type, where, is_resource=False)

    def primitive(self, parent: etree._Element, element: Element, value: Any, extra: Any, path: str) -> None:
        values = value if element.is_list else [value]
        extras = extra if element.is_list else [extra]
        if values is None:
            values = [None] * len(extras)
        extras = [*(extras or []), *[None] * (len(values) - len(extras or []))]
        for i, (item, ext) in enumerate(zip(values, extras, strict=True)):
            if item is None and ext is None:
                continue
            child = etree.SubElement(parent, _tag(element.name))
            where = f"{path}[{i}]" if element.is_list else path
            if ext is not None:
                if not isinstance(ext, dict) or set(ext) - {"id", "extension"}:
                    raise ValueError(f"{where}: the primitive's extension object may hold only id and extension")
                if "id" in ext:
                    child.set("id", str(ext["id"]))
            if item is not None:
                child.set("value", _text(item))
            for n, extension in enumerate((ext or {}).get("extension", [])):
                node = etree.SubElement(child, _tag("extension"))
                self.children(node, extension, "Extension", f"{where}.extension[{n}]", is_resource=False)


def _xhtml(markup: Any, path: str) -> etree._Element:
    try:
        div = etree.fromstring(str(markup).encode("utf-8"), _parser())
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"{path}: the narrative is not well-formed XHTML: {exc}") from None
    if div.tag != f"{{{XHTML_NS}}}div":
        raise ValueError(f"{path}: the narrative must be an XHTML div")
    return div


# XML → JSON ------------------------------------------------------------------------------------------------

#: A problem found while reading XML: the FHIRPath where it is and what is wrong.
Problem = tuple[str, str]


def from_xml(root: etree._Element, release: Release, path: str | None = None,
             decimal: Callable[[str], Any] | None = None) -> tuple[dict[str, Any], list[Problem]]:
    """The JSON form of a resource element, and the problems of elements that could not be read (those are left
    out, so that the caller reports them and decides what to convert). ``decimal`` makes the value of a decimal
    whose float would not be written back as it is written (``1.50``), for a caller that keeps that precision."""
    reader = _Reader(release, decimal)
    resource = reader.resource(root, path or etree.QName(root).localname)
    return resource or {}, reader.problems


def entry_from_xml(node: etree._Element, release: Release, index: int) -> tuple[dict[str, Any], list[Problem]]:
    """The JSON form of the ``index``-th ``entry`` element of a Bundle (all its elements, as ``from_xml`` reads
    them in the whole Bundle), and the problems of reading it, at the same FHIRPaths."""
    reader = _Reader(release)
    return reader.children(node, "Bundle.entry", f"Bundle.entry[{index}]", is_resource=False), reader.problems


class _Reader:
    def __init__(self, release: Release, decimal: Callable[[str], Any] | None = None) -> None:
        self.release = release
        self.problems: list[Problem] = []
        self.decimal = decimal

    def resource(self, node: etree._Element, path: str) -> dict[str, Any] | None:
        qname = etree.QName(node)
        if qname.namespace != FHIR_NS:
            self.problems.append((path, f"element {qname.localname} is not in the FHIR namespace {FHIR_NS}"))
            return None
        if not is_resource_type(self.release, qname.localname):
            self.problems.append((path, f"{qname.localname} is not a FHIR {self.release} resource type"))
            return None
        obj: dict[str, Any] = {"resourceType": qname.localname}
        obj.update(self.children(node, qname.localname, path, is_resource=True))
        return obj

    def children(self, node: etree._Element, model: str, path: str, is_resource: bool) -> dict[str, Any]:
        """The JSON object of an element of type (or backbone path) ``model``."""
        defined = _defined(self.release, model)
        obj: dict[str, Any] = {}
        for attribute, text in node.attrib.items():
            allowed = (attribute == "id" and not is_resource) or (attribute == "url" and model == "Extension")
            if allowed:
                obj[attribute] = text
            else:
                self.problems.append((path, f"unexpected attribute {attribute!r} on {model}"))
        if (node.text or "").strip():
            self.problems.append((path, "text content is not allowed in FHIR elements (values go in @value)"))
        values: dict[str, list[Any]] = {}
        extras: dict[str, list[Any]] = {}
        for child in node:
            qname = etree.QName(child)
            element = defined.get(qname.localname)
            where = f"{path}.{qname.localname}"
            if (child.tail or "").strip():
                self.problems.append((where, "text content is not allowed between FHIR elements"))
            if element is None or (element.kind == "xhtml") != (qname.namespace == XHTML_NS) or (
                    element.kind != "xhtml" and qname.namespace != FHIR_NS):
                self.problems.append((where, f"{qname.localname} is not an element of {model} in FHIR {self.release}"))
                continue
            if element.is_list:
                where = f"{where}[{len(values.get(element.name, []))}]"
            if element.kind == "primitive":
                value, extra = self.primitive(child, element, where)
                values.setdefault(element.name, []).append(value)
                extras.setdefault(element.name, []).append(extra)
            elif element.kind == "xhtml":
                values.setdefault(element.name, []).append(etree.tostring(child, encoding=str, with_tail=False))
            elif element.kind == "resource":
                inner = [c for c in child if isinstance(c.tag, str)]
                if len(inner) != 1:
                    self.problems.append((where, "an element holding a resource must contain exactly one resource"))
                    continue
                values.setdefault(element.name, []).append(self.resource(inner[0], where))
            else:
                values.setdefault(element.name, []).append(self.children(child, element.type, where, False))
        for name, items in values.items():
            element = defined[name]
            if not element.is_list and len(items) > 1:
                self.problems.append((f"{path}.{name}", f"{name} repeats but allows one value; the first is kept"))
            exts = extras.get(name, [])
            obj[name] = items if element.is_list else items[0]
            if any(e is not None for e in exts):
                obj[f"_{name}"] = exts if element.is_list else exts[0]
            if all(v is None for v in (items if element.is_list else items[:1])):
                del obj[name]  # only extensions: the values are in _name
        return obj

    def primitive(self, node: etree._Element, element: Element, path: str) -> tuple[Any, dict[str, Any] | None]:
        extra: dict[str, Any] = {}
        for attribute, text in node.attrib.items():
            if attribute == "id":
                extra["id"] = text
            elif attribute != "value":
                self.problems.append((path, f"unexpected attribute {attribute!r} on a primitive"))
        extensions = []
        for child in node:
            qname = etree.QName(child)
            if qname.localname == "extension" and qname.namespace == FHIR_NS:
                extensions.append(self.children(child, "Extension", f"{path}.extension[{len(extensions)}]",
                                                is_resource=False))
            else:
                self.problems.append((f"{path}.{qname.localname}", "a primitive may only hold extensions"))
        if extensions:
            extra["extension"] = extensions
        text = node.get("value")
        if text is None and not extensions:
            self.problems.append((path, "a primitive element needs a value attribute or an extension"))
        return (None if text is None else self._typed(text, element.type, path)), (extra or None)

    def _typed(self, text: str, kind: str, path: str) -> Any:
        try:
            if kind == JSON_BOOLEAN:
                if text not in ("true", "false"):
                    raise ValueError
                return text == "true"
            if kind == JSON_INTEGER:
                return int(text)
            if kind == JSON_DECIMAL:
                if _INTEGER_TEXT.fullmatch(text):
                    return int(text)
                number = float(text)
                if self.decimal is not None and orjson.dumps(number).decode() != text:
                    return self.decimal(text)
                return number
        except ValueError:
            self.problems.append((path, f"{text!r} is not a valid {kind}"))
            return None
        return text
