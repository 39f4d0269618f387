"""The HTTP protocol of the service: uvicorn's h11 protocol with three additions.

- HTTP requests too malformed to reach the application (a Content-Length of ``-1`` or ``abc``, a broken request
  line or header) are answered by the HTTP parser itself; this protocol makes that answer an OperationOutcome too,
  like every other refusal of the service, instead of uvicorn's plain text.
- Every connection sends without delay (``TCP_NODELAY``). asyncio sets it only on sockets whose protocol number
  says TCP, and the listening socket uvicorn binds for ``--workers N`` does not say so (uvicorn issue 3149): its
  connections kept Nagle's algorithm, and every response after a connection's first waited for the client's
  delayed acknowledgement, 40 ms on Linux (every request of a kept-alive client took 44 ms with 2 workers,
  against 0.8 ms with one).
- A request's line and headers must arrive within ``header_timeout`` seconds. uvicorn closes idle keep-alive
  connections and the service times out each part of a body, but a client that sends its headers a byte at a
  time (slowloris), or opens a connection and sends nothing, would otherwise hold the connection (and a place in
  the server) for as long as it likes. The clock starts when the connection opens and, on a kept-alive
  connection, when the first byte of the next request arrives (until then uvicorn's keep-alive timeout applies);
  it stops when the headers are complete. A client that sent part of a request gets 408 with an
  OperationOutcome; one that sent nothing is simply disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from typing import Any

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from fhirbridge.formats.fhir.operation_outcome import operation_outcome
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.service.settings import ServiceSettings

_log = logging.getLogger("fhirbridge.service")


def _outcome(code: str, message: str) -> bytes:
    return orjson.dumps(operation_outcome(Report(issues=[Issue.of(code, message)])))


def _headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]


def _send_without_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on a TCP connection (see the module's docstring)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # a connection already closed by its client
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def protocol_with(header_timeout: float) -> Any:
    """The protocol class uvicorn instantiates per connection, with the service's header timeout (a ``partial``
    rather than a subclass made on the fly, so that it pickles for ``--workers N``)."""
    return functools.partial(FhirH11Protocol, header_timeout=header_timeout)


class FhirH11Protocol(H11Protocol):
    def __init__(self, *args: Any, header_timeout: float = ServiceSettings.header_timeout, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        #: whether any byte of the request being waited for has arrived
        self._request_begun = False

    def send_400_response(self, msg: str) -> None:
        body = _outcome("FB-SRV-011", "malformed HTTP request (request line, header or Content-Length)")
        for event in (h11.Response(status_code=400, headers=_headers(body), reason=b"Bad Request"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    # the header timeout -------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _send_without_delay(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers():
            self._request_begun = True
            self._arm_header_timer()
        super().data_received(data)
        if not self._awaiting_headers():  # the headers are complete (the request runs) or the parser gave up
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # a pipelined request whose first bytes arrived with the previous one: its clock starts now
        if self._awaiting_headers() and self.conn.trailing_data[0] and not self.transport.is_closing():
            self._request_begun = True
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _awaiting_headers(self) -> bool:
        """Whether the connection waits for the line and headers of a request (h11 has not read one yet)."""
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None and self.header_timeout > 0:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._request_begun = False

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._awaiting_headers():
            return
        if self._request_begun:
            _log.info("request headers not complete within %g s: 408, connection closed", self.header_timeout)
            body = _outcome("FB-SRV-030", f"the request line and headers did not arrive within "
                                          f"{self.header_timeout:g} s")
            head = b"HTTP/1.1 408 Request Timeout\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in _headers(body))
            self.transport.write(head + b"\r\n" + body)
        self.transport.close()
