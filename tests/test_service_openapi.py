"""The OpenAPI document is served, and property-based requests generated from it (schemathesis) never make the
running service answer with a server error."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance
from test_service_support import Service, running

pytestmark = pytest.mark.slow


@schemathesis.serializer("application/fhir+ndjson")
def _ndjson(_context: object, value: object) -> bytes:
    """Bodies of $import: NDJSON is text; generated strings are sent as they are."""
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("openapi")
    with running(str(tmp / "db.sqlite"), tmp) as svc:
        yield svc


def test_the_openapi_document_describes_every_endpoint(service: Service) -> None:
    with service.client() as client:
        document = client.get("/openapi.json").json()
    assert {"/", "/metadata", "/$validate", "/$convert", "/$export", "/{rtype}", "/{rtype}/{rid}",
            "/{rtype}/{rid}/_history", "/{rtype}/{rid}/_history/{vid}"} <= set(document["paths"])
    assert "HTTPValidationError" not in str(document)  # errors are OperationOutcomes, not FastAPI's shape


def test_generated_requests_never_cause_a_server_error(service: Service) -> None:
    """Each operation of the served document gets generated requests (the pytest plugin of schemathesis is driven
    by hand: the document only exists once the server runs)."""
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error], timeout=60)

        no_server_error()


def test_generated_requests_pass_every_check(service: Service) -> None:
    """Every check schemathesis has (status codes, content types, headers and bodies conforming to the document,
    negative data rejected, ...) on a few derandomized examples per operation, but one: the document cannot say
    what a valid FHIR resource is (that takes the FHIR structure definitions), so a body the schema allows is
    often invalid FHIR, rightly refused with 400; "schema-valid data is accepted" does not hold for FHIR."""
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        def every_check(case: schemathesis.Case) -> None:
            case.call_and_validate(timeout=60, excluded_checks=[positive_data_acceptance])

        every_check()
