"""Progress a person can follow: a bar on a terminal, one log line per phase otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

log = logging.getLogger("warmserve.trainer")

RUN_PHASES = ("training", "evaluated", "registered", "decided")


class RunProgress:
    """The phases of one training run: training, evaluated, registered, promoted/held back."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.bar: Any = None
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=len(RUN_PHASES), desc=label, file=self.stream, leave=True)

    def phase(self, name: str, detail: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{name}: {detail}", refresh=False)
            self.bar.update(1)
        else:
            log.info("%s %s: %s", self.label, name, detail)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
