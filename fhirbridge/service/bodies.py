"""Reading request bodies safely: a size limit on every request, FHIR JSON or XML, uploaded files.

XML goes through the FHIR spoke's hardened parser (no DTDs, entities or network access; a document that
declares a DOCTYPE is refused). Uploaded zips are read in memory, member by member, only up to a multiple of the
body limit (zip bombs), and no member may name a path outside the archive.
"""

from __future__ import annotations

import zipfile
from io import BytesIO
from pathlib import PurePosixPath
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhirbridge.formats.fhir import xml as fhir_xml
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue

JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
XML_TYPES = {"application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir"}
ZIP_TYPES = {"application/zip", "application/x-zip-compressed"}
MULTIPART = "multipart/form-data"
#: An uploaded zip may expand to at most this many times the body limit.
ZIP_EXPANSION = 8


class BodyError(Exception):
    """A request body that cannot be read; carries the issues and the HTTP status to answer with."""

    def __init__(self, issue: Issue, status: int, *more: Issue) -> None:
        super().__init__(issue.message)
        self.issues = [issue, *more]
        self.status = status


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_fhir(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A FHIR resource from a JSON or XML body (JSON when no type is given)."""
    kind = media_type(content_type)
    if kind in XML_TYPES:
        return parse_fhir_xml(body)
    if kind and kind not in JSON_TYPES:
        raise BodyError(Issue.of("FB-SRV-008", f"cannot read {kind} here; send FHIR JSON or XML",
                                 value=kind, expected="application/fhir+json or application/fhir+xml"), 415)
    try:
        resource = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(Issue.of("FB-IO-006", f"not valid JSON: {exc}", file="request body"), 400) from None
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise BodyError(Issue.of("FB-FHIR-001", "the body is not a FHIR resource: it has no resourceType",
                                 file="request body", target="resourceType"), 400)
    return resource


def parse_fhir_xml(body: bytes) -> dict[str, Any]:
    """An R4 resource from FHIR XML; elements that cannot be read refuse the body rather than being dropped."""
    try:
        root = fhir_xml.parse(body)
    except fhir_xml.XmlInputError as exc:
        raise BodyError(Issue.of(exc.code, str(exc), file="request body"), 400) from None
    resource, problems = fhir_xml.from_xml(root, "R4")
    issues = [Issue.of("FB-FHIR-056", f"{message}; not read", file="request body", target=where)
              for where, message in problems]
    if issues:
        raise BodyError(issues[0], 400, *issues[1:])
    return resource


def zip_members(data: bytes, limit: int) -> list[Source]:
    """The files of a zip, each named by its path in the archive; no path may leave the archive and the total
    may not exceed ``limit`` bytes."""
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise BodyError(Issue.of("FB-SRV-008", f"not a zip file: {exc}", file="request body"), 400) from None
    members, total = [], 0
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts or not name.parts:
                raise BodyError(Issue.of("FB-SRV-008", f"zip member {info.filename!r} points outside the archive",
                                         file="request body"), 400)
            total += info.file_size
            if total > limit:
                raise BodyError(Issue.of("FB-SRV-007", f"the zip expands to more than {limit} bytes",
                                         file="request body"), 413)
            with archive.open(info) as member:
                content = member.read(limit + 1)
            if len(content) != info.file_size:
                raise BodyError(Issue.of("FB-SRV-008", f"zip member {info.filename!r} is corrupt",
                                         file="request body"), 400)
            members.append(Source(content, name=name.as_posix()))
    return members


def safe_upload_name(name: str | None, fallback: str) -> str:
    """The last component of an uploaded file's name, or ``fallback`` when there is no usable one."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    return base if base and base not in (".", "..") else fallback


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware refusing bodies over ``max_bytes``: by Content-Length at once, else while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int, refuse: Any) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse  # (scope, receive, send) coroutine that answers 413

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self.refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self.refuse(scope, receive, send)
