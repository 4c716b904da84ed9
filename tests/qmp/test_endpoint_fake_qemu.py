"""Endpoint behaviour that a well-behaved QEMU never shows, against a scripted QMP server.

No QEMU, TAP or root needed: a small asyncio server plays QEMU's monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.probe.fake import FakeHost
from vmplatform.qmp.endpoint import Endpoint, Runstate, UpstreamError
from vmplatform.qmp.local import LocalCommands
from vmplatform.resolution.support import evaluate

from ._support import RawClient, run

GREETING = b'{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, ' \
           b'"capabilities": ["oob"]}}\r\n'

# Answer for one command: the reply line(s), given QEMU's request.
Script = Callable[[dict[str, Any]], list[bytes]]


def ok(request: dict[str, Any]) -> list[bytes]:
    return [json.dumps({"return": {}, "id": request["id"]}).encode() + b"\r\n"]


class FakeMonitor:
    """A QMP server that greets, negotiates, then answers with ``script``."""

    def __init__(self, path: str, script: Script = ok, greeting: bytes | None = GREETING) -> None:
        self.path = path
        self.script = script
        self.greeting = greeting
        self.requests: list[dict[str, Any]] = []
        self.writer: asyncio.StreamWriter | None = None
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> FakeMonitor:
        self.server = await asyncio.start_unix_server(self._serve, self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.drop()
        await self.server.wait_closed()

    async def drop(self) -> None:
        """Close the connection, as QEMU does when it exits."""
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = None

    async def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        if self.greeting is None:
            await reader.read()   # say nothing, like a monitor busy with another client
            return
        writer.write(self.greeting)
        while line := await reader.readline():
            request = json.loads(line)
            if request["execute"] == "qmp_capabilities":
                writer.write(b'{"return": {}}\r\n')
                continue
            self.requests.append(request)
            for reply in self.script(request):
                writer.write(reply)


@pytest.fixture(scope="module")
def local() -> LocalCommands:
    platforms = load_platforms(env={}, system=None)
    report = FakeHost.with_features(["tap-vnet-hdr", "tap-ufo", "tap-uso"]).run(default_catalog())
    return LocalCommands(evaluate(report, platforms), platforms.catalog, "linux-6.2")


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, local: LocalCommands, script: Script = ok,
                  **kw: Any) -> AsyncIterator[tuple[FakeMonitor, Endpoint]]:
    async with FakeMonitor(str(tmp_path / "qemu.sock"), script) as monitor:
        ep = Endpoint(monitor.path, str(tmp_path / "ep.sock"), local, **kw)
        await ep.start()
        try:
            yield monitor, ep
        finally:
            await ep.stop()


def test_an_unparsable_request_is_answered_in_order(tmp_path: Path, local: LocalCommands) -> None:
    """QEMU answers what it cannot parse without an id; that answer belongs to the oldest request."""
    def script(request: dict[str, Any]) -> list[bytes]:
        if request["execute"] == "bad":
            return [b'{"error": {"class": "GenericError", "desc": "JSON parse error, whatever"}}\r\n']
        return ok(request)

    async def body() -> None:
        async with serving(tmp_path, local, script):
            raw = await RawClient.connect(str(tmp_path / "ep.sock"), negotiate=True)
            await raw.send(b'{"execute": "bad", "id": "b"}\n{"execute": "good", "id": "g"}\n')
            assert await raw.recv() == {"id": "b", "error": {"class": "GenericError",
                                                             "desc": "JSON parse error, whatever"}}
            assert await raw.recv() == {"return": {}, "id": "g"}
            await raw.close()

    run(body())


def test_qemu_leaving_mid_command_closes_clients_and_stops(tmp_path: Path, local: LocalCommands) -> None:
    async def body() -> None:
        async with serving(tmp_path, local, lambda request: []) as (monitor, ep):  # never answers
            raw = await RawClient.connect(str(tmp_path / "ep.sock"), negotiate=True)
            await raw.send(b'{"execute": "query-status", "id": 1}\n'
                           b'{"execute": "query-platform-dependencies", "id": 2}\n')
            while len(monitor.requests) < 2:
                await asyncio.sleep(0.01)
            await monitor.send(b'{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "SHUTDOWN", '
                               b'"data": {"guest": false, "reason": "host-qmp-quit"}}\r\n')
            await monitor.drop()
            await asyncio.wait_for(ep.wait_closed(), 10)
            assert ep.runstate is Runstate.STOPPED
            rest = await asyncio.wait_for(raw.reader.read(), 10)
            gone = {"class": "GenericError",
                    "desc": "QEMU closed its QMP connection before answering: "
                            "QEMU has exited or its monitor was closed"}
            # What was owed, then EOF: the event, and an error for each unanswered command.
            assert [json.loads(line) for line in rest.splitlines()] == [
                {"timestamp": {"seconds": 1, "microseconds": 0}, "event": "SHUTDOWN",
                 "data": {"guest": False, "reason": "host-qmp-quit"}},
                {"id": 1, "error": gone}, {"id": 2, "error": gone}]
            await raw.close()
            assert not (tmp_path / "ep.sock").exists()

    run(body())


def test_a_client_that_never_reads_is_dropped_not_buffered_forever(tmp_path: Path,
                                                                   local: LocalCommands) -> None:
    async def body() -> None:
        async with serving(tmp_path, local) as (monitor, ep):
            ep.max_client_buffer = 1 << 20
            # A plain socket nobody reads (a StreamReader would read ahead into its own buffer).
            loop = asyncio.get_running_loop()
            sleeper = socket.socket(socket.AF_UNIX)
            sleeper.setblocking(False)
            await loop.sock_connect(sleeper, str(tmp_path / "ep.sock"))
            await loop.sock_sendall(sleeper, b'{"execute": "qmp_capabilities"}\n')
            seen = b""
            while b'"return"' not in seen:   # negotiated: from now on it gets every event
                seen += await loop.sock_recv(sleeper, 4096)
            reader = await RawClient.connect(str(tmp_path / "ep.sock"), negotiate=True)
            event = json.dumps({"timestamp": {"seconds": 1, "microseconds": 0}, "event": "BIG",
                                "data": {"pad": "x" * 60000}}).encode() + b"\r\n"
            for _ in range(200):   # 12 MB of events; the sleeper reads none of them
                await monitor.send(event)
                assert (await reader.recv(events=True))["event"] == "BIG"
            await asyncio.sleep(0.1)
            assert ep.clients == 1
            assert (await reader.execute(b'{"execute": "query-status", "id": 1}\n')) == {"return": {}, "id": 1}
            sleeper.close()
            await reader.close()

    run(body())


def test_not_qmp_at_the_other_end(tmp_path: Path, local: LocalCommands) -> None:
    async def body() -> None:
        async with FakeMonitor(str(tmp_path / "qemu.sock"), greeting=b"QEMU 10.0.2 monitor - type 'help'\r\n"):
            with pytest.raises(UpstreamError, match="does not speak QMP: its first message was"):
                await Endpoint(str(tmp_path / "qemu.sock"), str(tmp_path / "ep.sock"), local).start()
        assert not (tmp_path / "ep.sock").exists()

    run(body())


def test_a_monitor_that_never_greets(tmp_path: Path, local: LocalCommands) -> None:
    async def body() -> None:
        async with FakeMonitor(str(tmp_path / "qemu.sock"), greeting=None):
            ep = Endpoint(str(tmp_path / "qemu.sock"), str(tmp_path / "ep.sock"), local, greeting_timeout=0.2)
            with pytest.raises(UpstreamError, match="sent no QMP greeting within 0.2 s"):
                await ep.start()
            assert ep.runstate is Runstate.STOPPED

    run(body())
