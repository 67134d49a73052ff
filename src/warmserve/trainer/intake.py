"""Accept or reject one batch of data: parse, check, store by content hash, queue.

Bad data never raises out of here: it becomes a ``rejected`` job with a reason
(and, for an inbox file, the file moves to ``rejected/`` with a reason file next
to it). Accepted data is stored before its job is journaled, and the inbox file
is removed only after that, so a crash at any step loses nothing.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pandas as pd

from warmserve import errors
from warmserve.trainer.batches import BatchStore, content_hash, kind_of_name
from warmserve.trainer.inbox import REASON_SUFFIX
from warmserve.trainer.state import Job, JobState, Journal
from warmserve.training.datasets import read_table

log = logging.getLogger("warmserve.trainer")


def check_batch(frame: pd.DataFrame, target: str, columns: list[str] | None) -> None:
    """Raise BadRequest unless ``frame`` has rows, the target, and the accepted columns."""
    if len(frame.columns) == 0 or len(frame) == 0:
        raise errors.BadRequest("the data is empty (no rows)")
    if target not in frame.columns:
        found = ", ".join(map(str, frame.columns))
        raise errors.BadRequest(f"the target column {target!r} is missing; columns: {found}")
    if frame[target].isna().all():
        raise errors.BadRequest(f"no row has a value in the target column {target!r}")
    if len(frame.columns) != len(set(frame.columns)):
        raise errors.BadRequest("the data has duplicate column names")
    if columns is not None and set(frame.columns) != set(columns):
        missing = sorted(set(columns) - set(frame.columns))
        extra = sorted(set(frame.columns) - set(columns))
        raise errors.BadRequest(
            "the columns do not match the data accepted so far: "
            f"missing {missing or 'none'}, unexpected {extra or 'none'}"
        )


class Intake:
    def __init__(self, journal: Journal, store: BatchStore, target: str) -> None:
        self.journal = journal
        self.store = store
        self.target = target

    def take(self, raw: bytes, kind: str | None, source: str) -> Job:
        """Validate one batch and queue it, or record why it was rejected."""
        log.info("received %s (%d bytes)", source, len(raw))
        if kind is None:
            return self._reject(source, "unsupported data type: use .csv, .parquet or .json")
        digest = content_hash(raw)
        try:
            frame = read_table(raw, kind, source)
            check_batch(frame, self.target, self.journal.columns)
        except errors.WarmserveError as exc:
            return self._reject(source, exc.message)
        with self.journal.lock:  # the duplicate and column checks see every earlier batch
            known = self.journal.batch(digest)
            if known is not None:
                return self._reject(
                    source, f"duplicate: the same data was accepted as job {known.job}"
                )
            try:
                check_batch(frame, self.target, self.journal.columns)
            except errors.WarmserveError as exc:
                return self._reject(source, exc.message)
            self.store.save(raw, digest, kind)
            job = self.journal.accept(
                source, digest, kind, len(frame), [str(c) for c in frame.columns]
            )
        log.info(
            "validated %s: %d rows, batch %s, job %s queued", source, len(frame), digest, job.id
        )
        return job

    def take_file(self, path: Path, rejected_dir: Path) -> Job:
        """Take an inbox file; it leaves the inbox (deleted once stored, or to rejected/)."""
        source = f"inbox/{path.name}"
        try:
            raw = path.read_bytes()
        except OSError as exc:
            job = self._reject(source, f"cannot read the file: {exc}")
            _move_rejected(path, rejected_dir, job)
            return job
        remnant = self.journal.batch(content_hash(raw))
        if remnant is not None and self.journal.job(remnant.job).source == source:
            path.unlink(missing_ok=True)  # accepted before a crash, not yet removed
            return self.journal.job(remnant.job)
        job = self.take(raw, kind_of_name(path.name), source)
        if job.state is JobState.REJECTED:
            _move_rejected(path, rejected_dir, job)
        else:
            path.unlink(missing_ok=True)
        return job

    def _reject(self, source: str, reason: str) -> Job:
        job = self.journal.new_job(source, JobState.REJECTED, reason=reason)
        log.warning("rejected %s (job %s): %s", source, job.id, reason)
        return job


def _move_rejected(path: Path, rejected_dir: Path, job: Job) -> None:
    rejected_dir.mkdir(parents=True, exist_ok=True)
    target = rejected_dir / path.name
    if target.exists():
        target = (
            rejected_dir / f"{path.stem}-{time.strftime('%Y%m%dT%H%M%S')}-{job.id}{path.suffix}"
        )
    shutil.move(str(path), target)
    note = f"{job.reason}\njob: {job.id}\nsource: {job.source}\n"
    target.with_name(target.name + REASON_SUFFIX).write_text(note)
