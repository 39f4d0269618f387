"""What needs a real `fhirbridge serve` process: malformed HTTP answered by the parser, slow and vanishing
clients, clients that start exports and do not read, jobs that survive a restart, and several worker processes
on PostgreSQL. The job table's claims and leases are checked on both databases."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
from test_service_support import Service, database, running, subject_bundles

from fhirbridge.store import Store
from fhirbridge.store.jobs import Jobs

FHIR = {"Content-Type": "application/fhir+json"}
ASYNC = {"Prefer": "respond-async"}
#: The header timeout of the module's service, in seconds.
HEADER_TIMEOUT = 1.5


def raw(service: Service, head: bytes, body: bytes = b"", wait: float = 10) -> bytes:
    """Send bytes on a fresh connection and read the answer until the server closes or ``wait`` passes."""
    with socket.create_connection(("127.0.0.1", service.port)) as sock:
        sock.sendall(head + body)
        sock.settimeout(wait)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                    break
        except TimeoutError:
            pass
    return answer


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("processes")
    with running(str(tmp / "db.sqlite"), tmp, None, "--body-timeout", "1", "--header-timeout", str(HEADER_TIMEOUT),
                 "--files-dir", str(tmp / "files")) as svc:
        with svc.client() as client:
            bundle = next(iter(subject_bundles().values()))
            assert client.post("/", content=orjson.dumps(bundle), headers=FHIR).status_code == 200
        yield svc


@pytest.mark.parametrize("length", [b"-1", b"abc"])
def test_a_malformed_content_length_answers_an_operation_outcome(service: Service, length: bytes) -> None:
    answer = raw(service, b"POST /$validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                          b"Content-Length: " + length + b"\r\n\r\n", b"{}")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/fhir+json" in head
    assert orjson.loads(body)["resourceType"] == "OperationOutcome"


def test_a_body_shorter_than_its_length_times_out_quickly(service: Service) -> None:
    start = time.monotonic()
    answer = raw(service, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                          b"Content-Length: 1000\r\n\r\n", b'{"resourceType":')
    assert answer.startswith(b"HTTP/1.1 408") and b"FB-SRV-030" in answer
    assert time.monotonic() - start < 5


def until_closed(sock: socket.socket, wait: float = 10) -> tuple[bytes, float]:
    """What the server sends until it closes the connection, and when it closed it (``time.monotonic``); fails when
    the server keeps the connection open for ``wait`` seconds."""
    sock.settimeout(wait)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer, time.monotonic()


def test_request_headers_sent_too_slowly_time_out(service: Service) -> None:
    """Half a request line, then nothing: the connection is closed after the header timeout, with a 408."""
    with socket.create_connection(("127.0.0.1", service.port)) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /metadata HTT")
        answer, closed = until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    assert orjson.loads(body)["issue"][0]["details"]["coding"][0]["code"] == "FB-SRV-030"
    assert HEADER_TIMEOUT - 0.1 <= closed - start < HEADER_TIMEOUT + 3


def test_headers_trickled_a_byte_at_a_time_time_out_in_total(service: Service) -> None:
    """Slowloris: every byte comes well within the timeout, but the headers as a whole do not."""
    request = b"GET /metadata HTTP/1.1\r\nHost: x\r\n" + b"X-Padding: abcdefghij\r\n" * 20 + b"\r\n"
    with socket.create_connection(("127.0.0.1", service.port)) as sock:
        start = time.monotonic()
        try:
            for byte in request:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:  # the server closed the connection while the client was still sending
            pass
        answer, closed = until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert closed - start < HEADER_TIMEOUT + 3


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(service: Service) -> None:
    with socket.create_connection(("127.0.0.1", service.port)) as sock:
        answer, _ = until_closed(sock)
    assert answer == b""


def test_a_kept_alive_connection_waits_for_its_next_request_past_the_header_timeout(service: Service) -> None:
    """The header clock of a following request starts at its first byte: a client idle between two requests for
    longer than the header timeout (within the keep-alive timeout) is served."""
    request = b"GET /metadata HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", service.port)) as sock:
        sock.settimeout(10)
        for _ in range(2):
            sock.sendall(request)
            answer = b""
            while not (b"\r\n\r\n" in answer and answer.endswith(b"}")):
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            time.sleep(HEADER_TIMEOUT + 0.5)


def test_a_client_that_leaves_mid_body_is_not_an_error(service: Service) -> None:
    with socket.create_connection(("127.0.0.1", service.port)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                     b"Content-Length: 100000\r\n\r\n" + b"{" * 1000)
    with service.client() as client:
        assert client.get("/metadata").status_code == 200
    time.sleep(0.5)
    log = service.log.read_text()
    assert " 500 " not in log and "ERROR" not in log and "Traceback" not in log, log[-2000:]


def test_clients_that_do_not_read_their_exports_hold_no_database_connection(service: Service) -> None:
    sockets = []
    try:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", service.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /$export HTTP/1.1\r\nHost: x\r\n\r\n")
            sockets.append(sock)
        time.sleep(1)
        with service.client() as client:
            start = time.monotonic()
            for _ in range(10):
                assert client.get("/Patient?_count=1").status_code == 200
            assert client.get("/$export", headers=ASYNC).status_code == 202
            assert time.monotonic() - start < 10
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_jobs_are_claimed_once_and_taken_up_when_a_lease_runs_out(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        store = Store.open(url)
        try:
            jobs = Jobs(store.engine)
            submitted = {jobs.submit("export", "/$export", {"n": n}, None).id for n in range(6)}
            claimed: list[str] = []
            lock = threading.Lock()

            def claim(worker: str) -> None:
                while (job := jobs.claim(worker, 60)) is not None:
                    with lock:
                        claimed.append(job.id)

            with ThreadPoolExecutor(3) as pool:
                list(pool.map(claim, ["a", "b", "c"]))
            assert sorted(claimed) == sorted(submitted)  # each job claimed exactly once
            late = jobs.submit("export", "/$export", {}, None)
            assert jobs.claim("dying", 0.01).id == late.id
            time.sleep(0.05)
            taken = jobs.claim("rescuer", 60)
            assert taken is not None and taken.id == late.id
            assert not jobs.renew(late.id, "dying", 60, "still here?")  # the first worker has lost it
            assert jobs.renew(late.id, "rescuer", 60, "working")
            jobs.release(late.id, "rescuer")  # its service stops: the next worker takes it at once
            again = jobs.claim("next", 60)
            assert again is not None and again.id == late.id
        finally:
            store.close()


@pytest.mark.slow
def test_worker_processes_share_postgresql_and_jobs_survive_a_restart(tmp_path: Path) -> None:
    """Two processes that run no jobs ingest the same subject at once and accept an export; a service started
    afterwards on the same database runs the export. Starting service processes is what this costs, so the
    restart is an application in this process (a new store and job worker all the same) and one small subject is
    sent, twice at once."""
    from fastapi.testclient import TestClient

    from fhirbridge.service.app import create_app
    from fhirbridge.service.settings import ServiceSettings

    files = str(tmp_path / "files")
    with database("postgresql", tmp_path) as url:
        with running(url, tmp_path, None, "--workers", "2", "--job-threads", "0", "--files-dir", files) as first:
            bundles = [min(subject_bundles().values(), key=lambda b: len(b["entry"]))]

            def send(bundle: dict) -> int:
                with first.client() as client:
                    return client.post("/", content=orjson.dumps(bundle), headers=FHIR).status_code

            with ThreadPoolExecutor(2) as pool:
                assert list(pool.map(send, bundles * 2)) == [200] * 2  # the same subject at once: no duplicates
            with first.client() as client:
                status_url = client.get("/$export", headers=ASYNC).headers["Content-Location"]
                assert client.get(status_url).status_code == 202
            assert first.stop() in (0, -15)
        pids = {line.split("[")[1].split("]")[0] for line in first.log.read_text().splitlines()
                if "Started server process" in line}
        assert len(pids) == 2
        restarted = create_app(ServiceSettings(db=url, files_dir=files, api_key=None, job_threads=1))
        with TestClient(restarted) as client:
            path = status_url.split("/", 3)[3]
            deadline = time.monotonic() + 30
            while (status := client.get(f"/{path}")).status_code == 202 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert status.status_code == 200
            counts = {o["type"]: o["count"] for o in status.json()["output"]}
            assert counts["Patient"] == 1
            expected = {(e["resource"]["resourceType"], e["resource"]["id"]) for b in bundles for e in b["entry"]}
            assert sum(counts.values()) == len(expected)


def test_a_statement_past_the_timeout_is_cancelled_and_answers_503(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from fhirbridge.service.app import create_app
    from fhirbridge.service.settings import ServiceSettings

    with database("postgresql", tmp_path) as url:
        app = create_app(ServiceSettings(db=url, files_dir=str(tmp_path / "files"), api_key=None,
                                         statement_timeout=0.2, job_threads=0))

        @app.get("/test/only/a/slow/query")  # deeper than every FHIR route
        def slow() -> None:  # a stand-in for a search the database cannot answer in time
            with app.state.store.engine.connect() as conn:
                conn.execute(text("SELECT pg_sleep(2)"))

        with TestClient(app, raise_server_exceptions=False) as client:
            start = time.monotonic()
            response = client.get("/test/only/a/slow/query")
            assert response.status_code == 503 and response.json()["issue"][0]["details"]["coding"][0][
                "code"] == "FB-SRV-036"
            assert time.monotonic() - start < 1.5


def test_processes_starting_together_migrate_one_after_the_other(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as url:
        failures: list[str] = []

        def open_store() -> None:
            try:
                Store.open(url).close()
            except Exception as exc:  # any failure is what the test looks for
                failures.append(type(exc).__name__)

        threads = [threading.Thread(target=open_store, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "migrations wait for each other forever"
        assert failures == []


def test_a_registry_migrating_in_one_schema_does_not_hold_one_in_another(tmp_path: Path) -> None:
    """The migration lock is the schema's: while it is held in one schema, a store opens in another, and one in the
    same schema waits (here past a lock timeout of half a second)."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    from fhirbridge.store.database import MIGRATION_LOCK

    with database("postgresql", tmp_path) as held, database("postgresql", tmp_path) as other, \
            psycopg.connect(held) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext(%s || current_schema()))", (MIGRATION_LOCK,))
        Store.open(other).close()
        impatient = f"{held}%20-c%20lock_timeout%3D500"
        with pytest.raises(OperationalError, match="lock timeout"):
            Store.open(impatient).close()


def test_connections_send_without_delay_whatever_the_listening_socket_says() -> None:
    """The listening socket uvicorn binds for ``--workers N`` gives its connections protocol number 0, on which
    asyncio leaves Nagle's algorithm on (every response after a kept-alive connection's first then waited 40 ms
    for the client's delayed acknowledgement); the service's protocol turns it off itself."""
    import asyncio

    import uvicorn
    from uvicorn.server import ServerState

    from fhirbridge.service.protocol import protocol_with

    async def accepted_nodelay() -> tuple[int, int]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:  # protocol 0, as uvicorn binds it
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            with socket.create_connection(listener.getsockname()):
                accepted, _ = listener.accept()
                config = uvicorn.Config(app=lambda *_: None, log_config=None)
                protocol = protocol_with(10.0)(config, ServerState(), {})
                transport, _ = await asyncio.get_running_loop().connect_accepted_socket(lambda: protocol, accepted)
                try:
                    return accepted.proto, accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                finally:
                    transport.close()

    proto, nodelay = asyncio.run(accepted_nodelay())
    assert proto == 0  # asyncio would not have turned Nagle's algorithm off by itself
    assert nodelay == 1
