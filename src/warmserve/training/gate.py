"""The promotion gate: does a challenger deserve the serving alias?

A rule is one or more clauses joined by ``and``; each compares one metric of the
challenger with either a number (an absolute floor or ceiling) or the champion's
score on the same rows::

    f1 >= champion - 0.01              not worse than the champion by more than 0.01
    rmse <= champion * 1.05            at most 5% worse (a lower-is-better metric)
    accuracy >= 0.8                    an absolute floor
    f1 >= champion - 0.01 and f1 >= 0.7

Clauses that name the champion are skipped when there is none yet, so the first
version that passes the absolute clauses is promoted. Pure functions: no MLflow,
no I/O; the trainer scores both models and asks :func:`decide`.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from warmserve import errors
from warmserve.training.evaluation import DEFAULT_METRIC, METRICS

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CLAUSE = re.compile(
    rf"^\s*(?P<metric>[a-z0-9_]+)\s*(?P<op>>=|<=|>|<)\s*"
    rf"(?:(?P<champion>champion)\s*(?:(?P<arith>[-+*])\s*(?P<amount>{_NUMBER}))?"
    rf"|(?P<number>{_NUMBER}))\s*$",
    re.IGNORECASE,
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Clause:
    metric: str
    op: str
    relative: bool  # compares with the champion's score
    arith: str = "+"  # how ``amount`` combines with the champion's score: + - *
    amount: float = 0.0  # the number itself when not relative

    def bound(self, champion: float | None) -> float | None:
        """The value the challenger is compared with (None: no champion to compare)."""
        if not self.relative:
            return self.amount
        if champion is None:
            return None
        if self.arith == "*":
            return champion * self.amount
        return champion + self.amount if self.arith == "+" else champion - self.amount

    def text(self) -> str:
        if not self.relative:
            return f"{self.metric} {self.op} {self.amount:g}"
        tail = "" if self.arith == "+" and self.amount == 0 else f" {self.arith} {self.amount:g}"
        return f"{self.metric} {self.op} champion{tail}"


@dataclass(frozen=True)
class GateRule:
    clauses: tuple[Clause, ...]

    @property
    def text(self) -> str:
        return " and ".join(clause.text() for clause in self.clauses)

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(clause.metric for clause in self.clauses))


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    rule: str
    metric: str  # the first metric of the rule: the score a person reads first
    challenger: float | None
    champion: float | None

    @property
    def label(self) -> str:
        return "promoted" if self.promote else "held_back"


def default_rule(task: str) -> str:
    """Not worse than the champion by more than 0.01 on the task's default metric."""
    return f"{DEFAULT_METRIC[task]} >= champion - 0.01"


def parse_rule(text: str | None, task: str) -> GateRule:
    """Parse ``text`` (None or blank: the default rule) for ``task``; BadRequest if invalid."""
    if task not in METRICS:
        raise errors.BadRequest(f"unknown task {task!r} for a gate rule")
    source = text if text and text.strip() else default_rule(task)
    clauses: list[Clause] = []
    for part in re.split(r"\band\b|,", source, flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if match is None:
            raise errors.BadRequest(
                f"cannot read gate clause {part.strip()!r}; write e.g. "
                f"'{default_rule(task)}' or '{DEFAULT_METRIC[task]} >= 0.8'"
            )
        metric = match["metric"].lower()
        if metric not in METRICS[task]:
            choices = ", ".join(METRICS[task])
            raise errors.BadRequest(f"gate metric {metric!r} is not one of {task}'s: {choices}")
        if match["champion"]:
            arith = match["arith"] or "+"
            amount = float(match["amount"]) if match["amount"] else (1.0 if arith == "*" else 0.0)
            clauses.append(Clause(metric, match["op"], True, arith, amount))
        else:
            clauses.append(Clause(metric, match["op"], False, amount=float(match["number"])))
    return GateRule(tuple(clauses))


def decide(
    rule: GateRule, challenger: Mapping[str, float], champion: Mapping[str, float] | None
) -> Decision:
    """Apply every clause; the first failing one is the reason a challenger is held back."""
    passed: list[str] = []
    for clause in rule.clauses:
        score = challenger.get(clause.metric)
        if score is None or math.isnan(score):
            return _decision(rule, challenger, champion, False, f"{clause.metric} is undefined")
        reference = None if champion is None else champion.get(clause.metric)
        if clause.relative and champion is not None and reference is None:
            reason = f"the champion's {clause.metric} is undefined on these rows"
            return _decision(rule, challenger, champion, False, reason)
        bound = clause.bound(reference)
        if bound is None:
            passed.append(f"{clause.text()}: no champion yet")
            continue
        shown = f"{clause.metric} {score:.4f} {{}} {bound:.4f} ({clause.text()})"
        if not _OPS[clause.op](score, bound):
            failed_op = _negation(clause.op)
            return _decision(rule, challenger, champion, False, shown.format(failed_op))
        passed.append(shown.format(clause.op))
    return _decision(rule, challenger, champion, True, "; ".join(passed))


def _negation(op: str) -> str:
    return {">=": "<", ">": "<=", "<=": ">", "<": ">="}[op]


def _decision(
    rule: GateRule,
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    promote: bool,
    reason: str,
) -> Decision:
    metric = rule.metrics[0]
    return Decision(
        promote=promote,
        reason=reason,
        rule=rule.text,
        metric=metric,
        challenger=challenger.get(metric),
        champion=None if champion is None else champion.get(metric),
    )
