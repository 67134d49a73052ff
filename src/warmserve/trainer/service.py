"""The trainer's two loops: watch the inbox, and train whatever is pending.

Bursts coalesce: a training run takes every pending batch at once, so ten files
arriving while a run is busy cause one more run, not ten. A run the registry
failed (``RetryLater``) leaves its batches pending and is retried after
``retry_interval``; any other failure is final for those jobs (the reason is on
the job) and the service keeps running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from warmserve import errors
from warmserve.trainer.inbox import Inbox
from warmserve.trainer.intake import Intake
from warmserve.trainer.run import Outcome, RetryLater
from warmserve.trainer.state import Batch, Job, JobState, Journal

log = logging.getLogger("warmserve.trainer")

TrainFn = Callable[[list[Batch]], Outcome]


class TrainerService:
    def __init__(
        self,
        journal: Journal,
        intake: Intake,
        inbox: Inbox,
        train: TrainFn,
        *,
        scan_interval: float,
        retry_interval: float,
    ) -> None:
        self.journal = journal
        self.intake = intake
        self.inbox = inbox
        self.train = train
        self.scan_interval = scan_interval
        self.retry_interval = retry_interval
        self.stopping = threading.Event()
        self.wakeup = threading.Event()
        self.runs = 0
        self.retry_at = 0.0
        self.threads = [
            threading.Thread(target=self._inbox_loop, name="trainer-inbox", daemon=True),
            threading.Thread(target=self._training_loop, name="trainer-train", daemon=True),
        ]

    @property
    def rejected_dir(self) -> Path:
        return self.inbox.folder / "rejected"

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop both loops; a training in progress is abandoned (its batches stay pending)."""
        self.stopping.set()
        self.wakeup.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self.threads) and not self.stopping.is_set()

    def submit(self, raw: bytes, kind: str | None, source: str) -> Job:
        job = self.intake.take(raw, kind, source)
        self.wakeup.set()
        return job

    def scan_once(self) -> int:
        """Take every complete inbox file; returns how many were taken."""
        taken = 0
        for path in self.inbox.scan():
            self.intake.take_file(path, self.rejected_dir)
            self.inbox.forget(path)
            taken += 1
        if taken:
            self.wakeup.set()
        return taken

    def train_once(self) -> bool:
        """One run over everything pending; False when there was nothing to do."""
        pending = self.journal.pending()
        if not pending:
            return False
        ids = [b.job for b in pending]
        self.journal.move(ids, JobState.TRAINING)
        self.runs += 1
        try:
            outcome = self.train(pending)
        except RetryLater as exc:
            self.retry_at = time.monotonic() + self.retry_interval
            log.warning("registry unavailable, retrying in %.0fs: %s", self.retry_interval, exc)
            self.journal.move(ids, JobState.QUEUED, reason=f"retrying: {exc}")
            return True
        except errors.WarmserveError as exc:  # the data cannot make a model: say why
            log.warning("training failed for jobs %s: %s", ", ".join(ids), exc.message)
            return self._fail(pending, exc.message)
        except Exception as exc:
            log.exception("training failed for jobs %s", ", ".join(ids))
            return self._fail(pending, repr(exc))
        self._finish(pending, outcome)
        return True

    def _fail(self, pending: list[Batch], reason: str) -> bool:
        """Final for these jobs; their batches stay accepted data but never train alone."""
        ids = [b.job for b in pending]
        self.journal.move(ids, JobState.FAILED, reason=reason)
        self.journal.settle([b.hash for b in pending], None)
        return True

    def _finish(self, pending: list[Batch], outcome: Outcome) -> None:
        by_hash = {b.hash: b.job for b in pending}
        trained = [by_hash[h] for h in outcome.trained]
        superseded = [by_hash[h] for h in outcome.superseded]
        with self.journal.lock:
            self.journal.move(
                trained,
                JobState.REGISTERED,
                reason=None,
                version=outcome.version,
                run_id=outcome.run_id,
                trained_rows=outcome.trained_rows,
                eval_rows=outcome.eval_rows,
                metrics=outcome.metrics,
                decision=outcome.decision,
            )
            if superseded:
                note = (
                    f"replace mode: a newer batch was trained instead (version {outcome.version})"
                )
                self.journal.move(superseded, JobState.SUPERSEDED, reason=note)
            self.journal.settle(outcome.trained, outcome.version)
            self.journal.settle(outcome.superseded, None)

    def _inbox_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.scan_once()
            except Exception:  # a full disk, a permission error...: say so, keep watching
                log.exception("inbox scan failed")
            self.stopping.wait(self.scan_interval)

    def _training_loop(self) -> None:
        while not self.stopping.is_set():
            wait = self.retry_at - time.monotonic()
            if wait > 0:
                self.stopping.wait(min(wait, 1.0))
                continue
            self.wakeup.clear()
            if not self.train_once():
                self.wakeup.wait(1.0)
