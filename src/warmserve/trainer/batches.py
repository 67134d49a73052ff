"""Accepted data as files named by content hash, and the held-out evaluation rows.

Every accepted batch is stored byte for byte as ``accepted/<hash>.<kind>``: the
name says what the data is, a duplicate is recognised by name, and a run can
list exactly which batches it trained on. Which rows of a batch are held out is
a pure function of the batch's content, so it never changes across restarts.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd

from warmserve.trainer.state import Batch, write_atomically
from warmserve.training.datasets import TABLE_KINDS, read_table

HASH_CHARS = 32  # 128 bits of SHA-256: unique enough, and fits MLflow's dataset digest
CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
}


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:HASH_CHARS]


def combined_digest(*parts: str) -> str:
    """One digest for a training set made of several batches (order-insensitive)."""
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:HASH_CHARS]


def kind_of_name(name: str) -> str | None:
    return TABLE_KINDS.get(Path(name).suffix.lower())


def kind_of_content_type(content_type: str | None) -> str | None:
    media = (content_type or "").split(";")[0].strip().lower()
    return CONTENT_TYPES.get(media)


def holdout_mask(frame: pd.DataFrame, fraction: float) -> np.ndarray:
    """True for the rows held out for evaluation: the ``fraction`` with the lowest row hash.

    Deterministic for a given batch (same bytes, same reader, same hashes), about
    ``fraction`` of every batch, and at least one row of any batch of two or more.
    """
    n = len(frame)
    mask = np.zeros(n, dtype=bool)
    if n < 2:
        return mask
    count = min(n - 1, max(1, math.floor(n * fraction + 0.5)))
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    mask[np.argsort(hashes, kind="stable")[:count]] = True
    return mask


class BatchStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, batch: Batch) -> Path:
        return self.folder / batch.filename

    def save(self, raw: bytes, digest: str, kind: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{digest}.{kind}"
        if not path.exists():
            write_atomically(path, raw)
        return path

    def frame(self, batch: Batch) -> pd.DataFrame:
        return read_table(self.path(batch).read_bytes(), batch.kind, batch.filename)

    def split(self, batches: list[Batch], fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(training rows, held-out rows) of ``batches``, each concatenated."""
        train: list[pd.DataFrame] = []
        held: list[pd.DataFrame] = []
        for batch in batches:
            frame = self.frame(batch)
            mask = holdout_mask(frame, fraction)
            train.append(frame[~mask])
            held.append(frame[mask])
        return _concat(train), _concat(held)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
