"""The predict lane: calls run in order on one thread, results and errors come back."""

from __future__ import annotations

import asyncio
import threading

import pytest

from warmserve.runtime.lane import Lane


def test_calls_run_in_order_on_one_thread_and_errors_come_back() -> None:
    async def main() -> None:
        lane = Lane("test-lane")
        seen: list[tuple[int, str]] = []

        def record(index: int) -> int:
            seen.append((index, threading.current_thread().name))
            return index * 2

        def boom() -> None:
            raise ValueError("from the lane")

        results = await asyncio.gather(*(lane.submit(record, i) for i in range(20)))
        assert results == [i * 2 for i in range(20)]
        assert [i for i, _ in seen] == list(range(20))
        assert {name for _, name in seen} == {"test-lane"}
        with pytest.raises(ValueError, match="from the lane"):
            await lane.submit(boom)
        assert await lane.submit(record, 21) == 42  # the lane survives an error
        lane.close()

    asyncio.run(main())


def test_a_result_for_a_cancelled_waiter_is_dropped() -> None:
    async def main() -> None:
        lane = Lane("test-lane")
        gate = threading.Event()
        future = lane.submit(gate.wait, 5)
        future.cancel()
        gate.set()
        assert await lane.submit(int, 7) == 7  # the lane moved on; nothing raised
        lane.close()

    asyncio.run(main())
