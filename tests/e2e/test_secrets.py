"""Secrets never shown, and no header value can make an admin route fail.

A real server whose tracking URI carries a password and points at a closed port:
the registry error travels through MLflow's and requests' exceptions, which quote
the URL. Neither the answers nor any line of the log may contain the password.
"""

from __future__ import annotations

from pathlib import Path

from support import Server, free_port, raw_request, status_of, wait_until

PASSWORD = "s3cret-registry-pw"
TOKEN = "admin-token-1"


def test_registry_password_and_odd_authorization_headers(tmp_path: Path) -> None:
    uri = f"http://mlflow-user:{PASSWORD}@127.0.0.1:{free_port()}"
    server = Server(
        tmp_path / "home", "--model", "models:/churn@production", "--tracking-uri", uri,
        "--load-retry-interval", "0.5", env={"WARMSERVE_ADMIN_TOKEN": TOKEN},
    )  # fmt: skip
    try:
        model = wait_until(
            lambda: (m := server.client.get("/model")).json().get("registry_error") and m,
            what="the registry error to be reported",
        )
        assert "mlflow-user:***@127.0.0.1" in model.text  # the URL is there, redacted
        assert PASSWORD not in model.text

        reload = server.client.post(
            "/reload", params={"wait": "true"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert reload.status_code == 200, reload.text
        assert reload.json()["error"] and PASSWORD not in reload.text

        for value in (b"Bearer \xff\xfe\xe9", b"Bearer " + "tøken".encode(), b"\x80", b"B" * 9000):
            answer = raw_request(
                server.url,
                b"POST /reload HTTP/1.1\r\nHost: x\r\nAuthorization: " + value
                + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )  # fmt: skip
            assert status_of(answer) == 401, answer
            assert b'"error_code":"UNAUTHORIZED"' in answer
        assert server.client.get("/health/live").status_code == 200
    finally:
        server.stop()
    log = server.log()
    assert "mlflow-user:***@" in log  # the error was logged, redacted
    assert PASSWORD not in log
    assert "Traceback" not in log
