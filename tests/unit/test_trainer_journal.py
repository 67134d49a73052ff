"""The trainer's journal: the job state machine, and what survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmserve import errors
from warmserve.trainer.state import TRANSITIONS, JobState, Journal


def test_state_machine_allows_only_its_moves(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.json")
    job = journal.accept("http", "h1", "csv", 10, ["a", "y"])
    assert job.state is JobState.QUEUED
    with pytest.raises(ValueError, match="queued -> registered is not allowed"):
        journal.move([job.id], JobState.REGISTERED)
    journal.move([job.id], JobState.TRAINING)
    journal.move([job.id], JobState.REGISTERED, version="3")
    with pytest.raises(ValueError, match="registered -> training"):
        journal.move([job.id], JobState.TRAINING)
    assert journal.job(job.id).version == "3"
    final = {s for s, nexts in TRANSITIONS.items() if not nexts}
    assert final == {JobState.REGISTERED, JobState.REJECTED, JobState.SUPERSEDED, JobState.FAILED}


def test_a_restart_finds_pending_batches_and_requeues_interrupted_training(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    journal = Journal(path)
    first = journal.accept("inbox/a.csv", "h1", "csv", 10, ["a", "y"])
    second = journal.accept("inbox/b.csv", "h2", "csv", 12, ["a", "y"])
    journal.move([first.id], JobState.TRAINING)
    journal.move([first.id], JobState.REGISTERED, version="1")
    journal.settle(["h1"], "1")
    journal.move([second.id], JobState.TRAINING)  # ... and the process is killed here
    journal.set_task("classification")

    again = Journal(path)
    assert [b.hash for b in again.pending()] == ["h2"]
    assert again.job(second.id).state is JobState.QUEUED
    assert again.job(first.id).state is JobState.REGISTERED
    assert (again.columns, again.task) == (["a", "y"], "classification")
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporary file


def test_jobs_are_listed_newest_first_and_unknown_ids_are_404(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.json")
    old = journal.new_job("inbox/x.csv", JobState.REJECTED, reason="empty")
    new = journal.accept("http", "h1", "csv", 10, ["a", "y"])
    assert [j.id for j in journal.list_jobs()] == [new.id, old.id]
    with pytest.raises(errors.NotFound):
        journal.job("nope")
