"""The batching policy is a pure function: tested with a fake clock, no processes."""

from __future__ import annotations

from dataclasses import dataclass

from warmserve.runtime.batching import BatchPolicy, Plan, plan_batch

POLICY = BatchPolicy(max_batch_size=8, max_batch_delay=0.002)


@dataclass
class Item:
    rows: int = 1
    key: object = "k"
    arrived: float = 0.0
    arrived_idle: bool = False


def test_empty_queue_waits_for_an_arrival() -> None:
    assert plan_batch([], now=1.0, free_since=0.0, policy=POLICY) == Plan()


def test_a_lone_request_arriving_while_idle_goes_at_once() -> None:
    plan = plan_batch([Item(arrived=1.0, arrived_idle=True)], 1.0, 0.0, POLICY)
    assert plan == Plan(take=(0,))


def test_requests_under_load_wait_for_batch_mates_up_to_the_delay() -> None:
    queue = [Item(arrived=1.0), Item(arrived=1.0005)]
    plan = plan_batch(queue, now=1.001, free_since=0.5, policy=POLICY)
    assert plan.take == ()
    assert plan.wait is not None and abs(plan.wait - 0.001) < 1e-9
    assert plan_batch(queue, now=1.002, free_since=0.5, policy=POLICY) == Plan(take=(0, 1))


def test_the_delay_counts_from_when_the_model_became_free() -> None:
    queue = [Item(arrived=1.0), Item(arrived=1.0)]
    # queued during a long predict that ended at 5.0: wait from 5.0, not from 1.0
    plan = plan_batch(queue, now=5.0005, free_since=5.0, policy=POLICY)
    assert plan.take == () and plan.wait is not None


def test_a_full_batch_goes_without_waiting() -> None:
    queue = [Item(rows=4, arrived=1.0), Item(rows=4, arrived=1.0)]
    assert plan_batch(queue, 1.0, 1.0, POLICY) == Plan(take=(0, 1))


def test_batch_never_exceeds_max_rows_and_the_rest_stays_queued() -> None:
    queue = [Item(rows=5), Item(rows=2), Item(rows=3), Item(rows=1)]
    plan = plan_batch(queue, 0.0, 0.0, POLICY)
    assert plan.take == (0, 1)


def test_an_oversized_request_goes_alone() -> None:
    queue = [Item(rows=100), Item(rows=1)]
    assert plan_batch(queue, 0.0, 0.0, POLICY).take == (0,)


def test_only_requests_with_the_same_key_are_merged_and_others_are_not_starved() -> None:
    queue = [Item(key="a"), Item(key="b"), Item(key="a")]
    plan = plan_batch(queue, now=0.0, free_since=0.0, policy=POLICY)
    assert plan.take == (0, 2)  # goes now: a different key is waiting behind


def test_unbatchable_requests_go_one_by_one() -> None:
    queue = [Item(key=None), Item(key=None)]
    assert plan_batch(queue, 0.0, 0.0, POLICY).take == (0,)


def test_zero_delay_disables_waiting() -> None:
    policy = BatchPolicy(max_batch_size=8, max_batch_delay=0.0)
    assert plan_batch([Item(arrived=1.0), Item(arrived=1.0)], 1.0, 1.0, policy).take == (0, 1)
