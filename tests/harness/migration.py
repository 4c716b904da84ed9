"""Live migration between two Guests on this host over a unix socket."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .guest import Guest, GuestError

# query-migrate statuses after which nothing more will happen on the source.
FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class MigrationResult:
    """What the *source* believes: note a "completed" source says nothing about
    whether the destination could load the state (the USO failure mode)."""

    status: str
    info: dict[str, Any]
    seconds: float


def migrate(src: Guest, dst: Guest, timeout: float = 120.0) -> MigrationResult:
    """migrate-incoming on dst (started with incoming_defer), migrate on src,
    then poll the source's query-migrate until it reaches a final status."""
    if not dst.incoming_defer:
        raise GuestError(f"{dst.name}: destination must be started with incoming_defer=True")
    uri = dst.incoming_uri
    started = time.monotonic()
    # Returns once dst listens, so the source's connect cannot race it.
    dst.qmp.execute("migrate-incoming", {"uri": uri})
    src.qmp.execute("migrate", {"uri": uri})
    deadline = started + timeout
    while True:
        info = src.qmp.execute_dict("query-migrate")
        status = str(info.get("status", ""))
        if status in FINAL_STATUSES:
            return MigrationResult(status, info, time.monotonic() - started)
        if time.monotonic() > deadline:
            raise GuestError(f"migration {src.name} -> {dst.name} still {status!r} after {timeout:.0f}s: {info}")
        time.sleep(0.1)
