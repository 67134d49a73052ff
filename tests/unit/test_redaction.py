"""Secrets never shown: the redaction function, the log filter, settings errors, the CLI."""

from __future__ import annotations

import io
import logging
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmserve.cli import main
from warmserve.logs import RedactingFilter
from warmserve.redaction import MASK, redact
from warmserve.settings import Settings

# What may appear in each part of a URL's authority (no separators, no whitespace).
SUBDELIMS = "-._~%!$&'()*+,;="
NAME = st.text(string.ascii_letters + string.digits + SUBDELIMS, max_size=12)
HOST = st.from_regex(r"[a-z][a-z0-9.\-]{0,20}(:[0-9]{1,5})?", fullmatch=True)
SCHEME = st.sampled_from(["http", "https", "postgresql+psycopg2", "mysql", "redis", "s3", "ftp"])
SECRET = st.text(string.ascii_letters + string.digits + SUBDELIMS + ":@", min_size=1, max_size=24)
PROSE = st.text(string.ascii_letters + string.digits + " .,()[]", max_size=30)


@given(SCHEME, NAME, SECRET, HOST, PROSE, PROSE)
def test_the_password_of_any_url_in_any_text_is_hidden(
    scheme: str, user: str, secret: str, host: str, before: str, after: str
) -> None:
    url = f"{scheme}://{user}:{secret}@{host}/api/2.0?x=1"
    text = f"{before} {url} {after}"
    assert redact(text) == f"{before} {scheme}://{user}:{MASK}@{host}/api/2.0?x=1 {after}"


@given(st.text(max_size=200))
def test_redaction_is_idempotent_and_never_raises(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@given(st.text(string.ascii_letters + string.digits + " .,:;!()[]-_", max_size=200))
def test_text_without_urls_or_parameters_is_unchanged(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:s3cret@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        ("http://u:p@ss@host:5000/x", f"http://u:{MASK}@host:5000/x"),  # '@' inside
        ("'http://u:s3cret@h'", f"'http://u:{MASK}@h'"),
        ("https://host/a?token=s3cret&page=2", f"https://host/a?token={MASK}&page=2"),
        ("https://h/b?access_token=s3cret#frag", f"https://h/b?access_token={MASK}#frag"),
        (
            "https://h/c?X-Amz-Signature=s3cret&key=s3cret",
            f"https://h/c?X-Amz-Signature={MASK}&key={MASK}",
        ),
        ("dsn host=db password=s3cret user=me", f"dsn host=db password={MASK} user=me"),
        ("api_key = s3cret, then", f"api_key = {MASK}, then"),
        # kept: a user name alone, a port, prose about keys
        ("http://alice@host:80/x", "http://alice@host:80/x"),
        ("http://127.0.0.1:5000/api", "http://127.0.0.1:5000/api"),
        ("the cache key=abc was missed", "the cache key=abc was missed"),
    ],
)
def test_known_forms(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_log_filter_redacts_message_arguments_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("registry at %s is down", "http://u:s3cret@h:1")
        try:
            raise ConnectionError("GET http://u:s3cret@h:1/x failed")
        except ConnectionError:
            logger.exception("failed")
        logger.warning("bad format %d", "not a number")  # must not be dropped or raise
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "s3cret" not in text
    assert f"http://u:{MASK}@h:1" in text and "ConnectionError" in text


def test_invalid_setting_is_not_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError) as caught:
        Settings(cache="memcached://user:s3cret@cache:11211")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--cache", "memcached://user:s3cret@cache:11211", "--port", "x:s3cret"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "invalid setting" in err and "s3cret" not in err
