"""The QMP endpoint under faults from both sides, against a scripted QEMU monitor.

Clients: garbage, a frame of many megabytes, half a frame and gone, a flood.
QEMU: stalls, dies mid-reply. In every case the endpoint neither hangs nor
crashes, other clients keep being served, nothing a faulty client sent
reaches QEMU, and a dead QEMU is reported as such. The listening socket is
the owner's alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

from tests.qmp._support import RawClient, run
from tests.qmp.test_endpoint_fake_qemu import local, ok, serving  # noqa: F401 (fixture)
from vmplatform.qmp.endpoint import Runstate
from vmplatform.qmp.local import LocalCommands


async def _healthy(path: str) -> None:
    """A second client is served normally."""
    other = await RawClient.connect(path, negotiate=True)
    assert await other.execute(b'{"execute": "query-status", "id": "h"}\n') == {"return": {}, "id": "h"}
    await other.close()


def test_the_listening_socket_is_the_owners_alone(tmp_path: Path, local: LocalCommands) -> None:
    async def body() -> None:
        old = os.umask(0)   # even under a permissive umask
        try:
            async with serving(tmp_path, local):
                mode = stat.S_IMODE(os.stat(tmp_path / "ep.sock").st_mode)
                assert mode & 0o077 == 0, oct(mode)
        finally:
            os.umask(old)

    run(body())


def test_a_many_megabyte_frame_is_refused_and_the_rest_go_on(tmp_path: Path, local: LocalCommands) -> None:
    async def body() -> None:
        async with serving(tmp_path, local) as (monitor, ep):
            path = str(tmp_path / "ep.sock")
            big = await RawClient.connect(path, negotiate=True)
            frame = b'{"execute": "query-status", "arguments": {"pad": "' + b"x" * (80 << 20) + b'"}, "id": 1}\n'
            send = asyncio.ensure_future(big.send(frame))
            await _healthy(path)
            reply = await big.recv(timeout=60)
            assert "error" in reply, reply
            await send
            assert await big.execute(b'{"execute": "query-status", "id": 2}\n') == {"return": {}, "id": 2}
            assert all("pad" not in json.dumps(r) for r in monitor.requests)
            await big.close()
            assert ep.runstate is Runstate.RUNNING

    run(body())


def test_half_a_frame_then_gone_reaches_nobody(tmp_path: Path, local: LocalCommands) -> None:
    async def body() -> None:
        async with serving(tmp_path, local) as (monitor, ep):
            path = str(tmp_path / "ep.sock")
            for _ in range(20):
                half = await RawClient.connect(path, negotiate=True)
                await half.send(b'{"execute": "system_powerdown", "argu')
                await half.close()
            await _healthy(path)
            assert [r["execute"] for r in monitor.requests] == ["query-status"]
            assert ep.runstate is Runstate.RUNNING

    run(body())


def test_a_flood_is_answered_in_order_and_others_are_served(tmp_path: Path, local: LocalCommands) -> None:
    async def body() -> None:
        async with serving(tmp_path, local) as (monitor, ep):
            path = str(tmp_path / "ep.sock")
            flood = await RawClient.connect(path, negotiate=True)
            n = 5000
            await flood.send(b"".join(b'{"execute": "query-status", "id": %d}\n' % i for i in range(n)))
            await _healthy(path)
            for i in range(n):
                assert await flood.recv() == {"return": {}, "id": i}
            await flood.close()

    run(body())


def test_garbage_never_reaches_qemu(tmp_path: Path, local: LocalCommands) -> None:
    async def body() -> None:
        async with serving(tmp_path, local) as (monitor, ep):
            path = str(tmp_path / "ep.sock")
            bad = await RawClient.connect(path, negotiate=True)
            await bad.send(b"\xff\xfe{{{]]]\n[1,2]\n\"x\"\n{\"execute\": 7}\n{\"execute\": \"x\", \"arguments\": []}\n")
            for _ in range(5):
                assert "error" in await bad.recv()
            await _healthy(path)
            assert [r["execute"] for r in monitor.requests] == ["query-status"]
            await bad.close()

    run(body())


def test_a_stalled_qemu_does_not_stall_local_answers(tmp_path: Path, local: LocalCommands) -> None:
    """QEMU stops answering: what it owes stays owed, the endpoint's own commands still answer,
    and a client may leave without waiting."""
    def stall(request: dict[str, Any]) -> list[bytes]:
        return [] if request["execute"] == "stall" else ok(request)

    async def body() -> None:
        async with serving(tmp_path, local, stall) as (monitor, ep):
            path = str(tmp_path / "ep.sock")
            stuck = await RawClient.connect(path, negotiate=True)
            await stuck.send(b'{"execute": "stall", "id": "s"}\n')
            other = await RawClient.connect(path, negotiate=True)
            reply = await other.execute(b'{"execute": "query-platforms", "id": "p"}\n')
            assert reply["id"] == "p" and "return" in reply
            await stuck.close()    # leaves with its command still owed
            await other.close()
            assert ep.runstate is Runstate.RUNNING

    run(body())


def test_qemu_dying_mid_reply_is_reported_to_every_client(tmp_path: Path, local: LocalCommands) -> None:
    def half_reply(request: dict[str, Any]) -> list[bytes]:
        return [b'{"return": {"status": "runn']

    async def body() -> None:
        async with serving(tmp_path, local, half_reply) as (monitor, ep):
            path = str(tmp_path / "ep.sock")
            a = await RawClient.connect(path, negotiate=True)
            b = await RawClient.connect(path, negotiate=True)
            await a.send(b'{"execute": "query-status", "id": 1}\n')
            while not monitor.requests:
                await asyncio.sleep(0.01)
            await monitor.drop()
            await asyncio.wait_for(ep.wait_closed(), 10)
            owed = await asyncio.wait_for(a.reader.read(), 10)   # the answer owed, then EOF: never a hang
            assert [json.loads(line) for line in owed.splitlines()] == [
                {"error": {"class": "GenericError", "desc": "QEMU closed its QMP connection before answering: "
                                                            "QEMU has exited or its monitor was closed"}, "id": 1}]
            assert await asyncio.wait_for(b.reader.read(), 10) == b""   # b owed nothing: EOF
            for client in (a, b):
                await client.close()
            assert not (tmp_path / "ep.sock").exists()

    run(body())
