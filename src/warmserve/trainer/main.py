"""`warmserve trainer`: check the settings, wire the parts, serve HTTP until SIGTERM."""

from __future__ import annotations

import functools
import logging
import signal
import socket

import uvicorn

from warmserve import errors
from warmserve.registry.admin import validate_alias, validate_model_name
from warmserve.settings import Settings
from warmserve.trainer.app import create_app
from warmserve.trainer.batches import BatchStore
from warmserve.trainer.inbox import Inbox
from warmserve.trainer.intake import Intake
from warmserve.trainer.notify import notify_reload
from warmserve.trainer.run import EvalFile, TrainingRun
from warmserve.trainer.service import TrainerService
from warmserve.trainer.state import Journal
from warmserve.training.estimators import check_estimator
from warmserve.training.evaluation import METRICS
from warmserve.training.gate import parse_rule

log = logging.getLogger("warmserve.trainer")


def check_settings(settings: Settings) -> None:
    """Refuse a bad configuration at start, before any data is accepted."""
    if not settings.trainer_name:
        raise errors.BadRequest("the trainer needs --name (or WARMSERVE_TRAINER_NAME)")
    if not settings.trainer_target:
        raise errors.BadRequest("the trainer needs --target (or WARMSERVE_TRAINER_TARGET)")
    validate_model_name(settings.trainer_name)
    validate_alias(settings.trainer_alias)
    task = settings.trainer_task
    check_estimator(settings.trainer_estimator, task)
    tasks = list(METRICS) if task == "auto" else [task]
    problems: list[str] = []
    for candidate in tasks:
        try:
            parse_rule(settings.trainer_gate, candidate)
            return
        except errors.BadRequest as exc:
            problems.append(exc.message)
    raise errors.BadRequest(problems[-1])


def build_service(settings: Settings) -> TrainerService:
    check_settings(settings)
    assert settings.trainer_target is not None
    data_dir = settings.trainer_data_dir()
    journal = Journal(data_dir / "journal.json")
    store = BatchStore(data_dir / "accepted")
    eval_file = None
    if settings.trainer_eval is not None:
        eval_file = EvalFile.read(settings.trainer_eval, settings.trainer_target)
        columns = [str(c) for c in eval_file.frame.columns]
        if journal.columns is None:
            journal.set_columns(columns)
        elif set(columns) != set(journal.columns):
            raise errors.BadRequest(
                f"the evaluation file's columns {columns} differ from the accepted data's "
                f"{journal.columns}"
            )
    notify = None
    if settings.trainer_notify:
        notify = functools.partial(notify_reload, settings.trainer_notify, settings.admin_token)
    inbox = Inbox(
        settings.trainer_inbox_dir(), settings.trainer_settle, settings.trainer_empty_timeout
    )
    return TrainerService(
        journal,
        Intake(journal, store, settings.trainer_target),
        inbox,
        TrainingRun(settings, journal, store, eval_file, notify),
        scan_interval=settings.trainer_scan_interval,
        retry_interval=settings.trainer_retry_interval,
    )


def run_trainer(settings: Settings) -> int:
    service = build_service(settings)
    sock = socket.create_server((settings.trainer_host, settings.trainer_port), backlog=256)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, service),
            log_level=settings.log_level,
            access_log=False,
            log_config=None,
        )
    )
    if settings.admin_token is None and settings.trainer_host not in ("127.0.0.1", "localhost"):
        log.warning("binding %s without WARMSERVE_ADMIN_TOKEN: anyone can POST /data", host)
    # uvicorn re-raises the signal that stopped it once it restored the previous
    # handlers; with these as the previous ones, SIGTERM ends in a clean exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _noted)
    service.start()
    log.info(
        "trainer of %r listening on http://%s:%d (inbox %s, mode %s)",
        settings.trainer_name, host, port, service.inbox.folder, settings.trainer_mode,
    )  # fmt: skip
    try:
        server.run(sockets=[sock])
    finally:
        service.stop()
        sock.close()
    log.info("trainer stopped")
    return 0


def _noted(signum: int, frame: object) -> None:
    log.info("received signal %d; stopping", signum)
