"""HTTP requests too malformed to reach the application (a Content-Length of ``-1`` or ``abc``, a broken request
line or header) are answered by the HTTP parser itself; this protocol makes that answer an OperationOutcome too,
like every other refusal of the service, instead of uvicorn's plain text."""

from __future__ import annotations

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from fhirbridge.formats.fhir.operation_outcome import operation_outcome
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report


def _malformed_outcome() -> bytes:
    issue = Issue.of("FB-SRV-011", "malformed HTTP request (request line, header or Content-Length)")
    return orjson.dumps(operation_outcome(Report(issues=[issue])))


class FhirH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = _malformed_outcome()
        headers = [(b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close"), (b"x-content-type-options", b"nosniff"),
                   (b"cache-control", b"no-store")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
