"""Waiting for a QEMU monitor socket to accept connections.

QEMU's socket file appears at bind(), a moment before listen(): a client that
connects as soon as the file exists is sometimes refused, more often the busier
the machine. /proc/net/unix shows when the socket really listens.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_ACCEPTCON = 0x10000  # __SO_ACCEPTCON in the flags column: the socket listens


def listening(path: str) -> bool:
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as fh:
            next(fh, None)
            for line in fh:
                cols = line.split()
                if len(cols) >= 8 and cols[7] == path and int(cols[3], 16) & _ACCEPTCON:
                    return True
    except OSError:
        return False
    return False


def wait_listening(paths: list[str], timeout: float, alive: Callable[[], bool]) -> bool:
    """True once every path listens; False when the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while not all(listening(p) for p in paths):
        if not alive() or time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
