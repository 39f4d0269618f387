"""Authentication and authorisation of every request, and the audit log of writes and exports.

When the service is configured with an API key or a token issuer, every endpoint but ``/metadata`` (and the
documentation, which holds no data) needs credentials, reads included: an API key (``X-API-Key`` or
``Authorization: Bearer KEY``), or an OAuth2 bearer token (a JWT signed by a key of the issuer's JWKS, with
``iss``, ``exp`` and, when configured, ``aud``) whose ``scope`` grants ``system/*.read`` for reads and
``system/*.write`` for writes, as SMART Backend Services names them (SMART v2's ``system/*.rs`` and
``system/*.cud`` too). ``public_read`` opens reads to anyone, explicitly.

Reads are GET and HEAD, and the operations that store nothing ($validate, $convert, cancelling one's own bulk
job); everything else is a write.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from fhirbridge.issues.issue import Issue
from fhirbridge.service.limits import REQUEST_ID, RecordingSend
from fhirbridge.service.responses import ServiceError
from fhirbridge.service.settings import ServiceSettings
from fhirbridge.store.jobs import record_audit

PRINCIPAL = "fhirbridge.principal"
READ, WRITE = "read", "write"
#: Paths open to anyone: the CapabilityStatement and the API documentation.
OPEN_PATHS = ("/metadata", "/docs", "/openapi.json")
#: POST and DELETE requests that store nothing.
_READ_OPERATIONS = re.compile(r"^/(\$validate|\$convert|\$bulk-status/[^/]+)$")
_BEARER = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)
_SCOPE = re.compile(r"^system/\*\.(read|write|\*|[cruds]+)$")
#: What the audit log records: exports (files and kick-off) and every write.
_EXPORTS = re.compile(r"/\$(export|export-sdtm|bulk-files)")
log = logging.getLogger("fhirbridge.service")


@dataclass(frozen=True)
class Principal:
    """Who is asking, as the audit log names them (never a secret), and what they may do."""

    agent: str
    rights: frozenset[str]


ANONYMOUS = Principal("anonymous", frozenset({READ, WRITE}))
PUBLIC = Principal("public", frozenset({READ}))


def needed_right(method: str, path: str) -> str:
    if method in ("GET", "HEAD") or (method in ("POST", "DELETE") and _READ_OPERATIONS.match(path)):
        return READ
    return WRITE


def rights_of_scopes(scope_claim: str) -> frozenset[str]:
    rights: set[str] = set()
    for scope in scope_claim.split():
        match = _SCOPE.match(scope)
        if not match:
            continue
        grant = match.group(1)
        if grant in ("read", "*") or (grant not in ("write",) and set(grant) & set("rs")):
            rights.add(READ)
        if grant in ("write", "*") or (grant not in ("read",) and set(grant) & set("cud")):
            rights.add(WRITE)
    return frozenset(rights)


class TokenVerifier:
    """Checks bearer JWTs against the issuer's key set (read from a file once, or fetched and cached)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        source = settings.jwt_jwks or ""
        self._client = jwt.PyJWKClient(source) if source.startswith(("https://", "http://")) else None
        self._keys = None if self._client else jwt.PyJWKSet.from_json(Path(source).read_text())

    def _key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        kid = jwt.get_unverified_header(token).get("kid")
        assert self._keys is not None
        for key in self._keys.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise jwt.InvalidTokenError("no key of the issuer has this kid")

    def verify(self, token: str) -> Principal:
        claims = jwt.decode(token, self._key(token), algorithms=["RS256", "RS384", "ES256", "ES384"],
                            issuer=self.issuer, audience=self.audience,
                            options={"require": ["exp", "iss", "sub"], "verify_aud": self.audience is not None})
        return Principal(f"token:{str(claims['sub'])[:120]}", rights_of_scopes(str(claims.get("scope", ""))))


def _unauthorised(message: str) -> ServiceError:
    return ServiceError(401, Issue.of("FB-SRV-012", message), headers={"WWW-Authenticate": "Bearer"})


