"""Writing files other programs read while we write them (nfd-worker, nova-compute, browsers)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from vmplatform.errors import VmplatformError


def write_atomically(path: Path, text: str, mode: int = 0o644, *,
                     error: Callable[[str, str], VmplatformError] = VmplatformError,
                     hint: str = "create the directory or pass another path") -> None:
    """A temporary dot-file in the target's directory, renamed over it: readers see old or new, never half.

    ``error`` and ``hint`` shape the error when the directory cannot be written.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise error(f"{path.parent}: cannot write there: {err.strerror}", hint) from err
    replaced = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        replaced = True
    finally:  # on any failure (a full disk, an interrupt) the dot-file goes; the error goes on
        if not replaced:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
