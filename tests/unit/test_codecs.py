"""The request decoders and input limits: every error a client can cause, in one table,
and a fuzz that nothing a client sends escapes as anything but a 4xx."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmserve.errors import WarmserveError
from warmserve.http.codecs import FORMATS, ModelInput, decode_predict
from warmserve.http.limits import InputLimits, nesting_depth_exceeds
from warmserve.http.scoring import decode_invocations
from warmserve.protocol import InputForm

JSON = "application/json"
CSV = "text/csv"
SMALL = InputLimits(max_rows=3, max_columns=3, max_depth=4)
DEFAULT = InputLimits()


def body(document: Any) -> bytes:
    return orjson.dumps(document)


def nested(levels: int) -> Any:
    """A number inside ``levels`` lists."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def split(**fields: Any) -> bytes:
    return body({"dataframe_split": fields})


# (case, route, body, content type, limits, status, error_code, phrase of the message)
ERRORS: list[tuple[str, str, bytes, str | None, InputLimits, int, str, str]] = [
    # the body and the envelope
    ("empty body", "inv", b"", JSON, DEFAULT, 400, "BAD_REQUEST", "the request body is empty"),
    ("malformed JSON", "inv", b'{"instances": [1', JSON, DEFAULT, 400, "BAD_REQUEST",
     "malformed JSON"),
    ("not an object", "inv", b"[1, 2]", JSON, DEFAULT, 400, "BAD_REQUEST", "got list"),
    ("no input field", "inv", b"{}", JSON, DEFAULT, 400, "BAD_REQUEST", "found fields: none"),
    ("two input fields", "inv", body({"instances": [1], "inputs": [1]}), JSON, DEFAULT, 400,
     "BAD_REQUEST", "found fields: inputs, instances"),
    # dataframe_split shapes
    ("split not an object", "inv", body({"dataframe_split": [[1]]}), JSON, DEFAULT, 400,
     "BAD_REQUEST", "dataframe_split must be an object"),
    ("split without data", "inv", split(columns=["a"]), JSON, DEFAULT, 400, "BAD_REQUEST",
     "must have a data field"),
    ("split with an unknown key", "inv", split(data=[[1]], rows=1), JSON, DEFAULT, 400,
     "BAD_REQUEST", "got data, rows"),
    ("split data not a list", "inv", split(data={"a": 1}), JSON, DEFAULT, 400, "BAD_REQUEST",
     "dataframe_split.data must be a list of rows"),
    ("split columns not a list", "inv", split(data=[[1]], columns="a"), JSON, DEFAULT, 400,
     "BAD_REQUEST", "dataframe_split.columns must be a list"),
    ("split index not a list", "inv", split(data=[[1]], index=0), JSON, DEFAULT, 400,
     "BAD_REQUEST", "dataframe_split.index must be a list"),
    ("column names that are not names", "inv", split(data=[[1]], columns=[["a"]]), JSON,
     DEFAULT, 400, "BAD_REQUEST", "must hold names"),
    ("index longer than data", "inv", split(data=[[1]], index=[0, 1]), JSON, DEFAULT, 400,
     "BAD_REQUEST", "index has 2 entries for 1 rows"),
    ("ragged rows with columns", "inv", split(columns=["a", "b"], data=[[1, 2], [1]]), JSON,
     DEFAULT, 400, "BAD_REQUEST", "must have 2 values"),
    ("ragged rows without columns", "inv", split(data=[[1, 2], [1]]), JSON, DEFAULT, 400,
     "BAD_REQUEST", "different lengths"),
    ("only empty rows", "inv", split(data=[[], []]), JSON, DEFAULT, 400, "BAD_REQUEST",
     "holds only empty rows"),
    # dataframe_records, instances, inputs
    ("records not a list", "inv", body({"dataframe_records": {"a": 1}}), JSON, DEFAULT, 400,
     "BAD_REQUEST", "dataframe_records must be a non-empty list of objects"),
    ("a record that is not an object", "inv", body({"dataframe_records": [{"a": 1}, 2]}),
     JSON, DEFAULT, 400, "BAD_REQUEST", "dataframe_records[1] must be an object, got int"),
    ("only empty records", "inv", body({"dataframe_records": [{}, {}]}), JSON, DEFAULT, 400,
     "BAD_REQUEST", "holds only empty objects"),
    # limits
    ("split rows", "inv", split(data=[[1]] * 4), JSON, SMALL, 400, "BAD_REQUEST",
     "dataframe_split.data has 4 rows; the limit is 3 (max_rows)"),
    ("split columns", "inv", split(columns=list("abcd"), data=[[1, 2, 3, 4]]), JSON, SMALL,
     400, "BAD_REQUEST", "dataframe_split.columns has 4 columns; the limit is 3 (max_columns)"),
    ("split row width", "inv", split(data=[[1, 2, 3, 4]]), JSON, SMALL, 400, "BAD_REQUEST",
     "a row of dataframe_split.data has 4 columns"),
    ("records rows", "inv", body({"dataframe_records": [{"a": 1}] * 4}), JSON, SMALL, 400,
     "BAD_REQUEST", "dataframe_records has 4 rows"),
    ("record width", "inv", body({"dataframe_records": [dict.fromkeys("abcd", 1)]}), JSON,
     SMALL, 400, "BAD_REQUEST", "a record of dataframe_records has 4 columns"),
    ("instances rows", "inv", body({"instances": [1, 2, 3, 4]}), JSON, SMALL, 400,
     "BAD_REQUEST", "instances has 4 rows"),
    ("inputs columns", "inv", body({"inputs": {c: [1] for c in "abcd"}}), JSON, SMALL, 400,
     "BAD_REQUEST", "inputs has 4 columns"),
    ("nesting depth", "inv", body({"inputs": nested(4)}), JSON, SMALL, 400, "BAD_REQUEST",
     "more than 4 levels deep (max_input_depth)"),
    ("CSV header", "inv", b"a,b,c,d\n1,2,3,4\n", CSV, SMALL, 400, "BAD_REQUEST",
     "the CSV header has 4 columns"),
    ("CSV rows", "inv", b"a\n1\n2\n3\n4\n", CSV, SMALL, 400, "BAD_REQUEST",
     "the CSV body has 4 rows"),
    ("CSV not UTF-8", "inv", b"a\n\xff\n", CSV, DEFAULT, 400, "BAD_REQUEST", "not valid UTF-8"),
    ("CSV empty", "inv", b" \n \n", CSV, DEFAULT, 400, "BAD_REQUEST", "the CSV body is empty"),
    # content types and charsets
    ("no content type", "inv", body({"instances": [1]}), None, DEFAULT, 415,
     "UNSUPPORTED_MEDIA_TYPE", "missing Content-Type"),
    ("other content type", "inv", body({"instances": [1]}), "text/plain", DEFAULT, 415,
     "UNSUPPORTED_MEDIA_TYPE", "unsupported Content-Type 'text/plain'"),
    ("other charset", "inv", body({"instances": [1]}), "application/json; charset=latin-1",
     DEFAULT, 415, "UNSUPPORTED_MEDIA_TYPE", "unsupported charset 'latin-1'"),
    ("unknown parameter", "inv", body({"instances": [1]}), "application/json; boundary=x",
     DEFAULT, 415, "UNSUPPORTED_MEDIA_TYPE", "unsupported Content-Type parameter 'boundary'"),
    # /predict forms
    ("predict CSV", "predict", b"a\n1\n", CSV, DEFAULT, 415, "UNSUPPORTED_MEDIA_TYPE",
     "/predict takes application/json"),
    ("predict empty body", "predict", b"", JSON, DEFAULT, 400, "BAD_REQUEST",
     "the request body is empty"),
    ("predict a number", "predict", b"1", JSON, DEFAULT, 400, "BAD_REQUEST",
     "the body must be a non-empty list of objects"),
    ("predict an empty list", "predict", b"[]", JSON, DEFAULT, 400, "BAD_REQUEST",
     "the body must be a non-empty list of objects"),
    ("predict a list of numbers", "predict", b"[{\"a\": 1}, 2]", JSON, DEFAULT, 400,
     "BAD_REQUEST", "the body[1] must be an object, got int"),
    ("predict an empty object", "predict", b"{}", JSON, DEFAULT, 400, "BAD_REQUEST",
     "the body holds only empty objects"),
    ("predict rows", "predict", body([{"a": 1}] * 4), JSON, SMALL, 400, "BAD_REQUEST",
     "the body has 4 rows"),
    ("predict depth", "predict", body({"a": nested(4)}), JSON, SMALL, 400, "BAD_REQUEST",
     "more than 4 levels deep"),
]  # fmt: skip

