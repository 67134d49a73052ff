"""Accepting and rejecting data: content-hash names, held-out rows, bad inputs."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from warmserve.trainer.batches import BatchStore, content_hash, holdout_mask
from warmserve.trainer.intake import Intake
from warmserve.trainer.state import JobState, Journal

GOOD = b"tenure,plan,churned\n1,basic,0\n5,pro,1\n7,plus,0\n"


@pytest.fixture
def intake(tmp_path: Path) -> Intake:
    journal = Journal(tmp_path / "trainer" / "journal.json")
    return Intake(journal, BatchStore(tmp_path / "trainer" / "accepted"), target="churned")


def test_accepted_data_is_stored_under_its_content_hash(intake: Intake) -> None:
    job = intake.take(GOOD, "csv", "http")
    assert job.state is JobState.QUEUED and job.rows == 3
    stored = intake.store.folder / f"{content_hash(GOOD)}.csv"
    assert stored.read_bytes() == GOOD
    assert len(content_hash(GOOD)) == 32 and job.batch == content_hash(GOOD)
    assert intake.journal.columns == ["tenure", "plan", "churned"]


@pytest.mark.parametrize(
    ("raw", "kind", "reason"),
    [
        (b"tenure,plan\n1,basic\n", "csv", "target column 'churned' is missing"),
        (b"tenure,plan,churned\n", "csv", "empty"),
        (b"", "csv", "empty"),
        (b'"unterminated\n1,2', "csv", "cannot parse"),
        (b"not json", "json", "cannot parse"),
        (b'{"a": 1}', "json", "array of objects"),
        (b"PAR1garbage", "parquet", "cannot parse"),
        (b"tenure,plan,churned\n1,basic,\n", "csv", "no row has a value in the target"),
        (GOOD, None, "unsupported data type"),
    ],
)
def test_bad_data_is_rejected_with_a_reason(
    intake: Intake, raw: bytes, kind: str | None, reason: str
) -> None:
    job = intake.take(raw, kind, "http")
    assert job.state is JobState.REJECTED
    assert job.reason is not None and reason in job.reason
    assert intake.journal.pending() == []


def test_columns_must_match_the_data_accepted_so_far(intake: Intake) -> None:
    intake.take(GOOD, "csv", "http")
    other = intake.take(b"tenure,region,churned\n1,eu,0\n", "csv", "http")
    assert other.state is JobState.REJECTED
    assert "missing ['plan'], unexpected ['region']" in (other.reason or "")
    reordered = intake.take(b"churned,plan,tenure\n1,pro,9\n", "csv", "http")
    assert reordered.state is JobState.QUEUED  # the same columns in another order are fine


def test_the_same_data_twice_is_a_duplicate(intake: Intake) -> None:
    first = intake.take(GOOD, "csv", "http")
    again = intake.take(GOOD, "csv", "http")
    assert again.state is JobState.REJECTED and first.id in (again.reason or "")


def test_json_records_are_accepted(intake: Intake) -> None:
    job = intake.take(b'[{"tenure": 1, "plan": "pro", "churned": 1}]', "json", "http")
    assert job.state is JobState.QUEUED and job.rows == 1


def test_a_rejected_inbox_file_moves_to_rejected_with_a_reason(
    intake: Intake, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    bad = inbox / "bad.csv"
    bad.write_bytes(b"tenure,plan\n1,basic\n")
    job = intake.take_file(bad, inbox / "rejected")
    assert not bad.exists()
    assert (inbox / "rejected" / "bad.csv").read_bytes() == b"tenure,plan\n1,basic\n"
    note = (inbox / "rejected" / "bad.csv.reason.txt").read_text()
    assert "target column 'churned' is missing" in note and job.id in note


def test_an_inbox_file_left_behind_by_a_crash_is_not_taken_twice(
    intake: Intake, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "good.csv"
    path.write_bytes(GOOD)
    first = intake.take(GOOD, "csv", "inbox/good.csv")  # accepted, then killed before unlink
    again = intake.take_file(path, inbox / "rejected")
    assert again.id == first.id and not path.exists()
    assert len(intake.journal.list_jobs()) == 1


def test_held_out_rows_are_a_pure_function_of_the_batch() -> None:
    frame = pd.read_csv(io.BytesIO(b"a,y\n" + b"".join(b"%d,%d\n" % (i, i % 2) for i in range(50))))
    mask = holdout_mask(frame, 0.2)
    assert mask.sum() == 10
    assert (holdout_mask(frame.copy(), 0.2) == mask).all()
    assert holdout_mask(frame.head(1), 0.2).sum() == 0
    assert holdout_mask(frame.head(2), 0.2).sum() == 1
