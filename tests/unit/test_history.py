"""Events derived from consecutive states of a model host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warmserve.events import EventLog
from warmserve.protocol import LoadFailure, ModelState, ServedModel, WatcherStatus
from warmserve.runtime.history import HistoryRecorder, changes

SOURCE = "models:/m@production"


def state(version: str | None = None, healthy: bool = True, **status: Any) -> ModelState:
    served = None
    if version is not None:
        served = ServedModel(version, name="m", alias="production", load_seconds=0.4)
    return ModelState("default", served, WatcherStatus(source=SOURCE, healthy=healthy, **status))


def kinds(found: list[tuple[str, dict[str, object]]]) -> list[str]:
    return [kind for kind, _ in found]


def test_first_version_and_each_swap() -> None:
    first = changes(None, state("1"))
    assert first == [
        ("swap", {"model": "default", "version": "1", "previous": None, "name": "m",
                  "alias": "production", "run_id": None, "load_seconds": 0.4}),
    ]  # fmt: skip
    (swap,) = changes(state("1"), state("2"))
    assert swap[0] == "swap" and swap[1]["previous"] == "1" and swap[1]["version"] == "2"
    assert changes(state("2"), state("2")) == []  # a check that found nothing new


def test_a_replacement_process_resumes_rather_than_swaps() -> None:
    assert kinds(changes(None, state("3"), resumed="3")) == ["resumed"]
    assert kinds(changes(state(None), state("3"), resumed="3")) == ["resumed"]
    assert kinds(changes(None, state("4"), resumed="3")) == ["swap"]


def test_each_failed_attempt_is_an_event_and_a_backoff_check_is_not() -> None:
    one = LoadFailure("2", "boom", 100.0, 1)
    two = LoadFailure("2", "boom", 110.0, 2)
    (kept,) = changes(state("1"), state("1", last_failure=one))
    assert kept == (
        "kept_out",
        {"model": "default", "version": "2", "error": "boom", "attempts": 1, "serving": "1"},
    )
    assert kinds(changes(state("1", last_failure=one), state("1", last_failure=two))) == [
        "kept_out"
    ]
    assert changes(state("1", last_failure=two), state("1", last_failure=two)) == []
    (nothing,) = changes(None, state(None, last_failure=one))
    assert nothing[1]["serving"] is None


def test_outages_and_a_missing_source_start_and_end() -> None:
    down = state("1", registry_error="connection refused")
    assert changes(state("1"), down) == [
        ("registry_down", {"model": "default", "error": "connection refused"})
    ]
    assert changes(down, state("1", registry_error="timed out")) == []  # still down
    assert kinds(changes(down, state("1"))) == ["registry_up"]
    gone = state("1", source_missing="alias 'production' does not exist")
    assert kinds(changes(state("1"), gone)) == ["source_missing"]
    assert kinds(changes(gone, state("1"))) == ["source_back"]
    assert kinds(changes(None, state(None, registry_error="refused"))) == ["registry_down"]


def test_a_dead_loop_is_recorded_once() -> None:
    assert kinds(changes(state("1"), state("1", healthy=False))) == ["unhealthy"]
    assert changes(state("1", healthy=False), state("1", healthy=False)) == []


def test_the_recorder_writes_to_the_log_and_resumes_only_once(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    recorder = HistoryRecorder(log, {"default": "1"})
    recorder.observe(state(None, registry_error="refused"))
    recorder.observe(state("1"))
    recorder.observe(state("2"))
    recorder.observe(state("1"))  # a rollback to the resumed version is a swap
    assert [(e.kind, e.fields.get("version")) for e in log.read()] == [
        ("registry_down", None),
        ("resumed", "1"),
        ("registry_up", None),
        ("swap", "2"),
        ("swap", "1"),
    ]
