"""The local backend's storage: one LMDB environment shared by every worker process.

Why LMDB (measurements in docs/cache.md): reads are lock-free MVCC snapshots of a
shared memory map (a lookup takes about 2 µs from Python), writers serialise on a
robust process-shared mutex (a worker killed mid-write cannot wedge the others),
and a crashed writer leaves the last committed state intact. The map size is a
hard limit on the data file, so the store can never outgrow ``max_bytes``.

Layout: a log plus an index (plus ``meta`` for shared counters).

* ``log``: sequence number + part number -> part. Part 0 starts with a head
  (expiry, total length, cache key). New entries are appended at the end, old
  ones evicted from the front (FIFO), so eviction empties whole pages at once and
  the live size drops as soon as entries go. (Keyed by hash instead, deletes are
  scattered, pages hardly ever empty, and copy-on-write of the touched pages can
  fill the map until not even a delete fits — measured.) Values are cut into
  parts that fit in a page: LMDB stores bigger ones in *contiguous* overflow
  pages, which a fragmented free list may no longer offer.
* ``index``: cache key -> sequence number.

FIFO rather than LRU keeps reads read-only: an LRU touch would turn every hit
into a write serialised across all workers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import lmdb

from warmserve.cache import lmdb_env

if TYPE_CHECKING:
    Txn = lmdb.Transaction[bytes]  # generic only in the stubs

_SEQ = struct.Struct(">Q")  # big endian: byte order is insertion order
_PART = struct.Struct(">QI")  # log key: sequence, part number
_HEAD = struct.Struct("<dIB")  # part 0 prefix: expires_at, total length, key length
_COUNTER = struct.Struct("<Q")
_EVICTIONS, _BYTES, _NEXT = b"evictions", b"bytes", b"next"

MAX_KEY_BYTES = 64
# Entries are charged their bytes plus per-record overhead and evicted past BUDGET
# of the map. The rest is headroom for B-tree slack and copy-on-write: every write
# transaction needs free pages while the ones freed by the last transactions may
# still be in use by readers.
BUDGET = 0.5
PHYSICAL_HIGH = 0.75  # live pages past this share of the map: puts evict extra entries
CROWDED_EVICTIONS = 4
PUT_EVICTION_LIMIT = 64  # most entries one put evicts (bounds its latency)
RECOVERY_BATCH = 16  # entries evicted after a MapFullError before the one retry
_NODE = 8 + 2  # LMDB node header + its pointer in the page
_INDEX_COST = 2 * (_NODE + _SEQ.size)  # index node at ~50% page fill, plus the key


class StoreFull(Exception):
    """No free page for this put right now; the value is not stored."""


@dataclass(frozen=True, slots=True)
class StoreStats:
    entries: int
    stored_bytes: int  # what the entries are charged, kept under the budget
    size_bytes: int  # pages in use by the databases, not counting the free list
    evictions: int  # since the store was created, by any process


class LmdbStore:
    """Bounded FIFO key -> bytes store with optional per-entry expiry.

    Synchronous on purpose: a read costs a few microseconds and a write tens of
    them, less than a hop to a thread pool would.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.path = directory.resolve()
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        map_size = max(max_bytes // 4096 * 4096, 64 * 4096)
        shared = lmdb_env.acquire(self.path, map_size)
        self._shared: lmdb_env.SharedEnv | None = shared
        self._env = shared.env
        self._log, self._index, self._meta = shared.log, shared.index, shared.meta
        self.map_size = self._env.info()["map_size"]
        self.budget = int(self.map_size * BUDGET)
        self.max_value_bytes = self.map_size // 16
        # Parts of about a quarter page (less the 2-byte pointer, 8-byte node header and
        # 12-byte log key) pack appended pages at least 3/4 full; bigger parts leave
        # more of a page unused when the next one does not fit.
        page = self._page = self._env.stat()["psize"]
        self._part = (page - 16) // 4 - 2 - 8 - _PART.size

    def get(self, key: bytes) -> bytes | None:
        with self._env.begin() as txn:
            found = self._read(txn, key)
        return None if found is None else found[2]

    def put(self, key: bytes, blob: bytes, expires_at: float, now: float) -> int:
        """Store ``blob`` under ``key``; return how many entries were evicted.

        Raises :class:`StoreFull` when there is no free page even after evicting a
        few entries: pages freed by recent transactions stay in use while a reader
        that started before them runs (one stalled by the scheduler, say), or a
        killed process left its reader slot behind. That passes; the put is dropped.
        """
        if not 0 < len(key) <= MAX_KEY_BYTES:
            raise ValueError(f"cache keys are 1 to {MAX_KEY_BYTES} bytes")
        try:
            return self._put(key, blob, expires_at, now)
        except lmdb.MapFullError:
            pass
        self._env.reader_check()
        try:
            return self._recover(now) + self._put(key, blob, expires_at, now)
        except lmdb.MapFullError:
            raise StoreFull("no free page in the cache store") from None

    def delete_if(self, key: bytes, blob: bytes) -> bool:
        """Delete ``key`` if it still holds ``blob`` (a newer good value is kept)."""
        with self._env.begin(write=True) as txn:
            found = self._read(txn, key)
            if found is None or found[2] != blob:
                return False
            stored = self._counter(txn, _BYTES) - self._remove(txn, found[0])
            txn.delete(key, db=self._index)
            txn.put(_BYTES, _COUNTER.pack(max(stored, 0)), db=self._meta)
            return True

    def stats(self) -> StoreStats:
        with self._env.begin() as txn:
            entries = txn.stat(self._index)["entries"]
            used = self._used_bytes(txn)
            evictions = self._counter(txn, _EVICTIONS)
            stored = self._counter(txn, _BYTES)
        return StoreStats(entries, stored, used, evictions)

    def close(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            lmdb_env.release(shared)

    # --- internals ------------------------------------------------------------------

    def _read(self, txn: Txn, key: bytes) -> tuple[int, float, bytes] | None:
        """(sequence, expiry, blob) of ``key``; a damaged entry yields an empty blob."""
        raw_seq = txn.get(key, db=self._index)
        if raw_seq is None or len(raw_seq) != _SEQ.size:
            return None
        seq = _SEQ.unpack(raw_seq)[0]
        cursor = txn.cursor(db=self._log)
        if not cursor.set_key(_PART.pack(seq, 0)):
            return None
        first = cursor.value()
        if len(first) < _HEAD.size:
            return seq, 0.0, b""
        expires_at, total, key_length = _HEAD.unpack_from(first)
        if first[_HEAD.size : _HEAD.size + key_length] != key:
            return None  # the index is stale: this sequence belongs to another key
        parts = [first[_HEAD.size + key_length :]]
        size = len(parts[0])
        prefix = raw_seq
        while size < total and cursor.next() and cursor.key()[: _SEQ.size] == prefix:
            part = cursor.value()
            parts.append(part)
            size += len(part)
        return seq, expires_at, b"".join(parts)

    def _put(self, key: bytes, blob: bytes, expires_at: float, now: float) -> int:
        with self._env.begin(write=True) as txn:
            stored = self._counter(txn, _BYTES)
            old = txn.get(key, db=self._index)
            if old is not None and len(old) == _SEQ.size:
                stored -= self._remove(txn, _SEQ.unpack(old)[0])
            cursor = txn.cursor(db=self._log)
            last = _PART.unpack(cursor.key())[0] + 1 if cursor.last() else 0
            seq = max(self._counter(txn, _NEXT), last)  # appends need increasing keys
            txn.put(_NEXT, _COUNTER.pack(seq + 1), db=self._meta)
            first = _HEAD.pack(expires_at, len(blob), len(key)) + key
            cut = self._part - len(first)
            parts = [first + blob[:cut]]
            parts += [
                blob[start : start + self._part] for start in range(cut, len(blob), self._part)
            ]
            for number, part in enumerate(parts):
                txn.put(_PART.pack(seq, number), part, db=self._log, append=True)
            txn.put(key, _SEQ.pack(seq), db=self._index)
            stored += self._cost(len(key), len(blob), len(parts))
            # Pages run above the charged bytes only by B-tree slack: well under the
            # budget they cannot crowd the map, so skip the (few µs) page count.
            crowded = (
                stored > self.budget // 2 and self._used_bytes(txn) > self.map_size * PHYSICAL_HIGH
            )
            evicted, stored = self._evict(
                txn,
                now,
                stored,
                PUT_EVICTION_LIMIT,
                keep=seq,
                floor=CROWDED_EVICTIONS if crowded else 0,
            )
            txn.put(_BYTES, _COUNTER.pack(max(stored, 0)), db=self._meta)
            return evicted

    def _recover(self, now: float) -> int:
        """Evict a few of the oldest entries in a small transaction (it needs few pages).

        Only a few: when readers pin the freed pages, evicting more frees nothing.
        """
        try:
            with self._env.begin(write=True) as txn:
                stored = self._counter(txn, _BYTES)
                evicted, stored = self._evict(
                    txn, now, stored, RECOVERY_BATCH, floor=RECOVERY_BATCH
                )
                txn.put(_BYTES, _COUNTER.pack(max(stored, 0)), db=self._meta)
        except lmdb.MapFullError:
            return 0  # not even room to delete
        return evicted

    def _evict(
        self, txn: Txn, now: float, stored: int, limit: int, *, keep: int = -1, floor: int = 0
    ) -> tuple[int, int]:
        """Drop the oldest entries while expired, over budget or fewer than ``floor``.

        Returns how many were evicted and the bytes still stored.
        """
        cursor = txn.cursor(db=self._log)
        evicted = 0
        while evicted < limit and cursor.first():
            seq, _ = _PART.unpack(cursor.key())
            if seq == keep:
                break
            first = cursor.value()
            expires_at = _HEAD.unpack_from(first)[0] if len(first) >= _HEAD.size else 0.0
            expired = 0 < expires_at <= now
            if not expired and evicted >= floor and stored <= self.budget:
                break
            if len(first) >= _HEAD.size:
                key_length = _HEAD.unpack_from(first)[2]
                key = first[_HEAD.size : _HEAD.size + key_length]
                if txn.get(key, db=self._index) == _SEQ.pack(seq):
                    txn.delete(key, db=self._index)
            stored -= self._remove(txn, seq)
            evicted += 1
        if evicted:
            count = self._counter(txn, _EVICTIONS) + evicted
            txn.put(_EVICTIONS, _COUNTER.pack(count), db=self._meta)
        return evicted, stored

    def _remove(self, txn: Txn, seq: int) -> int:
        """Delete every part of entry ``seq`` from the log; return the bytes it was charged."""
        cursor = txn.cursor(db=self._log)
        if not cursor.set_range(_PART.pack(seq, 0)):
            return 0
        first = cursor.value() if cursor.key() == _PART.pack(seq, 0) else b""
        parts = 0
        prefix = _SEQ.pack(seq)
        while cursor.key()[: _SEQ.size] == prefix and cursor.delete():  # moves to the next
            parts += 1
        if len(first) < _HEAD.size:
            return 0
        _, total, key_length = _HEAD.unpack_from(first)
        return self._cost(key_length, total, parts)

    @staticmethod
    def _cost(key_length: int, total: int, parts: int) -> int:
        """What an entry is charged: blob, head and key, per-node overheads, index record."""
        return total + _HEAD.size + key_length * 2 + parts * (_NODE + _PART.size) + _INDEX_COST

    def _counter(self, txn: Txn, name: bytes) -> int:
        raw = txn.get(name, db=self._meta)
        return _COUNTER.unpack(raw)[0] if raw is not None and len(raw) == _COUNTER.size else 0

    def _used_bytes(self, txn: Txn) -> int:
        pages = 0
        for db in (self._log, self._index, self._meta):
            stat = txn.stat(db)
            pages += stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]
        return pages * self._page
