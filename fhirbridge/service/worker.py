"""The job worker of one service process: a background thread that claims bulk jobs from the database, runs them
and records their result. Any number of processes may run workers on the same database (see ``store.jobs``); a
job whose process died is taken up by another once its lease runs out, from the start.

Between jobs the worker removes jobs (and their files) older than the configured number of hours.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

from fhirbridge.issues.issue import Issue
from fhirbridge.service.bulk_import import import_ndjson
from fhirbridge.service.bulk_jobs import (
    Cancelled,
    ExportRequest,
    GroupMissing,
    Renew,
    export_manifest,
    remove_files,
    write_export,
    write_sdtm,
)
from fhirbridge.service.groups import sync_study_groups
from fhirbridge.service.responses import outcome_of
from fhirbridge.service.settings import ServiceSettings
from fhirbridge.store.jobs import DONE, FAILED, SUBMITTED, Job, Jobs, now
from fhirbridge.store.repository import Store

#: Seconds a claimed job stays this worker's without a renewal.
LEASE_SECONDS = 60.0
#: Seconds between looks for new jobs when there is nothing to do: the first wait, doubled after each look that
#: found nothing, up to ``IDLE_POLL_SECONDS``. A job submitted in this process wakes its workers at once; one
#: submitted in another process (``--workers N``) is taken there at once, and a job whose lease ran out is taken
#: within ``IDLE_POLL_SECONDS``. Looking every half second cost each idle process a transaction and a query twice a
#: second, which under ingest load with 4 processes was a tenth of the service's CPU.
POLL_SECONDS = 0.5
IDLE_POLL_SECONDS = 5.0
log = logging.getLogger("fhirbridge.worker")


def job_folder(settings: ServiceSettings, job_id: str) -> Path:
    return Path(settings.files_dir) / job_id


def upload_folder(settings: ServiceSettings) -> Path:
    """Where ``$import`` spools request bodies until a worker has read them."""
    return Path(settings.files_dir) / "uploads"


class Worker(threading.Thread):
    def __init__(self, store: Store, settings: ServiceSettings) -> None:
        super().__init__(name="fhirbridge-worker", daemon=True)
        self.store = store
        self.settings = settings
        self.jobs = Jobs(store.engine)
        self.name_in_db = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()
        SUBMITTED.set()  # wakes a worker waiting for jobs
        self.join(timeout=30)

    def run(self) -> None:
        wait = POLL_SECONDS
        while not self.stopping.is_set():
            try:
                SUBMITTED.clear()
                job = self.jobs.claim(self.name_in_db, LEASE_SECONDS)
                if job is None:
                    self._housekeeping()
                    SUBMITTED.wait(wait)
                    wait = min(wait * 2, IDLE_POLL_SECONDS)
                    continue
                wait = POLL_SECONDS
                self._run(job)
            except Exception as exc:  # never let the thread die; the error's message may quote data: type only
                log.error("job worker: %s", type(exc).__name__)
                self.stopping.wait(POLL_SECONDS * 4)

    def _renewer(self, job: Job) -> Renew:
        def renew(progress: str) -> None:
            if self.stopping.is_set() or not self.jobs.renew(job.id, self.name_in_db, LEASE_SECONDS, progress):
                raise Cancelled(job.id)

        return renew

    def _run(self, job: Job) -> None:
        folder = job_folder(self.settings, job.id)
        remove_files(folder)  # a job taken up again starts afresh
        folder.mkdir(parents=True, exist_ok=True)
        try:
            result = self._work(job, folder, self._renewer(job))
        except Cancelled:
            if self.stopping.is_set():  # the service stops: the job goes back to the queue, its upload kept
                self.jobs.release(job.id, self.name_in_db)
            else:  # deleted by its client
                self._forget(job, folder)
            return
        except GroupMissing as exc:
            self._fail(job, folder, Issue.of("FB-SRV-010", f"Group/{exc.args[0]} is not stored"))
            return
        except Exception as exc:
            log.error("job %s (%s) failed: %s", job.id, job.kind, type(exc).__name__)
            self._fail(job, folder, Issue.of("FB-SRV-034", f"the {job.kind} job failed ({type(exc).__name__}); "
                                             "see the service log"))
            return
        if job.kind == "import":
            self._upload(job).unlink(missing_ok=True)
        if not self.jobs.finish(job.id, self.name_in_db, DONE, result):
            self._forget(job, folder)  # cancelled at the last moment

    def _upload(self, job: Job) -> Path:
        return upload_folder(self.settings) / job.params.get("upload", "none")

    def _forget(self, job: Job, folder: Path) -> None:
        remove_files(folder)
        if job.kind == "import":
            self._upload(job).unlink(missing_ok=True)

    def _fail(self, job: Job, folder: Path, issue: Issue) -> None:
        self._forget(job, folder)
        self.jobs.finish(job.id, self.name_in_db, FAILED, {"error": outcome_of([issue])})

    def _work(self, job: Job, folder: Path, renew: Renew) -> dict[str, Any]:
        params = job.params
        if job.kind == "export":
            request = ExportRequest.from_params(params)
            if request.level == "group":
                sync_study_groups(self.store)
            counts = write_export(self.store, request, folder, renew)
            return export_manifest(job.request, job.transaction_time or now(), params["base"], job.id, counts,
                                   self.settings.authenticating)
        if job.kind == "export-sdtm":
            archive, _exit_code = write_sdtm(self.store, params["format"], self.settings.sdtm_mapping, folder, renew)
            return {"transactionTime": job.transaction_time, "request": job.request,
                    "requiresAccessToken": self.settings.authenticating,
                    "output": [{"type": "sdtm", "url": f"{params['base']}/$bulk-files/{job.id}/{archive.name}"}],
                    "error": []}
        if job.kind == "import":
            return {"transactionTime": job.transaction_time, "request": job.request,
                    **import_ndjson(self.store, self._upload(job), renew, self.settings.import_chunk)}
        raise ValueError(f"unknown job kind {job.kind}")

    def _housekeeping(self) -> None:
        cutoff = now(-self.settings.job_hours * 3600)
        for job_id in self.jobs.expired(cutoff):
            if self.jobs.cancel(job_id):
                remove_files(job_folder(self.settings, job_id))
