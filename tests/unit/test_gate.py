"""The promotion gate's rules, read and applied without MLflow."""

from __future__ import annotations

import pytest

from warmserve import errors
from warmserve.training.gate import decide, default_rule, parse_rule


def test_default_rule_per_task() -> None:
    assert parse_rule(None, "classification").text == "f1 >= champion - 0.01"
    assert (
        parse_rule("  ", "regression").text == default_rule("regression") == "r2 >= champion - 0.01"
    )


def test_rule_grammar() -> None:
    rule = parse_rule("F1 >= champion - 0.01 AND accuracy >= 0.8, auc > champion", "classification")
    assert rule.text == "f1 >= champion - 0.01 and accuracy >= 0.8 and auc > champion"
    assert rule.metrics == ["f1", "accuracy", "auc"]
    assert parse_rule("rmse <= champion * 1.05", "regression").clauses[0].bound(
        10.0
    ) == pytest.approx(10.5)


@pytest.mark.parametrize(
    ("text", "task", "match"),
    [
        ("f1 => champion", "classification", "cannot read gate clause"),
        ("rmse <= 3", "classification", "not one of classification's"),
        ("f1 >= champion - x", "classification", "cannot read"),
        ("accuracy >= 0.8", "regression", "not one of regression's"),
    ],
)
def test_bad_rules_are_refused(text: str, task: str, match: str) -> None:
    with pytest.raises(errors.BadRequest, match=match):
        parse_rule(text, task)


def test_not_worse_than_the_champion_by_more_than_the_margin() -> None:
    rule = parse_rule("f1 >= champion - 0.01", "classification")
    assert decide(rule, {"f1": 0.795}, {"f1": 0.80}).promote
    held = decide(rule, {"f1": 0.70}, {"f1": 0.80})
    assert not held.promote and held.label == "held_back"
    assert held.reason == "f1 0.7000 < 0.7900 (f1 >= champion - 0.01)"
    assert (held.challenger, held.champion, held.metric) == (0.70, 0.80, "f1")


def test_lower_is_better_metric() -> None:
    rule = parse_rule("rmse <= champion * 1.05", "regression")
    assert decide(rule, {"rmse": 10.4}, {"rmse": 10.0}).promote
    assert not decide(rule, {"rmse": 10.6}, {"rmse": 10.0}).promote


def test_without_a_champion_only_the_floor_counts() -> None:
    rule = parse_rule("f1 >= champion - 0.01 and f1 >= 0.7", "classification")
    first = decide(rule, {"f1": 0.75}, None)
    assert first.promote and "no champion yet" in first.reason
    low = decide(rule, {"f1": 0.65}, None)
    assert not low.promote and "f1 >= 0.7" in low.reason


def test_an_undefined_score_holds_back() -> None:
    rule = parse_rule("auc >= champion", "classification")
    assert decide(rule, {"f1": 1.0}, None).reason == "auc is undefined"
    missing = decide(rule, {"auc": 0.9}, {"f1": 0.5})
    assert not missing.promote and "champion's auc is undefined" in missing.reason
