"""Helpers for the QMP endpoint tests: a real QEMU with two monitors, raw and
qemu.qmp clients, and an in-process endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tests.harness import paths
from tests.harness.sockets import wait_listening
from vmplatform.qmp.endpoint import Endpoint
from vmplatform.qmp.local import LocalCommands

T = TypeVar("T")

QEMU_ARGS = ["-machine", "pc-q35-10.0,accel=tcg", "-nodefaults", "-display", "none", "-S",
             "-netdev", "tap,id=n0,script=no,downscript=no",
             "-device", "virtio-net-pci,netdev=n0,id=net0"]
NET0 = "/machine/peripheral/net0/virtio-backend"


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """asyncio.run with a deadline, so a hung test fails instead of wedging the run."""
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro
    return asyncio.run(bounded())


class Qemu:
    """QEMU (-S, TCG, one virtio-net on TAP) with two QMP monitors.

    ``upstream`` is for the endpoint, ``direct`` for comparing with QEMU
    itself: a -qmp monitor serves one client at a time, each monitor gets
    every event.
    """

    def __init__(self, args: Sequence[str] = QEMU_ARGS, *, launcher: Sequence[str] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        """``launcher`` replaces the binary (e.g. ``vmplatform qemu ...``, which execs QEMU)."""
        binary = paths.qemu_binary()
        assert binary is not None
        self.dir = Path(tempfile.mkdtemp(prefix="vmplatform-qmp-test-"))
        self.upstream = str(self.dir / "qemu-a.sock")
        self.direct = str(self.dir / "qemu-b.sock")
        self.listen = str(self.dir / "endpoint.sock")
        self.stderr_path = self.dir / "qemu.stderr"
        argv = [*(launcher if launcher is not None else [binary]), *args,
                "-qmp", f"unix:{self.upstream},server=on,wait=off",
                "-qmp", f"unix:{self.direct},server=on,wait=off"]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         env=dict(env) if env is not None else None)
        if not wait_listening([self.upstream, self.direct], 30, lambda: self.proc.poll() is None):
            self.close()
            raise RuntimeError(f"QEMU did not start: {self.stderr()}")

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def endpoint(qemu: Qemu, local: LocalCommands) -> AsyncIterator[Endpoint]:
    async with Endpoint(qemu.upstream, qemu.listen, local) as ep:
        yield ep


@contextlib.asynccontextmanager
async def qmp_client(path: str, name: str = "test") -> AsyncIterator[Any]:
    """A connected qemu.qmp QMPClient, always disconnected afterwards."""
    from qemu.qmp import QMPClient

    client = QMPClient(name)
    await client.connect(path)
    try:
        yield client
    finally:
        await client.disconnect()


class RawClient:
    """A bare socket client: bytes in, parsed lines out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.greeting: dict[str, Any] = {}

    @classmethod
    async def connect(cls, path: str, negotiate: bool = False) -> RawClient:
        reader, writer = await asyncio.open_unix_connection(path, limit=16 << 20)
        client = cls(reader, writer)
        client.greeting = await client.recv()
        if negotiate:
            await client.send(b'{"execute": "qmp_capabilities"}\n')
            assert await client.recv() == {"return": {}}
        return client

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = 10.0, events: bool = False) -> dict[str, Any]:
        """The next message (skipping events unless ``events``)."""
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            assert line, "connection closed"
            assert line.endswith(b"\r\n"), line
            msg = json.loads(line)
            assert isinstance(msg, dict)
            if events or "event" not in msg:
                return msg

    async def execute(self, data: bytes) -> dict[str, Any]:
        await self.send(data)
        return await self.recv()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def front_end(*options: str) -> list[str]:
    """``vmplatform qemu`` (this interpreter) in place of the QEMU binary; it execs QEMU."""
    binary = paths.qemu_binary()
    assert binary is not None
    return [sys.executable, "-m", "vmplatform", "qemu", "--qemu-binary", binary, *options]


def vmplatform(*args: str, env: Mapping[str, str] | None = None,
               timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """The ``vmplatform`` CLI as a process (never raises on its exit status)."""
    return subprocess.run([sys.executable, "-m", "vmplatform", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env=dict(env) if env is not None else None)