def authenticate(headers: dict[str, str], settings: ServiceSettings, verifier: TokenVerifier | None) -> Principal:
    """The principal the credentials of a request name; ``ServiceError`` 401 when they are missing or wrong."""
    bearer = _BEARER.match(headers.get("authorization", ""))
    given = bearer.group(1) if bearer else headers.get("x-api-key", "")
    if not given:
        raise _unauthorised("credentials are needed: an API key or a bearer token")
    if settings.api_key is not None and secrets.compare_digest(given.encode(), settings.api_key.encode()):
        return Principal("api-key", frozenset({READ, WRITE}))
    if verifier is not None and bearer and given.count(".") == 2:
        try:
            return verifier.verify(given)
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise _unauthorised(f"the bearer token is not valid: {type(exc).__name__}") from None
    raise _unauthorised("missing or wrong API key")


def principal_of(request: Request) -> Principal:
    return request.scope.get(PRINCIPAL, ANONYMOUS)


def require_api_key(request: Request) -> None:
    """Dependency of write endpoints: the request's principal may write (the middleware checked the credentials)."""
    if WRITE not in principal_of(request).rights:
        raise ServiceError(403, Issue.of("FB-SRV-033", "these credentials may not write (scope system/*.write)"))


class Authentication:
    """ASGI middleware: who is asking (see the module docstring), and an audit row for every write and export."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings, refuse: Any, audit_engine: Any) -> None:
        self.app = app
        self.settings = settings
        self.refuse = refuse  # (error, scope, receive, send) answering the error's OperationOutcome
        self.audit_engine = audit_engine  # () -> Engine, once the store is open
        self.verifier = TokenVerifier(settings) if settings.jwt_jwks else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        right = needed_right(method, path)
        try:
            principal = self._principal(scope, path, right)
        except ServiceError as exc:
            await self.refuse(exc, scope, receive, send)
            return
        scope[PRINCIPAL] = principal
        audited = right == WRITE or _EXPORTS.search(path) is not None
        recording_send = RecordingSend(send)
        try:
            await self.app(scope, receive, recording_send if audited else send)
        finally:
            if audited:
                await self._audit(scope, principal, right, recording_send.status or 500)

    def _principal(self, scope: Scope, path: str, right: str) -> Principal:
        if not self.settings.authenticating:
            return ANONYMOUS
        if path.startswith(OPEN_PATHS):
            return PUBLIC
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if right == READ and self.settings.public_read and not headers.get("authorization") \
                and not headers.get("x-api-key"):
            return PUBLIC
        principal = authenticate(headers, self.settings, self.verifier)
        if right not in principal.rights:
            raise ServiceError(403, Issue.of("FB-SRV-033", f"these credentials may not {right} "
                                             f"(scope system/*.{right})"))
        return principal

    async def _audit(self, scope: Scope, principal: Principal, right: str, status: int) -> None:
        route = getattr(scope.get("route"), "path", scope["path"] if _EXPORTS.search(scope["path"]) else "?")
        action = "E" if _EXPORTS.search(scope["path"]) else {"POST": "C", "PUT": "U", "DELETE": "D"}.get(
            scope["method"], "R" if right == READ else "U")
        try:
            await run_in_threadpool(record_audit, self.audit_engine(), principal.agent, action,
                                    f"{scope['method']} {_route_only(route)}", status, scope.get(REQUEST_ID, "-"))
        except Exception as exc:  # the answer is sent; a failed audit row is logged, never raised to the client
            log.error("audit log not written for request %s: %s", scope.get(REQUEST_ID, "-"), type(exc).__name__)


def _route_only(path: str) -> str:
    """The path with ids of resources and jobs replaced by placeholders (the audit log names no patient)."""
    parts = path.split("/")
    return "/".join(p if p.startswith(("$", "{")) or re.fullmatch(r"[A-Z][A-Za-z]*|_history", p) or p == ""
                    else "{id}" for p in parts)
