"""The trainer's journal: accepted batches, jobs and their states, kept on disk.

One JSON file rewritten atomically (write, fsync, rename) after every change, so
a kill -9 at any point leaves either the old or the new journal. A batch stays
``pending`` until the version trained on it is registered; a restart finds it
pending and trains it (once: see ``TrainingRun`` for the registered-but-not-yet-
journaled window). Every method takes the lock: the HTTP handlers, the inbox
thread and the training thread share one journal.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from warmserve import errors

MAX_FINISHED_JOBS = 1000


class JobState(enum.StrEnum):
    QUEUED = "queued"
    TRAINING = "training"
    REGISTERED = "registered"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # replace mode: a newer batch arrived before it was trained
    FAILED = "failed"


# Allowed moves of the state machine; everything else is a bug and raises.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.TRAINING, JobState.SUPERSEDED}),
    JobState.TRAINING: frozenset(
        {JobState.REGISTERED, JobState.FAILED, JobState.QUEUED, JobState.SUPERSEDED}
    ),
    JobState.REGISTERED: frozenset(),
    JobState.REJECTED: frozenset(),
    JobState.SUPERSEDED: frozenset(),
    JobState.FAILED: frozenset(),
}
FINAL = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)


@dataclass
class Job:
    id: str
    state: JobState
    source: str
    created: float
    updated: float
    batch: str | None = None  # content hash of the accepted batch
    rows: int | None = None
    reason: str | None = None
    version: str | None = None
    run_id: str | None = None
    trained_rows: int | None = None
    eval_rows: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # {"challenger": {...}, ...}
    decision: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Batch:
    """One accepted file or POST body, stored as ``accepted/<hash>.<kind>``."""

    hash: str
    kind: str
    rows: int
    job: str
    received: float
    pending: bool = True
    version: str | None = None

    @property
    def filename(self) -> str:
        return f"{self.hash}.{self.kind}"


class Journal:
    """Batches, jobs, the accepted columns and the task, persisted in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.batches: list[Batch] = []
        self.jobs: dict[str, Job] = {}
        self.columns: list[str] | None = None  # fixed by the first accepted batch
        self.task: str | None = None  # fixed by the first training
        self._load()

    # --- reading -------------------------------------------------------------------
    def job(self, job_id: str) -> Job:
        with self.lock:
            found = self.jobs.get(job_id)
            if found is None:
                raise errors.NotFound(f"no job {job_id!r}")
            return dataclasses.replace(found)

    def list_jobs(self) -> list[Job]:
        """Newest first."""
        with self.lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)
            return [dataclasses.replace(j) for j in jobs]

    def batch(self, digest: str) -> Batch | None:
        with self.lock:
            return next((b for b in self.batches if b.hash == digest), None)

    def pending(self) -> list[Batch]:
        with self.lock:
            return [dataclasses.replace(b) for b in self.batches if b.pending]

    def accepted(self) -> list[Batch]:
        with self.lock:
            return [dataclasses.replace(b) for b in self.batches]

    # --- changes (each one saved before it returns) -----------------------------
    def new_job(self, source: str, state: JobState, **fields: Any) -> Job:
        assert state in (JobState.QUEUED, JobState.REJECTED), state
        with self.lock:
            now = time.time()
            job = Job(uuid.uuid4().hex[:12], state, source, now, now, **fields)
            self.jobs[job.id] = job
            self._trim()
            self._save()
            return dataclasses.replace(job)

    def accept(self, source: str, digest: str, kind: str, rows: int, columns: list[str]) -> Job:
        """Record an accepted batch and its queued job (the file is already stored)."""
        with self.lock:
            if self.columns is None:
                self.columns = list(columns)
            now = time.time()
            job = Job(uuid.uuid4().hex[:12], JobState.QUEUED, source, now, now, digest, rows)
            self.jobs[job.id] = job
            self.batches.append(Batch(digest, kind, rows, job.id, now))
            self._save()
            return dataclasses.replace(job)

    def move(self, job_ids: list[str], state: JobState, **fields: Any) -> None:
        """Move jobs to ``state`` (checked against TRANSITIONS) and set ``fields``."""
        with self.lock:
            for job_id in job_ids:
                job = self.jobs[job_id]
                if state not in TRANSITIONS[job.state]:
                    raise ValueError(f"job {job_id}: {job.state} -> {state} is not allowed")
                job.state = state
                job.updated = time.time()
                for key, value in fields.items():
                    setattr(job, key, value)
            self._save()

    def settle(self, digests: list[str], version: str | None) -> None:
        """Mark batches trained (or superseded, version None): they never train alone again."""
        with self.lock:
            for batch in self.batches:
                if batch.hash in digests:
                    batch.pending = False
                    batch.version = version
            self._save()

    def set_task(self, task: str) -> None:
        with self.lock:
            self.task = task
            self._save()

    def set_columns(self, columns: list[str]) -> None:
        with self.lock:
            self.columns = list(columns)
            self._save()

    # --- persistence -------------------------------------------------------------
    def _trim(self) -> None:
        finished = [j for j in self.jobs.values() if j.state in FINAL]
        if len(finished) <= MAX_FINISHED_JOBS:
            return
        keep_batches = {b.job for b in self.batches}
        finished.sort(key=lambda j: j.created)
        for job in finished[: len(finished) - MAX_FINISHED_JOBS]:
            if job.id not in keep_batches:
                del self.jobs[job.id]

    def _save(self) -> None:
        document = {
            "columns": self.columns,
            "task": self.task,
            "batches": [dataclasses.asdict(b) for b in self.batches],
            "jobs": [j.to_dict() for j in self.jobs.values()],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, orjson.dumps(document, option=orjson.OPT_INDENT_2))

    def _load(self) -> None:
        if not self.path.exists():
            return
        document = orjson.loads(self.path.read_bytes())
        self.columns = document.get("columns")
        self.task = document.get("task")
        self.batches = [Batch(**b) for b in document.get("batches", [])]
        for raw in document.get("jobs", []):
            job = Job(**{**raw, "state": JobState(raw["state"])})
            if job.state is JobState.TRAINING:  # the process died mid-training: run again
                job.state = JobState.QUEUED
            self.jobs[job.id] = job


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers (and a crash) see old or new, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
