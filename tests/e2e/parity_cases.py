"""The parity table: requests sent to `mlflow models serve` and to warmserve on the same
registered model, and what both answer. The table is the spec: add a row for every
behaviour a client may rely on.

A row names the model (see parity_models.py), the request, and the status (and error
code) both servers answer; the test also compares the bodies (the JSON values of a
prediction; error_code, error_class and sqlstate of an error). Where warmserve differs
on purpose, ``differs`` records MLflow's answer (the test checks it still holds) and a
phrase of the explanation in docs/api.md, "Differences from mlflow models serve".
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"


@dataclass(frozen=True)
class Request:
    body: bytes = b""
    content_type: str | None = JSON
    method: str = "POST"
    path: str = "/invocations"


@dataclass(frozen=True)
class Differs:
    doc: str  # a phrase of the explanation in docs/api.md (checked by a unit test)
    mlflow_status: int
    mlflow_code: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    request: Request
    status: int  # what both answer (warmserve's answer when ``differs``)
    code: str | None = None  # the error_code both answer
    differs: Differs | None = None


def body(document: Any) -> Request:
    return Request(json.dumps(document).encode())


def raw(data: bytes, content_type: str | None = JSON) -> Request:
    return Request(data, content_type)


def csv(text: str) -> Request:
    return Request(text.encode(), CSV)


def get(path: str) -> Request:
    return Request(method="GET", path=path, content_type=None)


def parquet(**columns: Any) -> Request:
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame(columns).to_parquet(buffer)
    return Request(buffer.getvalue(), PARQUET)


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


BAD = "BAD_REQUEST"
INVALID = "INVALID_PARAMETER_VALUE"
AB = {"columns": ["a", "b"], "data": [[1.0, 2.0], [3.0, 4.0]]}
ROW = {"a": 1.0, "b": 2.0}
TYPED = {"s": "a", "n": 2, "i": 3, "b": True, "t": "2024-01-02T03:04:05", "d": 0.5, "f": 0.25}
MESSAGES = [{"role": "user", "content": "hi"}]


def _general() -> list[Case]:
    m = "numeric"
    return [
        Case("ping", m, get("/ping"), 200),
        Case("health", m, get("/health"), 200),
        Case("version", m, get("/version"), 200),
        Case("split", m, body({"dataframe_split": AB}), 200),
        Case("split-with-index", m, body({"dataframe_split": {**AB, "index": [7, 8]}}), 200),
        Case("split-without-columns", m, body({"dataframe_split": {"data": [[1.0, 2.0]]}}), 400,
             INVALID),
        Case("records", m, body({"dataframe_records": [ROW, ROW]}), 200),
        Case("records-of-integers", m, body({"dataframe_records": [{"a": 1, "b": 2}]}), 200),
        Case("instances-records", m, body({"instances": [ROW]}), 200),
        Case("instances-rows", m, body({"instances": [[1.0, 2.0]]}), 400, INVALID),
        Case("inputs-columns", m, body({"inputs": {"a": [1.0], "b": [2.0]}}), 200),
        Case("csv", m, csv("a,b\n1.0,2.0\n3,4\n"), 200),
        Case("csv-with-bom", m, raw(b"\xef\xbb\xbfa,b\n1.0,2.0\n", CSV), 200),
        Case("csv-charset", m, raw(b"a,b\n1.0,2.0\n", "text/csv; charset=utf-8"), 200),
        Case("csv-empty", m, raw(b"", CSV), 400, BAD),
        Case("csv-not-utf8", m, raw(b"a,b\n\xff,1\n", CSV), 400, BAD),
        Case("parquet", m, parquet(a=[1.0, 3.0], b=[2.0, 4.0]), 200),
        Case("parquet-integers", m, parquet(a=[1, 3], b=[2.0, 4.0]), 400, INVALID),
        Case("parquet-garbage", m, raw(b"not parquet", PARQUET), 400, BAD),
        Case("unknown-top-level-field", m, body({"dataframe_split": AB, "extra": 1}), 200),
        Case("unknown-fields-only", m, body({"data": [[1.0, 2.0]]}), 400, BAD),
        Case("params-ignored", m, body({"dataframe_records": [ROW], "params": {"p": 1}}), 200),
        Case("params-not-object", m, body({"dataframe_records": [ROW], "params": [1]}), 200),
        Case("missing-column", m, body({"dataframe_records": [{"a": 1.0}]}), 400, INVALID),
        Case("extra-column", m, body({"dataframe_records": [{**ROW, "c": 1.0}]}), 200),
        Case("string-for-double", m, body({"dataframe_records": [{**ROW, "a": "x"}]}), 400, BAD),
        Case("null-for-double", m, body({"dataframe_records": [{**ROW, "a": None}]}), 400, BAD),
        Case("big-integer-for-double", m, body({"dataframe_records": [{**ROW, "a": 2**70}]}),
             200),
        Case("nan-literal", m, raw(b'{"dataframe_records": [{"a": NaN, "b": 1.0}]}'), 400, BAD),
        Case("utf8-bom", m, raw(b'\xef\xbb\xbf{"dataframe_records": [{"a": 1.0, "b": 2.0}]}'),
             200),
        Case("utf16-json", m, raw('{"dataframe_records": [{"a": 1.0, "b": 2.0}]}'
                                  .encode("utf-16")), 200),
        Case("not-utf8-json", m, raw(b'{"dataframe_records": [{"a": "\xff"}]}'), 400, BAD),
        Case("empty-body", m, raw(b""), 400, BAD),
        Case("malformed-json", m, raw(b'{"dataframe_split": '), 400, BAD),
        Case("body-a-list", m, body([ROW]), 400, BAD),
        Case("body-a-string", m, body("x"), 400, BAD),
        Case("empty-object", m, body({}), 400, BAD),
        Case("two-input-fields", m, body({"dataframe_records": [ROW], "instances": [ROW]}), 400,
             BAD),
        Case("split-not-object", m, body({"dataframe_split": [[1.0, 2.0]]}), 400, BAD),
        Case("split-extra-key", m, body({"dataframe_split": {**AB, "x": 1}}), 400, BAD),
        Case("split-without-data", m, body({"dataframe_split": {"columns": ["a"]}}), 400, BAD),
        Case("split-rows-too-wide", m,
             body({"dataframe_split": {"columns": ["a"], "data": [[1.0, 2.0]]}}), 400, BAD),
        Case("split-empty-rows", m,
             body({"dataframe_split": {"columns": ["a"], "data": [[]]}}), 400, BAD),
        Case("records-not-list", m, body({"dataframe_records": ROW}), 400, BAD),
        Case("records-empty", m, body({"dataframe_records": []}), 400, INVALID),
        Case("split-index-longer-than-data", m,
             body({"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]],
                                       "index": [0, 1, 2]}}), 400, BAD,
             Differs("an `index` longer than `data`", 200)),
        Case("split-index-shorter-than-data", m,
             body({"dataframe_split": {**AB, "index": [0]}}), 400, BAD),
        Case("split-columns-lists", m,
             body({"dataframe_split": {"columns": [["a"], ["b"]], "data": [[1.0, 2.0]]}}), 400,
             BAD),
        Case("split-columns-list-and-name", m,
             body({"dataframe_split": {"columns": [["a"], "b"], "data": [[1.0, 2.0]]}}), 400,
             BAD, Differs("column names that are lists", 500)),
        Case("text-plain", m, raw(b"a,b\n1,2\n", "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"),
        Case("charset-latin1", m, raw(b"{}", "application/json; charset=latin-1"), 415,
             "UNSUPPORTED_MEDIA_TYPE"),
        Case("charset-upper-case", m,
             raw(json.dumps({"dataframe_records": [ROW]}).encode(), "application/json; "
                 "charset=UTF-8"), 200),
        Case("charset-utf8-alias", m,
             raw(json.dumps({"dataframe_records": [ROW]}).encode(), "application/json; "
                 "charset=utf8"), 200, differs=Differs("`charset=utf8`", 415)),
        Case("content-type-parameter", m, raw(b"{}", "application/json; format=pandas-split"),
             415, "UNSUPPORTED_MEDIA_TYPE"),
        Case("no-content-type", m, raw(json.dumps({"dataframe_records": [ROW]}).encode(), None),
             415, "UNSUPPORTED_MEDIA_TYPE", Differs("without a `Content-Type`", 500)),
        Case("get-invocations", m, get("/invocations"), 405, "METHOD_NOT_ALLOWED"),
        Case("unknown-route", m, get("/nope"), 404, "NOT_FOUND"),
    ]  # fmt: skip


def _typed() -> list[Case]:
    m = "typed"

    def records(**change: Any) -> Request:
        return body({"dataframe_records": [{**TYPED, **change}]})

    return [
        Case("typed-records", m, records(), 200),
        Case("typed-split", m,
             body({"dataframe_split": {"columns": list(TYPED), "data": [list(TYPED.values())]}}),
             200),
        Case("typed-long-beyond-64-bits", m, records(n=2**70), 400, BAD),
        Case("typed-int32-overflow", m, records(i=2**40), 400, BAD,
             Differs("outside the int32 range", 200)),
        Case("typed-fraction-for-long", m, records(n=1.5), 200),
        Case("typed-string-for-long", m, records(n="x"), 400, BAD),
        Case("typed-bad-datetime", m, records(t="not a date"), 400, BAD),
        Case("typed-number-for-string", m, records(s=5), 200),
        Case("typed-null-string", m, records(s=None), 200),
        Case("typed-float32-digits", m, records(f=0.1), 200),
        Case("typed-word-for-boolean", m, records(b="maybe"), 200),
        Case("typed-missing-column", m, body({"dataframe_records": [{"s": "a"}]}), 400, INVALID),
        Case("typed-csv", m, csv(",".join(TYPED) + "\na,2,3,True,2024-01-02,0.5,0.25\n"), 400,
             BAD),
        Case("typed-parquet", m, parquet(**{k: [v] for k, v in TYPED.items()}), 400, INVALID),
    ]  # fmt: skip


def _tensor() -> list[Case]:
    m = "tensor"
    return [
        Case("tensor-inputs", m, body({"inputs": [[1, 2, 3], [4, 5, 6]]}), 200),
        Case("tensor-float32-output", m, body({"inputs": [[0.1, 0.2, 0.3]]}), 200),
        Case("tensor-instances", m, body({"instances": [[1, 2, 3]]}), 200),
        Case("tensor-split", m, body({"dataframe_split": {"data": [[1, 2, 3]]}}), 200),
        Case("tensor-wrong-width", m, body({"inputs": [[1, 2]]}), 400, INVALID),
        Case("tensor-one-dimension", m, body({"inputs": [1, 2, 3]}), 400, INVALID),
        Case("tensor-three-dimensions", m, body({"inputs": [[[1, 2, 3]]]}), 400, INVALID),
        Case("tensor-string", m, body({"inputs": [["a", 2, 3]]}), 400, BAD),
        Case("tensor-ragged", m, body({"inputs": [[1, 2, 3], [4]]}), 400, BAD),
        Case("tensor-big-integer", m, body({"inputs": [[2**70, 1, 2]]}), 200),
        Case("tensor-nan", m, raw(b'{"inputs": [[NaN, Infinity, 1]]}'), 200),
        Case("tensor-csv", m, csv("0,1,2\n1,2,3\n"), 400, BAD),
    ]  # fmt: skip


def _params() -> list[Case]:
    m = "with_params"
    x = [{"x": 1.0}]

    def params(value: Any) -> Request:
        return body({"dataframe_records": x, "params": value})

    return [
        Case("params-valid", m, params({"k": 5, "mode": "mul", "ids": [3]}), 200),
        Case("params-defaults", m, body({"dataframe_records": x}), 200),
        Case("params-null", m, params(None), 200),
        Case("params-empty", m, params({}), 200),
        Case("params-long-as-string", m, params({"k": "five"}), 400, INVALID),
        Case("params-long-as-fraction", m, params({"k": 1.5}), 400, INVALID),
        Case("params-boolean-as-string", m, params({"flag": "yes"}), 400, INVALID),
        Case("params-array-element", m, params({"ids": [1, "a"]}), 400, INVALID),
        Case("params-array-as-scalar", m, params({"ids": 3}), 400, INVALID),
        Case("params-unknown-name", m, params({"unknown": 3}), 200),
        Case("params-a-list", m, params([1]), 400, INVALID),
        Case("params-a-string", m, params("k=1"), 400, INVALID),
        Case("params-big-integer", m, params({"k": 2**70}), 200),
        Case("params-integer-for-double", m, params({"scale": 2}), 200),
        Case("params-in-split", m, body({"dataframe_split": {"columns": ["x"], "data": [[2.0]]},
                                         "params": {"mode": "x"}}), 200),
    ]  # fmt: skip


def _hinted() -> list[Case]:
    lst, pyd, dct = "hinted_list", "hinted_pydantic", "hinted_dict"
    return [
        Case("hinted-list", lst, body({"inputs": ["a", "b"]}), 200),
        Case("hinted-list-unicode", lst, body({"inputs": ["é", "🙂"]}), 200),
        Case("hinted-list-lone-surrogate", lst, raw(b'{"inputs": ["\\ud800x"]}'), 200),
        Case("hinted-list-a-string", lst, body({"inputs": "a"}), 400, INVALID),
        Case("hinted-list-integers", lst, body({"inputs": [1, 2]}), 400, INVALID),
        Case("hinted-list-split", lst,
             body({"dataframe_split": {"columns": ["x"], "data": [["a"]]}}), 400, INVALID),
        Case("hinted-list-instances", lst, body({"instances": ["a"]}), 400, INVALID),
        Case("hinted-list-two-fields", lst, body({"inputs": ["a"], "instances": ["b"]}), 400, BAD,
             Differs("several input fields", 200)),
        Case("hinted-list-csv", lst, csv("x\na\n"), 200),
        Case("hinted-list-params", lst, body({"inputs": ["a"], "params": {"p": 1}}), 200),
        Case("hinted-list-chat", lst, body({"input": ["a"]}), 400, INVALID),
        Case("hinted-pydantic", pyd, body({"inputs": MESSAGES}), 200),
        Case("hinted-pydantic-extra-field", pyd,
             body({"inputs": [{**MESSAGES[0], "name": "x"}]}), 200),
        Case("hinted-pydantic-missing-field", pyd, body({"inputs": [{"role": "user"}]}), 400,
             INVALID),
        Case("hinted-pydantic-wrong-type", pyd,
             body({"inputs": [{**MESSAGES[0], "weight": "heavy"}]}), 400, INVALID),
        Case("hinted-dict", dct, body({"inputs": [{"a": 1.5, "b": 2.5}]}), 200),
        Case("hinted-dict-integer-values", dct, body({"inputs": [{"a": 1}]}), 400, INVALID),
        Case("hinted-dict-not-a-list", dct, body({"inputs": {"a": 1.5}}), 400, INVALID),
    ]  # fmt: skip


def _echo() -> list[Case]:
    m = "echo"
    return [
        Case("echo-split", m, body({"dataframe_split": {"columns": ["a", "b"],
                                                       "data": [[1, "x"], [2.5, None]]}}), 200),
        Case("echo-split-without-columns", m, body({"dataframe_split": {"data": [[1, 2.5]]}}),
             200),
        Case("echo-split-no-rows", m, body({"dataframe_split": {"columns": ["a"], "data": []}}),
             200),
        Case("echo-records-missing-keys", m, body({"dataframe_records": [{"a": 1}, {"b": "x"}]}),
             200),
        Case("echo-records-empty", m, body({"dataframe_records": []}), 200),
        Case("echo-split-columns-not-names", m,
             body({"dataframe_split": {"columns": [["a"]], "data": [[1]]}}), 400, BAD,
             Differs("column names that are lists", 500)),
        Case("echo-records-of-scalars", m, body({"dataframe_records": [1, 2]}), 400, BAD,
             Differs("`dataframe_records` items that are not objects", 200)),
        Case("echo-instances-rows", m, body({"instances": [[1, 2], [3, 4]]}), 200),
        Case("echo-instances-records", m, body({"instances": [{"a": 1}, {"a": 2}]}), 200),
        Case("echo-instances-empty", m, body({"instances": []}), 200),
        Case("echo-instances-null", m, body({"instances": None}), 200),
        Case("echo-inputs-columns", m, body({"inputs": {"a": [1, 2], "b": ["x", "y"]}}), 200),
        Case("echo-inputs-scalar", m, body({"inputs": 5}), 200),
        Case("echo-inputs-string", m, body({"inputs": "text"}), 200),
        Case("echo-inputs-null", m, body({"inputs": None}), 200),
        Case("echo-inputs-big-integers", m, body({"inputs": [2**70, -(2**65), 2**64 - 1]}), 200),
        Case("echo-inputs-nan-infinity", m, raw(b'{"inputs": [NaN, Infinity, -Infinity]}'), 200),
        Case("echo-inputs-ragged", m, body({"inputs": [[1, 2], [3]]}), 400, BAD),
        Case("echo-inputs-nested-40-deep", m, body({"inputs": deep(40)}), 400, BAD,
             Differs("nested deeper than `max_input_depth`", 200)),
        Case("echo-lone-surrogate", m, raw(b'{"inputs": "\\ud800"}'), 200),
        Case("echo-unicode", m, body({"inputs": ["é", "日本", "🙂"]}), 200),
        Case("echo-params-a-list", m, body({"inputs": [[1, 2]], "params": [1]}), 200),
        Case("echo-unknown-field", m, body({"inputs": [1], "model": "x", "id": 7}), 200),
        Case("echo-chat", m, body({"messages": MESSAGES}), 200),
        Case("echo-csv", m, csv("a,b\n1,x\n2.5,\n"), 200),
        Case("echo-csv-with-bom", m, raw(b"\xef\xbb\xbfa,b\n1,x\n", CSV), 200),
        Case("echo-parquet", m, parquet(s=["a"], n=[2], d=[0.5], b=[True]), 200),
        Case("echo-parquet-charset", m,
             Request(parquet(n=[1]).body, f"{PARQUET}; charset=utf-8"), 200),
    ]  # fmt: skip


SHAPES = [
    "array", "int_array", "bool_array", "float32_array", "matrix", "frame", "int_labels",
    "series", "named_series", "dict", "float32_dict", "numpy_dict", "string", "strings",
    "nan_array", "nan_frame", "nan_list", "datetimes", "timestamp", "bytes", "big_int", "none",
    "nested_arrays",
]  # fmt: skip


def _shapes() -> list[Case]:
    cases = [
        Case(f"output-{kind}", "shapes", body({"dataframe_records": [{"kind": kind}] * 2}), 200)
        for kind in SHAPES
    ]
    cases.append(
        Case("output-unencodable", "shapes",
             body({"dataframe_records": [{"kind": "unencodable"}]}), 500, "INTERNAL_ERROR")
    )  # fmt: skip
    return cases


def _raiser() -> list[Case]:
    m = "raiser"

    def x(value: Any) -> Request:
        return body({"dataframe_records": [{"x": value}]})

    return [
        Case("raiser-ok", m, x(0.5), 200),
        Case("raiser-plain-exception", m, x(1), 400, BAD),
        Case("raiser-mlflow-exception-own-code", m, x(2), 429, "RESOURCE_EXHAUSTED"),
        Case("raiser-mlflow-exception-internal", m, x(3), 500, "INTERNAL_ERROR"),
        Case("raiser-missing-column", m, body({"dataframe_records": [{"y": 1.0}]}), 400, INVALID),
        Case("raiser-string", m, x("a"), 400, BAD),
        Case("raiser-chat", m, body({"messages": MESSAGES}), 400, INVALID),
    ]


def _series() -> list[Case]:
    m = "series"
    return [
        Case("series-split-with-index", m, body({"dataframe_split": {**AB, "index": [7, 8]}}),
             200),
        Case("series-records", m, body({"dataframe_records": [ROW]}), 200),
        Case("series-csv", m, csv("a,b\n1,2\n"), 200),
        Case("series-parquet", m, parquet(a=[1.0, 3.0], b=[2.0, 4.0]), 200),
    ]  # fmt: skip


def _chat() -> list[Case]:
    plain, typed = "chat", "chat_params"
    return [
        Case("chat-messages", plain, body({"messages": MESSAGES, "temperature": 0.5}), 200),
        Case("chat-prompt", plain, body({"prompt": "hello", "max_tokens": 3}), 200),
        Case("chat-input", plain, body({"input": ["a", "b"]}), 200),
        Case("chat-wins-over-input-fields", plain,
             body({"input": "a", "dataframe_split": {"data": [[1]]}}), 200),
        Case("chat-any-value", plain, body({"messages": 5}), 200),
        Case("chat-not-chat", plain, body({"inputs": {"q": ["a"]}}), 200),
        Case("chat-params-split", typed, body({"messages": MESSAGES, "temperature": 0.1}), 200),
        Case("chat-params-bad-param", typed, body({"messages": MESSAGES, "temperature": "hot"}),
             400, INVALID),
        Case("chat-params-bad-messages", typed, body({"messages": "hi"}), 400, INVALID),
    ]  # fmt: skip


CASES: list[Case] = [
    *_general(), *_typed(), *_tensor(), *_params(), *_hinted(), *_echo(), *_shapes(),
    *_raiser(), *_series(), *_chat(),
]  # fmt: skip
MODELS: list[str] = sorted({case.model for case in CASES})
