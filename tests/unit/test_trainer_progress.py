"""A bar on a terminal, one log line per phase otherwise."""

from __future__ import annotations

import io
import logging

import pytest

from warmserve.trainer.progress import RUN_PHASES, RunProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar() -> None:
    screen = Terminal()
    progress = RunProgress("churn <- 2 batch(es)", screen)
    for phase in RUN_PHASES:
        progress.phase(phase, "detail")
    progress.close()
    text = screen.getvalue()
    assert "churn <- 2 batch(es)" in text and f"{len(RUN_PHASES)}/{len(RUN_PHASES)}" in text


def test_a_log_gets_one_line_per_phase(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="warmserve.trainer")
    progress = RunProgress("churn <- 1 batch(es)", io.StringIO())
    progress.phase("training", "600 rows")
    progress.phase("registered", "version 2")
    progress.close()
    assert [r.getMessage() for r in caplog.records] == [
        "churn <- 1 batch(es) training: 600 rows",
        "churn <- 1 batch(es) registered: version 2",
    ]
