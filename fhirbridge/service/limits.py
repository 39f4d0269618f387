"""Limits on one request, checked before any work is done: a request id, headers every answer carries, a
readable Content-Length, a known ``_format``, a Content-Type on every write, and a timeout on each part of the
body. Limits on what a body holds (entries, nesting, NUL characters) are checked as soon as it is parsed.

The limits come from the service settings; ``current_limits`` makes them visible to the body parser, which runs
deep inside handlers that do not see the settings.
"""

from __future__ import annotations

import asyncio
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhirbridge.issues.issue import Issue

#: The request id, named in the log and in the X-Request-Id answer header.
REQUEST_ID = "fhirbridge.request_id"
#: Media types ``_format`` may name (JSON and XML, by short name or mime type).
KNOWN_FORMATS = {"json", "xml", "application/fhir+json", "application/json", "application/json+fhir",
                 "application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir"}
#: Answers that carry no patient data and may be cached.
_CACHEABLE = ("/docs/assets/",)
_WRITE_METHODS = {"POST", "PUT", "PATCH"}
#: Most query parameters one request may carry.
MAX_PARAMETERS = 1000


@dataclass(frozen=True)
class Limits:
    max_entries: int = 50_000
    max_depth: int = 64
    max_name: int = 255
    max_unzipped: int = 64 * 1024 * 1024


DEFAULT_LIMITS = Limits()
current_limits: ContextVar[Limits] = ContextVar("current_limits", default=DEFAULT_LIMITS)


class LimitExceeded(Exception):
    """A body that breaks a limit: the issue says which; ``status`` is 413 (too much) or 400 (malformed)."""

    def __init__(self, issue: Issue, status: int = 413) -> None:
        super().__init__(issue.message)
        self.issue = issue
        self.status = status


def check_parsed(document: Any, limits: Limits | None = None, raw: bytes | None = None) -> None:
    """Refuse a parsed FHIR JSON document that nests too deeply, holds a NUL character (which no FHIR string may,
    and PostgreSQL cannot store) or is a Bundle with too many entries. One walk, without recursion.

    ``raw``, the JSON text the document was parsed from, spares looking at every string: JSON can write a NUL only
    as the escape ``\\u0000`` (a raw control character is not valid JSON), so a text without that escape holds none,
    and only the objects and lists are walked, for their depth."""
    limits = limits or current_limits.get()
    if isinstance(document, dict) and isinstance(document.get("entry"), list) \
            and len(document["entry"]) > limits.max_entries:
        raise LimitExceeded(Issue.of("FB-SRV-031", f"the Bundle has {len(document['entry'])} entries; at most "
                                     f"{limits.max_entries} are accepted", target="Bundle.entry",
                                     file="request body"))
    if raw is not None and b"\\u0000" not in raw:
        if text_depth(raw, limits.max_depth) > limits.max_depth:
            raise _too_deep(limits.max_depth)
        return
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.items()
        elif isinstance(node, list):
            children = enumerate(node)
        else:
            continue
        if depth > limits.max_depth:
            raise _too_deep(limits.max_depth)
        for key, value in children:
            if (isinstance(key, str) and "\x00" in key) or (isinstance(value, str) and "\x00" in value):
                raise LimitExceeded(Issue.of("FB-FHIR-001", "a string holds a NUL character, which FHIR does not "
                                             "allow", file="request body"), 400)
            if isinstance(value, dict | list):
                stack.append((value, depth + 1))


#: JSON text's brackets as ``{`` and ``}`` (the depth of valid JSON does not depend on which kind they are) ...
_BRACKETS = bytes.maketrans(b"[]", b"{}")
#: ... once every byte but brackets and quotes is taken out.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'{}[]"')


def text_depth(raw: bytes, most: int) -> int:
    """How deeply the objects and lists of valid JSON text nest (a document that is neither counts 0), read from
    the text: escapes out, then every byte but brackets and quotes, then the strings (every other piece between
    quotes); each pass then takes away the innermost pairs (``{}`` holding nothing any more), so the passes needed
    are the depth. Every step is a C-level call over the text, where walking the parsed document visited each of
    its objects and lists in Python (a twentieth of an ingest's CPU). Stops counting past ``most``."""
    if b"\\" in raw:  # an escaped backslash, then an escaped quote
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(raw.translate(_BRACKETS, _NOT_STRUCTURE).split(b'"')[::2])
    depth = 0
    while brackets and depth <= most:
        brackets = brackets.replace(b"{}", b"")
        depth += 1
    return depth


def _too_deep(max_depth: int) -> LimitExceeded:
    return LimitExceeded(Issue.of("FB-REST-008", f"the JSON nests deeper than {max_depth} levels",
                                  file="request body"), 400)


class _BodyTimeout(Exception):
    pass


class RecordingSend:
    """An ASGI ``send`` that passes messages on and remembers the status of the answer (None until it starts)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


class Guard:
    """ASGI middleware in front of everything: see the module docstring."""

    def __init__(self, app: ASGIApp, limits: Limits, body_timeout: float, refuse: Any) -> None:
        self.app = app
        self.limits = limits
        self.body_timeout = body_timeout
        self.refuse = refuse  # (status, issue, scope, receive, send) coroutine answering an OperationOutcome

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        scope[REQUEST_ID] = request_id
        cacheable = scope["path"].startswith(_CACHEABLE)

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                           or cacheable]
                headers += [(b"x-content-type-options", b"nosniff"), (b"x-request-id", request_id.encode())]
                if not cacheable:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        problem = self._problem(scope)
        if problem is not None:
            await self.refuse(*problem, scope, receive, guarded_send)
            return
        async def timed_receive() -> Message:
            try:
                return await asyncio.wait_for(receive(), self.body_timeout)
            except TimeoutError:
                raise _BodyTimeout from None

        tracking_send = RecordingSend(guarded_send)
        token = current_limits.set(self.limits)
        try:
            await self.app(scope, timed_receive, tracking_send)
        except _BodyTimeout:
            if tracking_send.status is None:
                issue = Issue.of("FB-SRV-030", f"the request body did not arrive within {self.body_timeout:g} s")
                await self.refuse(408, issue, scope, receive, guarded_send, close=True)
        finally:
            current_limits.reset(token)

    @staticmethod
    def _problem(scope: Scope) -> tuple[int, Issue] | None:
        """What makes the request unacceptable before it is read, if anything."""
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and not declared.strip().isdigit():
            return 400, Issue.of("FB-SRV-011", "Content-Length is not a whole number of bytes",
                                 target="Content-Length")
        query = scope.get("query_string", b"").decode("latin-1")
        pairs = parse_qsl(query, keep_blank_values=True)
        if len(pairs) > MAX_PARAMETERS:
            return 400, Issue.of("FB-SRV-031", f"more than {MAX_PARAMETERS} query parameters")
        for name, value in pairs:
            if "\x00" in name or "\x00" in value:
                return 400, Issue.of("FB-SRV-011", "a query parameter holds a NUL character", target=name[:40])
            if name == "_format" and value.strip().lower() not in KNOWN_FORMATS:
                return 400, Issue.of("FB-SRV-011", f"unknown _format {value[:40]!r}", target="_format",
                                     expected="json or xml")
        if scope["method"] in _WRITE_METHODS and not headers.get(b"content-type", b"").strip():
            return 415, Issue.of("FB-SRV-008", "a request with a body needs a Content-Type (application/fhir+json, "
                                 "application/fhir+xml, or a file upload)", target="Content-Type")
        return None
