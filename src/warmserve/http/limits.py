"""Input limits checked in the HTTP worker, before anything reaches the model process.

A body within ``max_body_bytes`` can still be hostile: lists nested a
thousand deep (recursion in every later consumer), two million empty rows
(seconds of the model's time only to be refused). These checks are cheap —
one pass per nesting level, done by C-level iteration — and answer a clear 400.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, compress
from typing import Any

from warmserve.errors import BadRequest

CONTAINERS = frozenset({list, dict})


@dataclass(frozen=True, slots=True)
class InputLimits:
    max_rows: int = 1_000_000
    max_columns: int = 10_000
    max_depth: int = 32


def _is_container(values: Iterable[Any]) -> Iterator[bool]:
    return map(CONTAINERS.__contains__, map(type, values))


def _values(containers: list[Any]) -> Iterator[Any]:
    """Every value one level below ``containers`` (lazily; objects' keys are strings)."""
    lists = [c for c in containers if type(c) is list]
    dicts = [c for c in containers if type(c) is dict]
    return chain(chain.from_iterable(lists), chain.from_iterable(map(dict.values, dicts)))


def nesting_depth_exceeds(document: Any, limit: int) -> bool:
    """True when lists/objects in ``document`` nest deeper than ``limit`` levels.

    Breadth-first by level: each level costs C-level passes over its values and
    only the containers are kept for the next one, so a 100,000-row frame is
    checked in milliseconds without copying its cells.
    """
    containers = [document] if type(document) in CONTAINERS else []
    depth = 0
    while containers:
        depth += 1
        if depth > limit:
            return True
        if not set(map(type, _values(containers))) & CONTAINERS:
            return False  # the common case: one pass over the last level, nothing kept
        containers = list(compress(_values(containers), _is_container(_values(containers))))
    return False


def check_depth(document: Any, limits: InputLimits, raw: bytes | None = None) -> None:
    """``raw``: the JSON text the document came from. Nesting cannot be deeper than the
    number of ``[`` and ``{`` in it, so a small body skips the walk (counting is C-speed)."""
    if raw is not None and raw.count(b"[") + raw.count(b"{") <= limits.max_depth:
        return
    if nesting_depth_exceeds(document, limits.max_depth):
        raise BadRequest(
            f"the body nests lists or objects more than {limits.max_depth} levels deep "
            "(max_input_depth)"
        )


def check_rows(count: int, where: str, limits: InputLimits) -> None:
    if count > limits.max_rows:
        raise BadRequest(f"{where} has {count} rows; the limit is {limits.max_rows} (max_rows)")


def check_columns(count: int, where: str, limits: InputLimits) -> None:
    if count > limits.max_columns:
        raise BadRequest(
            f"{where} has {count} columns; the limit is {limits.max_columns} (max_columns)"
        )


SCALARS = frozenset({str, int, float, bool, type(None)})


def check_split(data: dict[str, Any], limits: InputLimits) -> None:
    """Shape checks of ``dataframe_split`` that pandas would make slowly, or not at all."""
    rows = data["data"]
    check_rows(len(rows), "dataframe_split.data", limits)
    columns = data.get("columns")
    if columns is not None:
        check_columns(len(columns), "dataframe_split.columns", limits)
        if not set(map(type, columns)) <= SCALARS:
            raise BadRequest("dataframe_split.columns must hold names (strings or numbers)")
    index = data.get("index")
    if index is not None and len(index) != len(rows):
        raise BadRequest(
            f"dataframe_split.index has {len(index)} entries for {len(rows)} rows of data"
        )
    if rows and set(map(type, rows)) == {list}:
        widths = set(map(len, rows))
        if widths == {0}:
            raise BadRequest("dataframe_split.data holds only empty rows")
        expected = len(columns) if columns is not None else None
        if expected is not None and widths != {expected}:
            found = ", ".join(str(w) for w in sorted(widths)[:5])
            raise BadRequest(
                f"every row of dataframe_split.data must have {expected} values (one per "
                f"column); found rows of {found} values"
            )
        if expected is None and len(widths) > 1:
            raise BadRequest("the rows of dataframe_split.data have different lengths")
        check_columns(max(widths), "a row of dataframe_split.data", limits)


def check_records(data: list[Any], where: str, limits: InputLimits) -> None:
    check_rows(len(data), where, limits)
    widest = max(map(len, data), default=0)
    check_columns(widest, f"a record of {where}", limits)
    if widest == 0:
        raise BadRequest(f"{where} holds only empty objects")


def check_csv(text: str, limits: InputLimits) -> None:
    header, _, body = text.partition("\n")
    check_columns(header.count(",") + 1, "the CSV header", limits)
    # data rows: the lines after the header, the last one with or without its newline
    check_rows(body.count("\n") + (bool(body) and not body.endswith("\n")), "the CSV body", limits)
