"""The README's examples run as tests, so the documentation cannot drift.

Every fenced block after a `<!-- readme-test -->` marker is run in order:
`warmserve serve ...` starts a real server, other `warmserve ...` lines run the
CLI, `curl ...` lines run with bash against that server and must answer JSON
that is not an error.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from support import ROOT, Server, cli
from warmserve.settings import Settings

MARKER = "<!-- readme-test -->"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    commands: list[str] = []
    for chunk in text.split(MARKER)[1:]:
        block = re.search(r"```bash\n(.*?)```", chunk, re.S)
        assert block, "a readme-test marker must precede a bash block"
        joined = block.group(1).replace("\\\n", " ")
        commands += [line.strip() for line in joined.splitlines() if line.strip()]
    return commands


def test_readme_names_the_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "./scripts/demo.sh" in text and "./scripts/test.sh" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"WARMSERVE_{name.upper()}" in text, name
        assert "--" + name.replace("_", "-") in text, name


def test_readme_examples_run(tmp_path: Path) -> None:
    commands = readme_commands()
    assert any(c.startswith("curl") for c in commands)
    home = tmp_path / "home"
    server: Server | None = None
    try:
        for command in commands:
            words = shlex.split(command)
            if words[:2] == ["warmserve", "serve"]:
                server = Server(home, *words[2:])
                server.wait_ready()
            elif words[0] == "warmserve":
                cli(home, *words[1:])
            elif words[0] == "curl":
                assert server is not None, "a curl example before the server starts"
                host = server.url.removeprefix("http://")
                line = command.replace("localhost:8000", host)
                result = subprocess.run(
                    ["bash", "-c", line], capture_output=True, text=True, timeout=120
                )
                assert result.returncode == 0, (command, result.stderr)
                answer = json.loads(result.stdout)
                # warmserve's errors, and the v2 routes' {"error": "..."}
                assert "error_code" not in answer and not answer.get("error"), (command, answer)
            else:
                raise AssertionError(f"the README test does not know how to run: {command}")
    finally:
        if server is not None:
            assert server.stop() == 0
