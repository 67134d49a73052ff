"""Reading training data: built-in datasets, user files, and the target split.

Nothing here fits a model; it turns a source into a (features, target) pair with
JSON/CSV-friendly column names, or raises a clear ``BadRequest``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import orjson
import pandas as pd
from sklearn import datasets

from warmserve import errors

# Built-in dataset -> its task. All ship inside scikit-learn: nothing is downloaded.
BUILTIN_DATASETS: dict[str, str] = {
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "diabetes": "regression",
    "synthetic": "classification",  # make_classification, 20 float features f0..f19
}
# File suffix -> the reader used for it (also the kind a POST's Content-Type maps to).
TABLE_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}
MIN_TRAIN_ROWS = 10


def sanitize_column(label: str) -> str:
    """Turn "sepal length (cm)" into "sepal_length_cm": safe as a JSON key or CSV header."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "feature"


def builtin_frame(dataset: str) -> tuple[pd.DataFrame, pd.Series]:
    """Load a dataset shipped inside scikit-learn, with JSON/CSV-friendly column names."""
    if dataset not in BUILTIN_DATASETS or dataset == "synthetic":
        names = ", ".join(BUILTIN_DATASETS)
        raise errors.BadRequest(f"unknown dataset {dataset!r}; built-in datasets: {names}")
    bunch = getattr(datasets, f"load_{dataset}")()  # load_iris, ... (never fetch_*)
    columns = [sanitize_column(str(label)) for label in bunch.feature_names]
    return pd.DataFrame(bunch.data, columns=columns), pd.Series(bunch.target, name="target")


def synthetic_frame(*, n_features: int, n_rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    X, y = datasets.make_classification(
        n_samples=n_rows,
        n_features=n_features,
        n_informative=max(2, n_features // 2),
        random_state=seed,
    )
    columns = [f"f{i}" for i in range(n_features)]
    return pd.DataFrame(X, columns=columns), pd.Series(y, name="target")


def read_table(raw: bytes, kind: str, what: str) -> pd.DataFrame:
    """Parse one batch of data (CSV, Parquet or a JSON array of records) from bytes.

    JSON is parsed with orjson and must be a list of objects; nothing is ever
    unpickled. Every parse failure becomes a ``BadRequest`` naming ``what``.
    """
    try:
        if kind == "csv":
            return pd.read_csv(io.BytesIO(raw))
        if kind == "parquet":
            return pd.read_parquet(io.BytesIO(raw))
        if kind == "json":
            records = orjson.loads(raw)
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise errors.BadRequest(f"{what}: JSON data must be an array of objects (records)")
            return pd.DataFrame.from_records(records)
    except errors.WarmserveError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise errors.BadRequest(f"{what} is empty: {exc}") from exc
    except (OSError, ValueError, TypeError, pd.errors.ParserError, orjson.JSONDecodeError) as exc:
        raise errors.BadRequest(f"cannot parse {what} as {kind}: {exc}") from exc
    except Exception as exc:  # pyarrow raises its own ArrowInvalid family
        raise errors.BadRequest(f"cannot parse {what} as {kind}: {exc}") from exc
    raise errors.BadRequest(f"{what}: unsupported data kind {kind!r}; use csv, parquet or json")


def split_target(
    frame: pd.DataFrame, target: str | None, what: str
) -> tuple[pd.DataFrame, pd.Series]:
    """Split off the target column; rows without a target are dropped."""
    if not target:
        raise errors.BadRequest("training on your own data needs a target column (--target)")
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise errors.BadRequest(f"target column {target!r} not in {what}; columns: {columns}")
    frame = frame.dropna(subset=[target])
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise errors.BadRequest(f"{what} has no feature columns besides {target!r}")
    return X, frame[target]


def csv_frame(data: Path, target: str | None) -> tuple[pd.DataFrame, pd.Series]:
    """Read a user CSV and split off the target column (needs MIN_TRAIN_ROWS labelled rows)."""
    if not target:
        raise errors.BadRequest("training on a CSV needs a target column (--target)")
    try:
        raw = Path(data).read_bytes()
    except FileNotFoundError as exc:
        raise errors.BadRequest(f"data file {str(data)!r} does not exist") from exc
    except OSError as exc:
        raise errors.BadRequest(f"cannot read CSV {str(data)!r}: {exc}") from exc
    X, y = split_target(read_table(raw, "csv", f"CSV {str(data)!r}"), target, repr(str(data)))
    if len(y) < MIN_TRAIN_ROWS:
        raise errors.BadRequest(
            f"{str(data)!r} has {len(y)} labelled rows; need at least {MIN_TRAIN_ROWS}"
        )
    return X, y
