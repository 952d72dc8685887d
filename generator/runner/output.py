"""Thread-safe progress lines: `[resource] message`, with elapsed times."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def elapsed(seconds: float) -> str:
    """`1m05s` style."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class Printer:
    """Prints whole lines from many threads without interleaving."""

    def __init__(self, stream: TextIO | None = None, err: TextIO | None = None):
        self._out = stream
        self._err = err
        self._lock = threading.Lock()
        self.start = time.monotonic()

    def line(self, tag: str, message: str, *, error: bool = False) -> None:
        """Print `[tag] message` (to stderr when `error`)."""
        stream = (self._err or sys.stderr) if error else (self._out or sys.stdout)
        with self._lock:
            stream.write((f"[{tag}] " if tag else "") + message + "\n")
            stream.flush()
