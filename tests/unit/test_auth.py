"""The admin-token check never raises, whatever a client puts in Authorization."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from warmserve.auth import MAX_HEADER, bearer_token_matches

TOKEN = SecretStr("s3cret-tøken")


@given(st.one_of(st.none(), st.text(), st.binary()), st.one_of(st.none(), st.text()))
def test_never_raises(header: str | bytes | None, expected: str | None) -> None:
    result = bearer_token_matches(header, None if expected is None else SecretStr(expected))
    assert result is (expected is None) or isinstance(result, bool)


@given(st.text(min_size=1).filter(lambda t: t.strip() != "s3cret-tøken"))
def test_only_the_exact_token_matches(token: str) -> None:
    assert not bearer_token_matches(f"Bearer {token}", TOKEN)


def test_accepted_forms() -> None:
    utf8 = "Bearer s3cret-tøken".encode()
    assert bearer_token_matches(utf8, TOKEN)
    assert bearer_token_matches(utf8.decode("latin-1"), TOKEN)  # as an ASGI server decodes it
    assert bearer_token_matches("bearer   plain-ascii ", SecretStr("plain-ascii"))
    assert bearer_token_matches(None, None) and bearer_token_matches("anything", None)


def test_refused_forms() -> None:
    for header in (
        None,
        "",
        "s3cret-tøken",
        "Basic s3cret-tøken",
        "Bearer",
        "Bearer \udcff\ud800",  # lone surrogates
        b"Bearer \xff\xfe",
        "Bearer " + "x" * (MAX_HEADER + 1),
        b"Bearer " + b"x" * 10 * MAX_HEADER,
    ):
        assert not bearer_token_matches(header, TOKEN), header
    assert not bearer_token_matches("Bearer ", SecretStr(""))  # an empty token matches nothing
