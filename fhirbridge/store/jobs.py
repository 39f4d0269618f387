"""Background jobs kept in the database: submitted by a request, claimed by whichever service process's worker
gets there first, and taken up again after a restart.

A worker owns a job while its lease (``lease_until``) is in the future and renews it as it goes; a job whose
lease ran out (its process died) is claimable again. Claiming is one transaction: ``SELECT … FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so that several processes never claim the same job and never wait for each other;
SQLite's single write lock (taken at BEGIN) serialises claims there.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, and_, delete, insert, or_, select, update

from fhirbridge.store.database import WRITE, reading
from fhirbridge.store.schema import audit, job

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
#: Set when this process submits a job: its workers look at once instead of at their next poll.
SUBMITTED = threading.Event()


def now(offset_seconds: float = 0) -> str:
    """An instant as the store writes it (ISO 8601, UTC, milliseconds): such strings sort as the instants do."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Job:
    id: str
    kind: str
    state: str
    request: str
    params: dict[str, Any]
    owner: str | None
    created: str
    transaction_time: str | None
    progress: str | None
    result: dict[str, Any] | None


def _job(row: Any) -> Job:
    return Job(row.id, row.kind, row.state, row.request, orjson.loads(row.params), row.owner, row.created,
               row.transaction_time, row.progress, orjson.loads(row.result) if row.result else None)


class Jobs:
    """The job table of one store database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def submit(self, kind: str, request: str, params: dict[str, Any], owner: str | None) -> Job:
        row = {"id": str(uuid.uuid4()), "kind": kind, "state": QUEUED, "request": request,
               "params": orjson.dumps(params).decode(), "owner": owner, "created": now()}
        with self.engine.begin() as conn:
            conn.execute(insert(job).values(**row))
        SUBMITTED.set()
        return _job(type("Row", (), {**row, "transaction_time": None, "progress": None, "result": None}))

    def get(self, job_id: str) -> Job | None:
        with reading(self.engine) as conn:
            row = conn.execute(select(job).where(job.c.id == job_id)).first()
        return _job(row) if row else None

    def claim(self, worker: str, lease_seconds: float) -> Job | None:
        """The oldest job waiting (or abandoned by a worker whose lease ran out), now owned by ``worker``."""
        stamp = now()
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                row = conn.execute(
                    select(job).where(or_(job.c.state == QUEUED,
                                          and_(job.c.state == RUNNING, job.c.lease_until < stamp)))
                    .order_by(job.c.created).limit(1).with_for_update(skip_locked=True)
                ).first()
                if row is None:
                    return None
                conn.execute(update(job).where(job.c.id == row.id).values(
                    state=RUNNING, worker=worker, lease_until=now(lease_seconds),
                    transaction_time=row.transaction_time or stamp))
        claimed = _job(row)
        claimed.state, claimed.transaction_time = RUNNING, row.transaction_time or stamp
        return claimed

    def renew(self, job_id: str, worker: str, lease_seconds: float, progress: str) -> bool:
        """Extend the lease and note the progress; False when the job is no longer this worker's (cancelled)."""
        with self.engine.begin() as conn:
            changed = conn.execute(update(job).where(job.c.id == job_id, job.c.worker == worker,
                                                     job.c.state == RUNNING)
                                   .values(lease_until=now(lease_seconds), progress=progress[:200])).rowcount
        return changed == 1

    def release(self, job_id: str, worker: str) -> None:
        """Give a running job back (its worker is stopping): the next worker to look takes it at once."""
        with self.engine.begin() as conn:
            conn.execute(update(job).where(job.c.id == job_id, job.c.worker == worker, job.c.state == RUNNING)
                         .values(state=QUEUED, worker=None, lease_until=None))

    def finish(self, job_id: str, worker: str, state: str, result: dict[str, Any]) -> bool:
        with self.engine.begin() as conn:
            changed = conn.execute(update(job).where(job.c.id == job_id, job.c.worker == worker,
                                                     job.c.state == RUNNING)
                                   .values(state=state, lease_until=None, result=orjson.dumps(result).decode()))
        return changed.rowcount == 1

    def cancel(self, job_id: str) -> bool:
        """Forget a job (a running one stops at its next lease renewal); False when there is no such job."""
        with self.engine.begin() as conn:
            return conn.execute(delete(job).where(job.c.id == job_id)).rowcount == 1

    def expired(self, before: str) -> list[str]:
        """Ids of finished jobs created before ``before`` (their files may be removed)."""
        with reading(self.engine) as conn:
            return list(conn.execute(select(job.c.id).where(job.c.state.in_([DONE, FAILED]),
                                                            job.c.created < before)).scalars())


def record_audit(engine: Engine, agent: str, action: str, what: str, outcome: int, request_id: str,
                 detail: str | None = None) -> None:
    """One row of the audit log (who, what, when); ``what`` names the operation, never a patient."""
    with engine.begin() as conn:
        conn.execute(insert(audit).values(recorded=now(), agent=agent[:200], action=action, what=what[:200],
                                          outcome=outcome, request_id=request_id, detail=detail))


def audit_rows(engine: Engine, limit: int = 1000) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        rows = conn.execute(select(audit).order_by(audit.c.id.desc()).limit(limit)).mappings().all()
    return [dict(r) for r in rows]