DECODERS = {"inv": decode_invocations, "predict": decode_predict}


@pytest.mark.parametrize(
    ("route", "raw", "content_type", "limits", "status", "code", "phrase"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_every_decoder_error_has_its_status_code_and_message(
    route: str,
    raw: bytes,
    content_type: str | None,
    limits: InputLimits,
    status: int,
    code: str,
    phrase: str,
) -> None:
    with pytest.raises(WarmserveError) as caught:
        DECODERS[route](raw, content_type, limits)
    error = caught.value
    assert (error.status, error.error_code) == (status, code)
    assert phrase in error.message


ACCEPTED: list[tuple[str, bytes, str, ModelInput]] = [
    ("split", split(columns=["a"], data=[[1]], index=[7]), JSON,
     ModelInput(InputForm.SPLIT, {"columns": ["a"], "data": [[1]], "index": [7]})),
    ("records with params", body({"dataframe_records": [{"a": 1}], "params": {"k": 2}}),
     'Application/JSON; charset="UTF-8"', ModelInput(InputForm.RECORDS, [{"a": 1}], {"k": 2})),
    # as MLflow's scoring server: params go to the model's own check, whatever they are,
    # and fields next to the input field are ignored (tests/e2e/parity_cases.py compares)
    ("params as sent", body({"instances": [[1]], "params": {}}), "application/json;",
     ModelInput(InputForm.INSTANCES, [[1]], {})),
    ("an unknown field next to the input", body({"instances": [1], "extra": 1}), JSON,
     ModelInput(InputForm.INSTANCES, [1])),
    ("params that are not an object", body({"instances": [1], "params": [1]}), JSON,
     ModelInput(InputForm.INSTANCES, [1], [1])),
    ("null inputs reach the model", body({"inputs": None}), JSON,
     ModelInput(InputForm.INPUTS, None)),
    ("inputs as columns", body({"inputs": {"a": [1, 2]}}), "application/json; charset=utf8",
     ModelInput(InputForm.INPUTS, {"a": [1, 2]})),
    ("CSV", b"a,b\n1,2\n", "text/csv; charset=utf-8", ModelInput(InputForm.CSV, "a,b\n1,2\n")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_accepted_invocations_bodies(raw: bytes, content_type: str, expected: ModelInput) -> None:
    assert decode_invocations(raw, content_type, DEFAULT) == expected


@pytest.mark.parametrize("text", ["a\n1\n2\n3\n", "a\n1\n2\n3", "a,b\n1,2\n"])
def test_a_csv_within_the_limits_passes_whatever_its_last_line(text: str) -> None:
    """max_rows counts data rows: the header is not a row, nor a missing final newline."""
    decoded = decode_invocations(text.encode(), CSV, SMALL)
    assert decoded == ModelInput(InputForm.CSV, text)


def test_predict_takes_one_record_or_a_list_of_records() -> None:
    one = decode_predict(b'{"a": 1}', JSON, DEFAULT)
    many = decode_predict(b'[{"a": 1}, {"a": 2}]', JSON, DEFAULT)
    assert one == ModelInput(InputForm.RECORDS, [{"a": 1}])
    assert many == ModelInput(InputForm.RECORDS, [{"a": 1}, {"a": 2}])


# --- fuzz: nothing a client sends escapes as anything but a 4xx --------------------------

SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
JSON_VALUES = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=30,
)
SPLIT_LIKE = st.dictionaries(
    st.sampled_from(["columns", "data", "index", "other"]),
    JSON_VALUES | st.lists(st.lists(SCALAR, max_size=4), max_size=5),
    max_size=4,
)
ENVELOPES = st.dictionaries(
    st.sampled_from([*FORMATS, "params", "other"]),
    JSON_VALUES | SPLIT_LIKE | st.lists(st.dictionaries(st.text(max_size=2), SCALAR), max_size=4),
    max_size=3,
)
CONTENT_TYPES = (
    st.none()
    | st.text(max_size=30)
    | st.sampled_from(
        [JSON, CSV, "application/json; charset=utf-8", "text/csv; charset=latin-1", "text/plain"]
    )
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decodes_or_fails_with_4xx(raw: bytes, content_type: str | None) -> None:
    for decode in (decode_invocations, decode_predict):
        for limits in (SMALL, DEFAULT):
            try:
                result = decode(raw, content_type, limits)
            except WarmserveError as exc:
                assert 400 <= exc.status < 500, (exc.status, exc.message)
            else:
                assert isinstance(result, ModelInput)


@FUZZ
@given(raw=st.binary(max_size=200), content_type=CONTENT_TYPES)
def test_any_bytes_decode_or_fail_with_a_4xx(raw: bytes, content_type: str | None) -> None:
    decodes_or_fails_with_4xx(raw, content_type)


@FUZZ
@given(document=JSON_VALUES | ENVELOPES, content_type=CONTENT_TYPES)
def test_any_json_value_decodes_or_fails_with_a_4xx(
    document: Any, content_type: str | None
) -> None:
    decodes_or_fails_with_4xx(orjson.dumps(document), content_type)


@FUZZ
@given(text=st.text(max_size=60))
def test_any_csv_text_decodes_or_fails_with_a_4xx(text: str) -> None:
    decodes_or_fails_with_4xx(text.encode("utf-8", "surrogatepass"), CSV)


def naive_depth(value: Any) -> int:
    """Levels of lists/objects: a scalar is 0, an empty container 1."""
    if isinstance(value, list):
        return 1 + max(map(naive_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(naive_depth, value.values()), default=0)
    return 0


@FUZZ
@given(document=JSON_VALUES, limit=st.integers(min_value=0, max_value=8))
def test_nesting_depth_agrees_with_a_naive_recursive_depth(document: Any, limit: int) -> None:
    assert nesting_depth_exceeds(document, limit) == (naive_depth(document) > limit)


def test_nesting_depth_of_a_body_too_deep_to_recurse() -> None:
    deep = nested(5000)
    assert nesting_depth_exceeds(deep, 32)
    assert not nesting_depth_exceeds(deep, 5000)
