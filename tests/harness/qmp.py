"""A small synchronous facade over qemu.qmp's asyncio QMPClient.

Each session runs its own event loop in a daemon thread, so plain (non-async)
pytest tests can drive several QEMU processes at once without pytest-asyncio,
and one QEMU dying mid-migration cannot wedge another session's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from qemu.qmp import QMPClient
from qemu.qmp.protocol import ConnectError

T = TypeVar("T")


class QMPSessionError(RuntimeError):
    """Could not reach or talk to a QEMU monitor."""


class QMPSession:
    """One QMP connection; every call blocks until QEMU answers or times out."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"qmp-{name}", daemon=True
        )
        self._thread.start()
        # Created on the loop's thread: QMPClient's asyncio primitives belong there.
        self._client: QMPClient = self._run(self._make_client(name), timeout=10.0)
        self._connected = False

    @staticmethod
    async def _make_client(name: str) -> QMPClient:
        return QMPClient(name)

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise QMPSessionError(f"QMP {self.name}: no answer within {timeout:.0f}s") from None

    def connect(self, socket_path: str, timeout: float, alive: Callable[[], bool]) -> None:
        """Connect, retrying while QEMU is still creating its socket.

        ``alive`` lets the retry loop stop as soon as QEMU has exited instead
        of waiting out the whole timeout.
        """
        deadline = time.monotonic() + timeout
        # Wait for the socket file first: connecting earlier works too but makes
        # qemu.qmp log an ERROR per attempt, which buries real failures.
        while not os.path.exists(socket_path) and alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        while True:
            try:
                self._run(self._client.connect(socket_path), timeout=10.0)
                self._connected = True
                return
            except ConnectError as exc:
                if not alive():
                    raise QMPSessionError(f"QMP {self.name}: QEMU exited before its monitor answered") from exc
                if time.monotonic() > deadline:
                    raise QMPSessionError(f"QMP {self.name}: cannot connect to {socket_path}: {exc}") from exc
                time.sleep(0.05)

    def execute(self, command: str, arguments: Mapping[str, object] | None = None,
                timeout: float = 30.0) -> object:
        """Run one QMP command and return its ``return`` value.

        Raises qemu.qmp.ExecuteError for a QMP error reply.
        """
        if not self._connected:
            raise QMPSessionError(f"QMP {self.name}: not connected")
        return self._run(self._client.execute(command, arguments), timeout=timeout)

    def execute_dict(self, command: str, arguments: Mapping[str, object] | None = None,
                     timeout: float = 30.0) -> dict[str, Any]:
        result = self.execute(command, arguments, timeout)
        if not isinstance(result, dict):
            raise QMPSessionError(f"QMP {self.name}: {command} returned {type(result).__name__}, not an object")
        return result

    def close(self) -> None:
        """Disconnect and stop the loop; safe to call twice and after QEMU died."""
        if self._loop.is_closed():
            return
        if self._connected:
            self._connected = False
            try:
                self._run(self._client.disconnect(), timeout=10.0)
            except Exception:  # noqa: BLE001 - EOF/reset after QEMU exited is expected
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10.0)
        if not self._thread.is_alive():
            self._loop.close()
