"""`warmserve stack`: the MLflow server, the API and the trainer on one machine.

Start order is gated by health: the MLflow server answers /health, then the API
is live (it is ready only once a model exists), then the trainer is ready. A part
that dies later is restarted with back-off. SIGTERM or Ctrl-C stops the parts in
reverse order, each as a whole process group. One thread: signal handlers only
record the signal, the loop acts on it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

from warmserve import errors
from warmserve.settings import Settings
from warmserve.stack.mlflow_server import free_port, mlflow_part
from warmserve.stack.part import Part

log = logging.getLogger("warmserve.stack")
START_TIMEOUT = 180.0
STOP_GRACE = 20.0
TICK = 0.1


class Stopping(Exception):
    """A signal arrived while the stack was starting."""


def child_env(settings: Settings, fields: Iterable[str], **overrides: str) -> dict[str, str]:
    """The environment of a warmserve child: our env plus every setting given to the stack."""
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    for name in fields:
        if name in settings.model_fields_set:
            value = _env_value(getattr(settings, name))
            key = f"WARMSERVE_{name.upper()}"
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
    env.update(overrides)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _env_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


class Stack:
    def __init__(self, settings: Settings) -> None:
        if not settings.trainer_name or not settings.trainer_target:
            raise errors.BadRequest("warmserve stack needs --name and --target (the trainer's)")
        self.settings = settings
        home = settings.home.resolve()
        loopback = "127.0.0.1"
        mlflow_port = settings.mlflow_port or free_port(settings.mlflow_host)
        api_port = settings.port or free_port(settings.host)
        trainer_port = settings.trainer_port or free_port(settings.trainer_host)
        self.mlflow_url = f"http://{loopback}:{mlflow_port}"
        self.api_url = f"http://{_client_host(settings.host)}:{api_port}"
        self.trainer_url = f"http://{_client_host(settings.trainer_host)}:{trainer_port}"
        self.model = f"models:/{settings.trainer_name}@{settings.trainer_alias}"
        fields = list(Settings.model_fields)
        common = {"WARMSERVE_HOME": str(home), "WARMSERVE_TRACKING_URI": self.mlflow_url}
        api_env = child_env(
            settings, fields, **common, WARMSERVE_MODEL=self.model, WARMSERVE_PORT=str(api_port),
            WARMSERVE_TRAINER_URL=settings.trainer_url or self.trainer_url,
        )  # fmt: skip
        trainer_env = child_env(
            settings, fields, **common,
            WARMSERVE_TRAINER_PORT=str(trainer_port),
            WARMSERVE_TRAINER_NOTIFY=settings.trainer_notify or self.api_url,
        )  # fmt: skip
        python = [sys.executable, "-m", "warmserve"]
        self.parts = [
            mlflow_part(settings, mlflow_port, dict(os.environ)),
            Part("api", [*python, "serve"], api_env, f"{self.api_url}/health/live"),
            Part("trainer", [*python, "trainer"], trainer_env, f"{self.trainer_url}/health/ready"),
        ]
        self.signals: list[int] = []

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._record) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for part in self.parts:
                self._start(part)
            self._announce()
            self._watch()
            return 0
        except Stopping:
            return 0
        except errors.WarmserveError as exc:
            log.error("%s", exc.message)
            return 1
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _record(self, signum: int, frame: object) -> None:
        self.signals.append(signum)

    def _start(self, part: Part) -> None:
        part.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not part.healthy():
            self._pump()
            if self.signals:
                raise Stopping()
            if not part.running():
                raise errors.WarmserveError(f"{part.name} exited while starting (see its log)")
            if time.monotonic() > deadline:
                raise errors.WarmserveError(f"{part.name} not healthy after {START_TIMEOUT:.0f}s")
            time.sleep(TICK)
        log.info("%s is up (%s)", part.name, part.health_url)

    def _announce(self) -> None:
        s = self.settings
        auth = ' -H "Authorization: Bearer $WARMSERVE_ADMIN_TOKEN"' if s.admin_token else ""
        print(
            "\nwarmserve stack is up:\n"
            f"  MLflow server  {self.mlflow_url}   (model registry and artifacts)\n"
            f"  API            {self.api_url}   (serves {self.model})\n"
            f"  trainer        {self.trainer_url}   (inbox {s.trainer_inbox_dir()})\n"
            "Send data to the trainer (a CSV with the column "
            f"{s.trainer_target!r}):\n"
            f"  curl -X POST {self.trainer_url}/data -H 'Content-Type: text/csv'{auth} "
            "--data-binary @data.csv\n"
            "Stop with Ctrl-C.\n",
            flush=True,
        )

    def _watch(self) -> None:
        while not self.signals:
            self._pump()
            now = time.monotonic()
            for part in self.parts:
                if part.running():
                    continue
                if part.restart_at is None:
                    code = part.proc.returncode if part.proc else None
                    delay = part.schedule_restart(now)
                    log.warning("%s exited (code %s); restarting in %.0fs", part.name, code, delay)
                elif now >= part.restart_at:
                    part.stop(0)
                    part.start()
            time.sleep(TICK)
        log.info("stopping (signal %d)", self.signals[0])

    def _pump(self) -> None:
        for part in self.parts:
            part.pump()

    def _stop_all(self) -> None:
        for part in reversed(self.parts):
            code = part.stop(STOP_GRACE)
            if code is not None:
                log.info("%s stopped (exit code %s)", part.name, code)


def _client_host(host: str) -> str:
    """Where a local client reaches a server bound to ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def run_stack(settings: Settings) -> int:
    return Stack(settings).run()
