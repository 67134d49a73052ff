"""Hide credentials inside any text before it is shown: answers, logs, errors.

MLflow, requests and SQLAlchemy put the URL they were given into their error
messages, password included, and pydantic echoes invalid inputs. Rather than
trusting every source to be careful, everything that leaves the server goes
through :func:`redact`. It imports nothing of warmserve, so any layer may use it.

What is hidden:

- the password of a URL's user info: ``scheme://user:pw@host`` ->
  ``scheme://user:***@host`` (a password containing ``@`` is hidden whole, as
  ``urllib.parse`` would split it at the last ``@``);
- values of credential-like parameters in query strings and ``key=value``
  lists: ``?password=..``, ``&token=..``, ``access_token=``, ``api_key=``,
  ``secret=``, ``sig=``, ``X-Amz-Signature=`` ... -> ``name=***``.

A user name alone (``scheme://user@host``) is not a secret and is kept.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:password@  -- the password runs to the last "@" of the authority
# (an "@" is part of it only while another "@" follows before the authority ends).
_URL_USERINFO = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@]*:)"
    r"(?P<secret>(?:[^\s/?#@]|@(?=[^\s/?#]*@))*)"
    r"(?=@)"
)

# name=value where the name says it holds a credential. In a query string (after
# ?, & or ;) any name containing one of the words counts; in free text, so that
# prose like "cache key=..." survives, only names that are clearly credentials.
_WORDS = r"password|passwd|pwd|secret|token|key|sig|signature|credential|auth"
_QUERY_PARAM = re.compile(
    rf"(?P<head>[?&;][\w.\-]*?(?:{_WORDS})[\w.\-]*=)(?P<value>[^&#\s'\"]+)",
    re.IGNORECASE,
)
_TEXT_PARAM = re.compile(
    r"(?P<head>(?<![\w.\-?&;])(?:password|passwd|pwd|secret|client_secret|token|access_token"
    r"|refresh_token|api_key|apikey)\s*=\s*)(?P<value>[^\s&,;'\"]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with every credential found in it replaced by ``***``."""
    if "=" not in text and "://" not in text:
        return text  # the common case (a log line without URL or parameters): no regex
    for pattern in (_URL_USERINFO, _QUERY_PARAM, _TEXT_PARAM):
        text = pattern.sub(_keep_head, text)
    return text


def _keep_head(match: re.Match[str]) -> str:
    return match.group("head") + MASK
