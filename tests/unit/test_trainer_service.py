"""The trainer's loops in-process, with a fake training function: bursts coalesce,
registry outages are retried, other failures are final and the service goes on."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from support import wait_until
from warmserve import errors
from warmserve.trainer.batches import BatchStore
from warmserve.trainer.inbox import Inbox
from warmserve.trainer.intake import Intake
from warmserve.trainer.run import Outcome, RetryLater
from warmserve.trainer.service import TrainerService
from warmserve.trainer.state import Batch, JobState, Journal


def batch(i: int) -> bytes:
    return b"x,y\n" + b"".join(b"%d,%d\n" % (i * 100 + r, r % 2) for r in range(12))


class FakeTraining:
    """Records what each run got; the first run can be held until ``release``."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail_with: list[Exception] = []

    def __call__(self, pending: list[Batch]) -> Outcome:
        self.calls.append([b.hash for b in pending])
        self.started.set()
        assert self.release.wait(30)
        if self.fail_with:
            raise self.fail_with.pop(0)
        version = str(len(self.calls))
        return Outcome([b.hash for b in pending], [], version, f"run{version}", 12, 0)


@pytest.fixture
def parts(tmp_path: Path) -> tuple[TrainerService, FakeTraining]:
    journal = Journal(tmp_path / "journal.json")
    intake = Intake(journal, BatchStore(tmp_path / "accepted"), target="y")
    fake = FakeTraining()
    inbox = Inbox(tmp_path / "inbox", settle=0.0, empty_timeout=60.0)
    service = TrainerService(journal, intake, inbox, fake, scan_interval=0.05, retry_interval=0.2)
    return service, fake


def test_a_burst_during_training_causes_one_more_run(
    parts: tuple[TrainerService, FakeTraining],
) -> None:
    service, fake = parts
    fake.release.clear()
    service.start()
    try:
        first = service.submit(batch(0), "csv", "http")
        assert fake.started.wait(10)
        burst = [service.submit(batch(i), "csv", "http") for i in range(1, 11)]
        assert all(job.state is JobState.QUEUED for job in burst)
        fake.release.set()
        wait_until(lambda: not service.journal.pending(), 10, what="the burst to be trained")
    finally:
        service.stop()
    assert len(fake.calls) == 2 and len(fake.calls[1]) == 10
    assert service.journal.job(first.id).version == "1"
    assert {service.journal.job(job.id).version for job in burst} == {"2"}


def test_registry_outages_are_retried_and_bad_runs_fail_alone(
    parts: tuple[TrainerService, FakeTraining],
) -> None:
    service, fake = parts
    fake.fail_with = [RetryLater("registry down"), errors.BadRequest("only one class")]
    job = service.submit(batch(0), "csv", "http")
    assert service.train_once()
    assert service.journal.job(job.id).state is JobState.QUEUED
    assert "registry down" in (service.journal.job(job.id).reason or "")
    assert service.train_once()
    failed = service.journal.job(job.id)
    assert failed.state is JobState.FAILED and failed.reason == "only one class"
    assert not service.train_once()  # nothing pending: a failed batch is not retried alone
    later = service.submit(batch(1), "csv", "http")
    assert service.train_once()
    assert service.journal.job(later.id).state is JobState.REGISTERED


def test_inbox_files_are_taken_by_the_loop(
    parts: tuple[TrainerService, FakeTraining], tmp_path: Path
) -> None:
    service, fake = parts
    service.start()
    try:
        (tmp_path / "inbox").mkdir(exist_ok=True)
        (tmp_path / "inbox" / "a.csv").write_bytes(batch(0))
        (tmp_path / "inbox" / "bad.csv").write_bytes(b"x\n1\n")
        wait_until(lambda: len(service.journal.list_jobs()) == 2, 10, what="both files")
        wait_until(lambda: fake.calls, 10, what="a training run")
    finally:
        service.stop()
    states = sorted(job.state for job in service.journal.list_jobs())
    assert states[1] is JobState.REJECTED
    assert (tmp_path / "inbox" / "rejected" / "bad.csv.reason.txt").exists()
    assert not (tmp_path / "inbox" / "a.csv").exists()
