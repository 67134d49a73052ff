"""When to predict and with whom: pure decisions, unit-tested with a fake clock.

Rules:
- a request that arrives while the model is idle and alone is predicted at
  once (no added delay when idle);
- otherwise requests wait for batch-mates until the batch holds
  ``max_batch_size`` rows or the oldest has waited ``max_batch_delay`` since
  the model was last free;
- only requests with the same *batch key* (input form, columns, params) are
  merged, and a different key at the head of the queue is never starved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    max_batch_size: int
    max_batch_delay: float


class Queued(Protocol):
    @property
    def rows(self) -> int: ...
    @property
    def key(self) -> object: ...
    @property
    def arrived(self) -> float: ...
    @property
    def arrived_idle(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Plan:
    """Either ``take`` (queue indices to predict now) or ``wait`` seconds."""

    take: tuple[int, ...] = ()
    wait: float | None = None


def plan_batch(queue: Sequence[Queued], now: float, free_since: float, policy: BatchPolicy) -> Plan:
    """Decide the next batch. ``free_since``: when the model last became idle."""
    if not queue:
        return Plan()
    head = queue[0]
    take = [0]
    rows = head.rows
    mixed = False
    for index in range(1, len(queue)):
        item = queue[index]
        if item.key != head.key or head.key is None:
            mixed = True
            continue
        if rows + item.rows > policy.max_batch_size:
            mixed = True
            break
        take.append(index)
        rows += item.rows
    if rows >= policy.max_batch_size or mixed:
        return Plan(take=tuple(take))
    if head.arrived_idle and len(queue) == 1:
        return Plan(take=(0,))
    start = max(head.arrived, free_since)
    remaining = start + policy.max_batch_delay - now
    if remaining <= 0:
        return Plan(take=tuple(take))
    return Plan(wait=remaining)
