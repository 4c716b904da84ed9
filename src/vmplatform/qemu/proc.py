"""Run a QEMU process with a private QMP socket, driven through :mod:`vmplatform.qemu.qmp_boundary`.

Used to import machine types and, in tests and benchmarks, to ask a real
QEMU what it offers. The process is always reaped; a QEMU that exits early
becomes a :class:`QemuError` carrying its stderr.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from types import TracebackType

from vmplatform.errors import QemuError
from vmplatform.qemu.binary import QEMU_ENV, find_qemu  # noqa: F401  (re-exported)
from vmplatform.qemu.qmp_boundary import QmpConnectError, QmpLostError, QmpReplyError, QmpSession, require_library


class QemuProcess:
    """``async with QemuProcess(binary, args) as q: await q.qmp.execute(...)``."""

    def __init__(self, binary: str, args: Sequence[str], *, env: Mapping[str, str] | None = None,
                 timeout: float = 20.0) -> None:
        self.binary = binary
        self.args = list(args)
        self.env = dict(env) if env is not None else None
        self.timeout = timeout
        self._dir = tempfile.mkdtemp(prefix="vmplatform-qmp-")
        self.socket = os.path.join(self._dir, "qmp.sock")
        self.proc: asyncio.subprocess.Process | None = None
        self._qmp: QmpSession | None = None
        self.stderr = ""

    @property
    def qmp(self) -> QmpSession:
        assert self._qmp is not None, "QemuProcess is not started"
        return self._qmp

    async def start(self) -> None:
        require_library()  # before QEMU starts: without qemu.qmp nobody could stop it
        argv = [self.binary, *self.args, "-qmp", f"unix:{self.socket},server=on,wait=off"]
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, env=self.env)
        except OSError as err:
            raise QemuError(f"cannot start {self.binary}: {err.strerror}") from err
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not os.path.exists(self.socket):
            if self.proc.returncode is not None or loop.time() > deadline:
                await self._fail("QEMU did not open its QMP socket")
            await asyncio.sleep(0.005)
            if self.proc.returncode is None:
                try:
                    await asyncio.wait_for(self.proc.wait(), 0.0001)
                except TimeoutError:
                    pass
        while True:
            # The socket file appears at bind(), before QEMU listens: a connect in
            # between is refused, so retry until the deadline.
            try:
                self._qmp = await QmpSession.connect(self.socket, timeout=max(deadline - loop.time(), 0.1))
                break
            except QmpConnectError as err:
                if not err.refused or self.proc.returncode is not None or loop.time() > deadline:
                    await self._fail(err.message)
                await asyncio.sleep(0.01)

    async def _fail(self, what: str) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # it did not come up: no point waiting for a clean exit
        await self.stop()
        detail = self.stderr.strip()
        raise QemuError(f"{what}" + (f"; QEMU said: {detail}" if detail else ""),
                        "check the QEMU command line and that the binary works")

    async def stop(self) -> None:
        if self._qmp is not None:
            await self._qmp.disconnect()  # QEMU quitting closes the socket under us: never raises
            self._qmp = None
        if self.proc is not None:
            if self.proc.returncode is None:
                try:
                    await asyncio.wait_for(self.proc.wait(), 5)
                except TimeoutError:
                    self.proc.kill()
                    await self.proc.wait()
            if self.proc.stderr is not None:
                self.stderr = (await self.proc.stderr.read()).decode(errors="replace")
        shutil.rmtree(self._dir, ignore_errors=True)

    async def __aenter__(self) -> QemuProcess:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.proc is not None and self.proc.returncode is None and self._qmp is not None:
            try:
                await self._qmp.execute("quit")
            except (QmpReplyError, QmpLostError):
                pass  # QEMU refused or went first: stop() below reaps it either way
        await self.stop()
