"""/invocations bodies are read as MLflow's scoring server reads them (in the HTTP worker,
without the model): which envelope, which input form, what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlflow.pyfunc.utils.serving_data_parser import SUPPORTED_LLM_FORMATS

from warmserve.errors import BadRequest, UnsupportedMediaType
from warmserve.http.codecs import ModelInput
from warmserve.http.limits import InputLimits
from warmserve.http.routes import Prediction, invocations_envelope
from warmserve.http.scoring import LLM_KEYS, PARQUET, decode_invocations
from warmserve.protocol import InputForm

LIMITS = InputLimits()


def decode(body: bytes | Any, content_type: str = "application/json") -> ModelInput:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return decode_invocations(raw, content_type, LIMITS)


def test_the_chat_keys_are_mlflows() -> None:
    assert set(LLM_KEYS) == set(SUPPORTED_LLM_FORMATS)


@pytest.mark.parametrize("key", LLM_KEYS)
def test_a_chat_body_goes_whole_and_is_answered_bare(key: str) -> None:
    document = {key: [{"role": "user", "content": "hi"}], "temperature": 0.1, "inputs": [1]}
    found = decode(document)
    assert found == ModelInput(InputForm.LLM, document, bare=True)
    prediction = Prediction(b'{"choices":[]}', "1", "m", cached=False, bare=found.bare)
    assert invocations_envelope(prediction) == b'{"choices":[]}'


def test_unknown_top_level_fields_are_ignored_and_params_kept_as_sent() -> None:
    found = decode({"inputs": [1], "id": "x", "params": [1, 2]})
    assert found == ModelInput(InputForm.INPUTS, [1], [1, 2])
    assert invocations_envelope(Prediction(b"[1]", "1", None, False)) == b'{"predictions":[1]}'


@pytest.mark.parametrize(
    "document",
    [{}, {"data": [[1]]}, {"inputs": [1], "instances": [1]}, [1], "x", 5],
    ids=["empty", "unknown only", "two fields", "a list", "a string", "a number"],
)
def test_anything_but_one_input_field_is_refused(document: Any) -> None:
    with pytest.raises(BadRequest):
        decode(document)


def test_integers_beyond_64_bits_are_read_exactly() -> None:
    found = decode(b'{"inputs": [123456789012345678901234567890, -18446744073709551617, 1.5]}')
    assert found.data == [123456789012345678901234567890, -18446744073709551617, 1.5]
    assert found.cacheable  # the cache key writes big integers exactly
    assert decode({"inputs": [0.1234567890123456789]}).data == [0.12345678901234568]


@pytest.mark.parametrize("text", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_nan_and_infinity_are_read_as_mlflow_reads_them_and_not_cached(text: bytes) -> None:
    found = decode(b'{"inputs": [' + text + b", null]}")
    assert str(found.data[0]) == str(float(text))
    assert not found.cacheable  # the cache key would write them as null


def test_a_byte_order_mark_and_utf16_are_accepted() -> None:
    assert decode(b'\xef\xbb\xbf{"inputs": [1]}') == ModelInput(InputForm.INPUTS, [1])
    assert decode('{"inputs": [1]}'.encode("utf-16")).data == [1]


@pytest.mark.parametrize(
    "body", [b"", b'{"inputs": ', b'{"inputs": "\xff"}', b"[" * 5000 + b"]" * 5000]
)
def test_malformed_json_is_a_400(body: bytes) -> None:
    with pytest.raises(BadRequest):
        decode(body)


def test_null_and_empty_inputs_reach_the_model_as_mlflow_passes_them() -> None:
    assert decode({"inputs": None}).data is None
    assert decode({"dataframe_records": []}) == ModelInput(InputForm.RECORDS, [])


def test_parquet_bodies_are_passed_as_bytes() -> None:
    found = decode(b"PAR1...PAR1", PARQUET)
    assert found == ModelInput(InputForm.PARQUET, b"PAR1...PAR1")
    with pytest.raises(BadRequest):
        decode(b"", PARQUET)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/json; charset=latin-1", "application/json; format=split", ""],
)
def test_other_content_types_are_a_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        decode({"inputs": [1]}, content_type)
