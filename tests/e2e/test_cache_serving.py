"""The prediction cache through real servers: shared by workers, by replicas (Redis),
invalidated by swaps, safe when Redis dies or its entries are tampered with."""

from __future__ import annotations

import os
import pickle
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from support import (
    Server,
    calls,
    free_port,
    register_recorder,
    samples,
    start_redis,
    value,
    wait_until,
)
from warmserve.cache import cache_key
from warmserve.settings import Settings

ROW = {"x": 21.0}


def post(server: Server, row: dict[str, float] = ROW) -> httpx.Response:
    # a fresh connection each time, so the kernel may hand it to any worker
    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.post("/invocations", json={"dataframe_records": [row]})
    assert response.status_code == 200, response.text
    return response


def worker_pids(server: Server) -> list[int]:
    runner = server.runner_pid()
    return sorted(pid for pid in server.children().values() if pid != runner)


@pytest.fixture
def registry(tmp_path: Path) -> tuple[Path, Path, str]:
    home = tmp_path / "home"
    calls_file = tmp_path / "calls.txt"
    name = f"cached-{uuid.uuid4().hex[:8]}"  # keys never collide with earlier runs' entries
    register_recorder(Settings(home=home), name, calls_file)
    return home, calls_file, name


def test_local_cache_is_shared_by_every_worker(registry: tuple[Path, Path, str]) -> None:
    home, calls_file, name = registry
    server = Server(home, "--model", f"models:/{name}@production", "--workers", "3",
                    "--cache", "local")  # fmt: skip
    try:
        server.wait_ready()
        first, *others = worker_pids(server)
        warm = calls(calls_file)
        # only `first` can accept: the miss is computed there
        for pid in others:
            os.kill(pid, signal.SIGSTOP)
        try:
            miss = post(server)
        finally:
            for pid in others:
                os.kill(pid, signal.SIGCONT)
        assert miss.headers["x-cache"] == "miss"
        assert miss.json() == {"predictions": [{"y": 42.0}]}
        assert calls(calls_file) == [*warm, 1]
        # now `first` cannot accept: every answer comes from another process's cache reads
        os.kill(first, signal.SIGSTOP)
        try:
            hits = [post(server) for _ in range(6)]
        finally:
            os.kill(first, signal.SIGCONT)
        assert {h.headers["x-cache"] for h in hits} == {"hit"}
        assert all(h.json() == miss.json() for h in hits)
        assert all(h.headers["x-model-version"] == "1" for h in hits)
        assert calls(calls_file) == [*warm, 1]  # the model was not called again

        found = samples(server)
        assert value(found, "warmserve_cache_events_total", backend="local", event="hit") == 6
        assert value(found, "warmserve_cache_events_total", backend="local", event="miss") == 1
        assert server.client.get("/model").json()["totals"]["cache_hits"] == 6
    finally:
        assert server.stop() == 0


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[int, list[object]]]:
    """A redis-server of our own, so the test can kill it; [proc] is replaceable."""
    port = free_port()
    procs: list[object] = [start_redis(port, tmp_path)]
    yield port, procs
    for proc in procs:
        proc.kill()  # type: ignore[attr-defined]


