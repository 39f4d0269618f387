"""Reading request bodies safely: a size limit on every request, FHIR JSON or XML, uploaded files.

XML goes through the FHIR spoke's hardened parser (no DTDs, entities or network access; a document that
declares a DOCTYPE is refused). Uploaded zips are read in memory, member by member and a block at a time, up to
the expansion limit counted as they are unpacked (zip bombs, lying sizes); no member may name a path outside the
archive. JSON bodies are checked for their limits (entries, nesting, NUL characters) as soon as they are parsed.
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import PurePosixPath
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhirbridge.formats.fhir import xml as fhir_xml
from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue
from fhirbridge.service.limits import LimitExceeded, check_parsed, current_limits

JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
XML_TYPES = {"application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir"}
ZIP_TYPES = {"application/zip", "application/x-zip-compressed"}
MULTIPART = "multipart/form-data"
#: Bytes unpacked from an archive member at a time.
_BLOCK = 1024 * 1024


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
    try:
        check_parsed(resource, raw=body)
    except LimitExceeded as exc:
        raise BodyError(exc.issue, exc.status) from None
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise BodyError(Issue.of("FB-FHIR-001", "the body is not a FHIR resource: it has no resourceType",
                                 file="request body", target="resourceType"), 400)
    return resource


def parse_fhir_xml(body: bytes, decimal: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """An R4 resource from FHIR XML; elements that cannot be read refuse the body rather than being dropped.
    ``decimal`` keeps decimals as written (see ``fhir_xml.from_xml``)."""
    try:
        root = fhir_xml.parse(body)
    except fhir_xml.XmlInputError as exc:
        raise BodyError(Issue.of(exc.code, str(exc), file="request body"), 400) from None
    resource, problems = fhir_xml.from_xml(root, "R4", decimal=decimal)
    issues = [Issue.of("FB-FHIR-056", f"{message}; not read", file="request body", target=where)
              for where, message in problems]
    if issues:
        raise BodyError(issues[0], 400, *issues[1:])
    try:
        check_parsed(resource)
    except LimitExceeded as exc:
        raise BodyError(exc.issue, exc.status) from None
    return resource


def zip_members(data: bytes, limit: int | None = None) -> tuple[list[Source], int]:
    """The files of a zip, each named by its path in the archive, unpacked a block at a time: the expanded total
    may not exceed ``limit`` bytes (the sizes the archive declares are not trusted), no path may leave the
    archive, be too long, or be both a file and a folder; encrypted members, unknown compression and corrupt
    data refuse the upload. Returns the members and the bytes they expanded to."""
    limits = current_limits.get()
    limit = limits.max_unzipped if limit is None else limit
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise BodyError(Issue.of("FB-SRV-032", f"not a readable zip file: {exc}", file="request body"), 400) from None
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        _check_member_names(archive, infos, limits.max_name)
        members, total = [], 0
        for info in infos:
            content, total = _expand(archive, info, total, limit)
            members.append(Source(content, name=PurePosixPath(info.filename).as_posix()))
    return members, total


def _check_member_names(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], max_name: int) -> None:
    folders = {parent.as_posix() for info in archive.infolist()
               for parent in PurePosixPath(info.filename).parents if parent.parts}
    for info in infos:
        name = PurePosixPath(info.filename)
        if name.is_absolute() or ".." in name.parts or not name.parts:
            raise _unreadable(f"zip member {info.filename[:80]!r} points outside the archive")
        if len(info.filename) > max_name:
            raise BodyError(Issue.of("FB-SRV-031", f"a zip member's name is longer than {max_name} characters",
                                     file="request body"), 400)
        if name.as_posix() in folders:
            raise _unreadable(f"zip member {info.filename[:80]!r} is both a file and a folder")
        if info.flag_bits & 0x1:
            raise _unreadable(f"zip member {info.filename[:80]!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
            raise _unreadable(f"zip member {info.filename[:80]!r} uses an unsupported compression "
                              f"({info.compress_type})")


def _expand(archive: zipfile.ZipFile, info: zipfile.ZipInfo, total: int, limit: int) -> tuple[bytes, int]:
    """One member's bytes, read a block at a time; the running total of the archive is capped at ``limit``."""
    chunks: list[bytes] = []
    try:
        with archive.open(info) as member:
            while block := member.read(_BLOCK):
                total += len(block)
                if total > limit:
                    raise BodyError(Issue.of("FB-SRV-031", f"the upload expands to more than {limit} bytes",
                                             file="request body"), 413)
                chunks.append(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError,
            lzma.LZMAError) as exc:
        raise _unreadable(f"zip member {info.filename[:80]!r} is corrupt: {type(exc).__name__}") from None
    content = b"".join(chunks)
    if len(content) != info.file_size:
        raise _unreadable(f"zip member {info.filename[:80]!r} is not the size its header declares")
    return content, total


def _unreadable(message: str) -> BodyError:
    return BodyError(Issue.of("FB-SRV-032", message, file="request body"), 400)


def safe_upload_name(name: str | None, fallback: str) -> str:
    """The last component of an uploaded file's name, or ``fallback`` when there is no usable one; names longer
    than the limit are refused (a file system could not hold them)."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    max_name = current_limits.get().max_name
    if len(base) > max_name:
        raise BodyError(Issue.of("FB-SRV-031", f"an uploaded file's name is longer than {max_name} characters",
                                 target="filename"), 400)
    return base if base and base not in (".", "..") else fallback


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware refusing bodies over ``max_bytes``: by Content-Length at once, else while streaming
    (except on ``unlimited`` paths, which write their body to disk as it arrives)."""

    def __init__(self, app: ASGIApp, max_bytes: int, refuse: Any, unlimited: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse  # (scope, receive, send) coroutine that answers 413
        self.unlimited = unlimited  # paths that stream their body to disk (bulk import)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.unlimited:
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
