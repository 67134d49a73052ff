"""One training run of the trainer: fit on the chosen batches, register, gate, promote.

Phases: training -> evaluated -> registered -> promoted or held back. The new
version always gets the alias ``challenger``; it takes the serving alias only if
the gate passes, comparing it with the champion on the same evaluation rows.
Exactly once: the version is tagged with the digest of what it was trained on, and
a run whose digest is already registered (a crash between registering and the
journal write) reuses that version instead of training again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import mlflow.sklearn
import pandas as pd
from mlflow import MlflowClient

from warmserve import errors
from warmserve.registry import connect
from warmserve.registry.admin import alias_version, promote, versions_tagged
from warmserve.registry.connection import registry_errors
from warmserve.settings import Settings
from warmserve.trainer.batches import BatchStore, combined_digest, content_hash
from warmserve.trainer.progress import RunProgress
from warmserve.trainer.state import Batch, Journal
from warmserve.training.datasets import MIN_TRAIN_ROWS, read_table, split_target
from warmserve.training.estimators import (
    EstimatorOptions,
    build_pipeline,
    final_estimator,
    hyperparams,
    resolve_task,
)
from warmserve.training.evaluation import evaluate
from warmserve.training.gate import Decision, GateRule, decide, parse_rule
from warmserve.training.register import DatasetRecord, RunRecord, log_and_register

log = logging.getLogger("warmserve.trainer")

CHALLENGER = "challenger"
TAG_DIGEST = "warmserve.data.digest"
TAG_BATCHES = "warmserve.data.batches"
TAG_TRAIN_ROWS = "warmserve.data.train_rows"
TAG_EVAL_ROWS = "warmserve.data.eval_rows"
TAG_EVAL = "warmserve.data.eval"
TAG_MODE = "warmserve.data.mode"
GATE_TAGS = ("decision", "rule", "reason", "metric", "challenger", "champion", "champion_version")


class RetryLater(Exception):
    """The registry could not be reached: the same batches are tried again later."""


@dataclass(frozen=True)
class EvalFile:
    """A fixed evaluation file (``--eval``), read once at start."""

    frame: pd.DataFrame
    path: Path
    digest: str

    @classmethod
    def read(cls, path: Path, target: str) -> EvalFile:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise errors.BadRequest(
                f"cannot read the evaluation file {str(path)!r}: {exc}"
            ) from exc
        kind = path.suffix.lower().lstrip(".")
        kind = "parquet" if kind == "pq" else kind
        frame = read_table(raw, kind, f"evaluation file {str(path)!r}")
        split_target(frame, target, f"evaluation file {str(path)!r}")
        return cls(frame, path.resolve(), content_hash(raw))


@dataclass(frozen=True)
class Frames:
    """The rows of one run: what it trains on and what both models are scored on."""

    X: pd.DataFrame
    y: pd.Series
    X_eval: pd.DataFrame
    y_eval: pd.Series
    eval_label: str  # "held-out rows" or "rows of FILE"
    eval_id: str  # what the evaluation rows are: the file's hash, or the batches'


@dataclass(frozen=True)
class Outcome:
    trained: list[str]  # batch hashes whose jobs this version answers
    superseded: list[str]  # replace mode: older pending batches it made irrelevant
    version: str
    run_id: str
    trained_rows: int
    eval_rows: int
    metrics: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] = field(default_factory=dict)


class TrainingRun:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        store: BatchStore,
        eval_file: EvalFile | None = None,
        notify: Callable[[str], object] | None = None,
    ) -> None:
        assert settings.trainer_name and settings.trainer_target
        self.settings = settings
        self.name = settings.trainer_name
        self.target = settings.trainer_target
        self.journal = journal
        self.store = store
        self.eval_file = eval_file
        self.notify = notify
        # The champion is usually the last version this trainer fitted: keep the few
        # latest in memory instead of downloading them again for every gate.
        self.fitted: dict[str, Any] = {}
        self.options = EstimatorOptions(
            settings.trainer_estimator, settings.trainer_n_estimators, settings.trainer_max_depth
        )

    def __call__(self, pending: list[Batch]) -> Outcome:
        progress = RunProgress(f"{self.name} <- {len(pending)} batch(es)")
        try:
            return self._run(pending, progress)
        except errors.RegistryError as exc:
            raise RetryLater(exc.message) from exc
        finally:
            progress.close()

    def _run(self, pending: list[Batch], progress: RunProgress) -> Outcome:
        s = self.settings
        chosen, superseded = self._choose(pending)
        rows = self._frames(pending, chosen)
        # An explicit --task wins; "auto" decides once, from the first training's labels.
        chosen_task = None if s.trainer_task == "auto" else s.trainer_task
        task = chosen_task or self.journal.task or resolve_task("auto", rows.y)
        if self.journal.task != task:
            self.journal.set_task(task)
        rule = parse_rule(s.trainer_gate, task)
        digest = combined_digest(s.trainer_mode, rows.eval_id, *(b.hash for b in chosen))
        client = connect(s)
        version, run_id, scores = self._version_for(client, chosen, rows, task, digest, progress)
        with registry_errors(f"alias {CHALLENGER!r} of model {self.name!r}"):
            promote(client, self.name, version, CHALLENGER)
        champion_version = alias_version(client, self.name, s.trainer_alias)
        decision, champion_scores = self._gate(rule, scores, champion_version, version, rows, task)
        tags = {
            "decision": decision.label, "rule": decision.rule, "reason": decision.reason,
            "metric": decision.metric, "challenger": _fmt(decision.challenger),
            "champion": _fmt(decision.champion), "champion_version": champion_version or "none",
        }  # fmt: skip
        with registry_errors(f"tags of version {version} of model {self.name!r}"):
            for key, value in tags.items():
                client.set_model_version_tag(self.name, version, f"warmserve.gate.{key}", value)
        if decision.promote and champion_version != version:
            promote(client, self.name, version, s.trainer_alias)
        verdict = "promoted" if decision.promote else "held back"
        progress.phase(verdict, f"version {version} @{s.trainer_alias}: {decision.reason}")
        if decision.promote and self.notify is not None:
            self.notify(version)
        return Outcome(
            trained=[b.hash for b in pending if b.hash not in superseded],
            superseded=superseded,
            version=version,
            run_id=run_id,
            trained_rows=len(rows.y),
            eval_rows=len(rows.y_eval),
            metrics={"challenger": scores, "champion": champion_scores},
            decision={**tags, "promoted": decision.promote, "alias": s.trainer_alias},
        )

    def _version_for(
        self,
        client: MlflowClient,
        chosen: list[Batch],
        rows: Frames,
        task: str,
        digest: str,
        progress: RunProgress,
    ) -> tuple[str, str, dict[str, float]]:
        """(version, run id, its scores): trained now, or found if registered before a crash."""
        done = versions_tagged(client, self.name, TAG_DIGEST, digest)
        if done:
            version = done[0]
            with registry_errors(f"version {version} of model {self.name!r}"):
                run_id = str(client.get_model_version(self.name, version).run_id)
            model = self._model(version)
            scores = evaluate(model, rows.X_eval, rows.y_eval, task)
            progress.phase("registered", f"version {version} (registered before a restart)")
            return version, run_id, scores
        progress.phase("training", f"{len(rows.y)} rows from {len(chosen)} batch(es), {task}")
        model = build_pipeline(rows.X, task, self.options)
        model.fit(rows.X, rows.y)
        scores = evaluate(model, rows.X_eval, rows.y_eval, task)
        shown = ", ".join(f"{k}={v:.4f}" for k, v in scores.items()) or "no scores"
        progress.phase("evaluated", f"{shown} on {len(rows.y_eval)} {rows.eval_label}")
        record = self._record(model, chosen, rows, task, scores, digest)
        registered = log_and_register(self.settings, self.name, model, rows.X, record)
        progress.phase("registered", f"version {registered.version}")
        self._remember(registered.version, model)
        return registered.version, registered.run_id, scores

    def _model(self, version: str) -> Any:
        if version not in self.fitted:
            self._remember(version, _load(f"models:/{self.name}/{version}"))
        return self.fitted[version]

    def _remember(self, version: str, model: Any) -> None:
        self.fitted[version] = model
        for old in sorted(self.fitted, key=int)[:-3]:
            del self.fitted[old]

    def _choose(self, pending: list[Batch]) -> tuple[list[Batch], list[str]]:
        """Append: every accepted batch. Replace: the newest pending one alone."""
        if self.settings.trainer_mode == "replace":
            return [pending[-1]], [b.hash for b in pending[:-1]]
        return self.journal.accepted(), []

    def _frames(self, pending: list[Batch], chosen: list[Batch]) -> Frames:
        """Training rows of ``chosen``; evaluation rows from the file, else held-out rows.

        Held-out rows come from the batches accepted before this run, so the data a
        run is about cannot move the bar it is judged by; only the very first run,
        with nothing earlier, is judged on its own held-out rows.
        """
        holdout = self.settings.trainer_holdout
        train, _ = self.store.split(chosen, holdout)
        new = {b.hash for b in pending}
        earlier = [b for b in self.journal.accepted() if b.hash not in new]
        eval_batches: list[Batch] = []
        if self.eval_file is not None:
            held, label = self.eval_file.frame, f"rows of {self.eval_file.path.name}"
        else:
            held, label = self.store.split(earlier, holdout)[1], "held-out rows of earlier data"
            eval_batches = earlier
            if len(held) == 0:
                held, label = self.store.split(pending, holdout)[1], "held-out rows"
                eval_batches = pending
        X, y = split_target(train, self.target, "the training data")
        if len(y) < MIN_TRAIN_ROWS:
            raise errors.BadRequest(
                f"{len(y)} labelled training rows; need at least {MIN_TRAIN_ROWS}"
            )
        features = [c for c in (self.journal.columns or list(X.columns)) if c != self.target]
        if len(held):
            X_eval, y_eval = split_target(held, self.target, label)
        else:
            X_eval, y_eval = pd.DataFrame(columns=features), pd.Series(dtype=y.dtype)
        eval_id = (
            self.eval_file.digest
            if self.eval_file
            else combined_digest(f"holdout {holdout}", *(b.hash for b in eval_batches))
        )
        return Frames(X[features], y, X_eval[features], y_eval, label, eval_id)

    def _record(
        self,
        model: Any,
        chosen: list[Batch],
        rows: Frames,
        task: str,
        scores: dict[str, float],
        digest: str,
    ) -> RunRecord:
        s = self.settings
        X, y, X_eval, y_eval = rows.X, rows.y, rows.X_eval, rows.y_eval
        batches = ",".join(b.hash for b in chosen)
        eval_digest = rows.eval_id
        eval_source = str(self.eval_file.path) if self.eval_file else str(self.store.folder)
        datasets = [
            DatasetRecord(
                X.assign(**{self.target: y}), str(self.store.folder), digest,
                f"{self.name}-training", "training", self.target,
            ),
            DatasetRecord(
                X_eval.assign(**{self.target: y_eval}), eval_source, eval_digest,
                f"{self.name}-evaluation", "evaluation", self.target,
            ),
        ]  # fmt: skip
        params = {
            "mode": s.trainer_mode, "task": task, "estimator": s.trainer_estimator,
            "model_class": type(final_estimator(model)).__name__, "batches": len(chosen),
            "n_rows": len(y), "n_eval_rows": len(y_eval), "n_features": X.shape[1],
            **hyperparams(model),
        }  # fmt: skip
        return RunRecord(
            params=params,
            metrics={f"eval_{k}": v for k, v in scores.items()},
            datasets=datasets,
            version_tags={
                TAG_DIGEST: digest, TAG_BATCHES: batches[:5000], TAG_MODE: s.trainer_mode,
                TAG_TRAIN_ROWS: str(len(y)), TAG_EVAL_ROWS: str(len(y_eval)),
                TAG_EVAL: rows.eval_label,
            },
        )  # fmt: skip

    def _gate(
        self,
        rule: GateRule,
        scores: dict[str, float],
        champion_version: str | None,
        version: str,
        rows: Frames,
        task: str,
    ) -> tuple[Decision, dict[str, float] | None]:
        if champion_version is None or champion_version == version:
            return decide(rule, scores, None), None
        try:
            champion = self._model(champion_version)
            champion_scores = evaluate(champion, rows.X_eval, rows.y_eval, task)
        except errors.RegistryError:
            raise
        except Exception as exc:  # the champion cannot predict these rows: keep it, say why
            reason = f"the champion (version {champion_version}) could not be scored: {exc}"
            held = Decision(
                False, reason, rule.text, rule.metrics[0], scores.get(rule.metrics[0]), None
            )
            return held, None
        return decide(rule, scores, champion_scores), champion_scores


def _load(uri: str) -> Any:
    """The scikit-learn object when the version has that flavor (AUC needs probabilities)."""
    with registry_errors(f"model {uri}"):
        try:
            return mlflow.sklearn.load_model(uri)
        except errors.RegistryError:
            raise
        except Exception:  # not a scikit-learn model: score it through pyfunc
            return mlflow.pyfunc.load_model(uri)


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"