def test_redis_cache_shared_by_two_servers_invalidated_by_swaps_and_outages(
    registry: tuple[Path, Path, str], private_redis: tuple[int, list[object]], tmp_path: Path
) -> None:
    home, calls_file, name = registry
    port, procs = private_redis
    url = f"redis://127.0.0.1:{port}/0"
    args = ["--model", f"models:/{name}@production", "--cache", url, "--poll-interval", "0"]
    secret = {"WARMSERVE_CACHE_SECRET": "replicas-share-this"}
    first = Server(home, *args, env=secret)
    second = Server(home, *args, env=secret)
    try:
        first.wait_ready()
        second.wait_ready()
        warm = calls(calls_file)
        assert post(first).headers["x-cache"] == "miss"
        hit = post(second)
        assert hit.headers["x-cache"] == "hit"
        assert hit.json() == {"predictions": [{"y": 42.0}]}
        assert calls(calls_file) == [*warm, 1]
        entry = redis.Redis(port=port).ttl(
            "warmserve:pred:" + cache_key(name, "1", "records", [ROW], None).hex()
        )
        assert entry == -1  # stored, no TTL configured

        # a swap invalidates: the same input is computed again by version 2
        version = register_recorder(Settings(home=home), name)
        for server in (first, second):
            assert server.client.post("/reload", params={"wait": "true"}).json()["version"] == "2"
        after = post(first)
        assert after.headers["x-cache"] == "miss" and after.headers["x-model-version"] == version
        assert post(second).headers["x-cache"] == "hit"

        # Redis dies: predictions keep succeeding, uncached
        procs[0].kill()  # type: ignore[attr-defined]
        procs[0].wait()  # type: ignore[attr-defined]
        for _ in range(3):
            response = post(first, {"x": 5.0})
            assert response.headers["x-cache"] == "miss"
            assert response.json() == {"predictions": [{"y": 10.0}]}
        wait_until(
            lambda: value(samples(first), "warmserve_cache_events_total",
                          backend="redis", event="error") > 0,
            what="the cache errors to be counted",
        )  # fmt: skip
        assert "redis" in first.log().lower()

        # Redis is back: the cache reconnects by itself
        procs[0] = start_redis(port, tmp_path)
        post(first, {"x": 6.0})
        wait_until(lambda: post(second, {"x": 6.0}).headers["x-cache"] == "hit",
                   what="the cache to work again")  # fmt: skip
    finally:
        assert first.stop() == 0
        assert second.stop() == 0


class Boom:
    """Unpickling this would create a file: proof that it was (not) executed."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.path,))


def test_tampered_redis_entries_are_rejected_not_executed(
    registry: tuple[Path, Path, str], private_redis: tuple[int, list[object]], tmp_path: Path
) -> None:
    home, _, name = registry
    port, _ = private_redis
    server = Server(home, "--model", f"models:/{name}@production",
                    "--cache", f"redis://127.0.0.1:{port}/0",
                    env={"WARMSERVE_CACHE_SECRET": "replicas-share-this"})  # fmt: skip
    store = redis.Redis(port=port)
    try:
        server.wait_ready()
        key = "warmserve:pred:" + cache_key(name, "1", "records", [ROW], None).hex()
        post(server)  # a genuine entry
        genuine = store.get(key)
        assert genuine is not None and b"42.0" in genuine
        marker = tmp_path / "executed"
        forged = genuine.replace(b"42.0", b"99.0")  # well-formed, but the signature breaks
        for payload in (pickle.dumps(Boom(str(marker))), b"garbage", forged):
            store.set(key, payload)
            response = post(server)
            assert response.headers["x-cache"] == "miss"
            assert response.json() == {"predictions": [{"y": 42.0}]}
        assert not marker.exists()
        wait_until(
            lambda: value(samples(server), "warmserve_cache_events_total",
                          backend="redis", event="rejected") == 3,
            what="three rejected entries to be counted",
        )  # fmt: skip
        assert post(server).headers["x-cache"] == "hit"  # the recomputed entry is good
    finally:
        assert server.stop() == 0


def test_forged_version_is_never_served_even_unsigned(
    registry: tuple[Path, Path, str], private_redis: tuple[int, list[object]]
) -> None:
    """The attack of issue 8: with no secret, an entry claiming version 999 was served."""
    from warmserve.cache import CachedPrediction
    from warmserve.cache.entry import EntryCodec

    home, _, name = registry
    port, _ = private_redis
    url = f"redis://127.0.0.1:{port}/0"
    server = Server(home, "--model", f"models:/{name}@production",
                    "--cache", url, "--cache-unsigned", "true")  # fmt: skip
    store = redis.Redis(port=port)
    try:
        server.wait_ready()
        assert "entries are not signed" in server.log()  # the opt-out is logged
        key = cache_key(name, "1", "records", [ROW], None)
        forged = EntryCodec().encode(key, CachedPrediction(b'[{"y": 999.0}]', "999"))
        store.set("warmserve:pred:" + key.hex(), forged)
        response = post(server)
        assert response.headers["x-model-version"] == "1"
        assert response.headers["x-cache"] == "miss"
        assert response.json() == {"predictions": [{"y": 42.0}]}
        wait_until(
            lambda: value(samples(server), "warmserve_cache_events_total",
                          backend="redis", event="rejected") == 1,
            what="the forged entry to be counted as rejected",
        )  # fmt: skip
    finally:
        store.close()
        assert server.stop() == 0
