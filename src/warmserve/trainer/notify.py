"""Tell the API a new version was promoted: POST {url}/reload with the admin token.

Only a shortcut: the API's own watcher polls the registry and stays the source of
truth, so a failed notification is logged and otherwise ignored.
"""

from __future__ import annotations

import logging

import httpx
from pydantic import SecretStr

log = logging.getLogger("warmserve.trainer")
TIMEOUT = 10.0


def notify_reload(url: str, token: SecretStr | None, version: str) -> bool:
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
    target = url.rstrip("/") + "/reload"
    try:
        response = httpx.post(target, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        log.warning("could not notify %s of version %s: %s", target, version, exc)
        return False
    if response.status_code >= 400:
        log.warning("%s answered %d to the notification: %s", target, response.status_code,
                    response.text[:200])  # fmt: skip
        return False
    log.info("notified %s: version %s promoted", target, version)
    return True
