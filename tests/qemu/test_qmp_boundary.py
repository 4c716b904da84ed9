"""qemu.qmp's exceptions become vmplatform's at one boundary (vmplatform/qemu/qmp_boundary.py).

Driven by the real qemu.qmp client over real Unix sockets: a real QEMU 10
for error replies and a QEMU that exits, small socket servers for what QEMU
never does on purpose (no listener, a file that is not a socket, a server
that hangs up before greeting or mid-command).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import pytest

from tests.harness.requirements import missing_qemu, missing_qmp_library, skip_unless
from vmplatform.errors import QemuError
from vmplatform.qemu.binary import find_qemu
from vmplatform.qemu.proc import QemuProcess
from vmplatform.qemu.qmp_boundary import QmpConnectError, QmpLibraryMissing, QmpLostError, QmpReplyError, QmpSession
from vmplatform.qmp.local import LocalCommandError

GREETING = {"QMP": {"version": {"qemu": {"major": 10, "minor": 0, "micro": 2}, "package": ""},
                    "capabilities": []}}


def test_without_qemu_qmp_the_error_says_which_extra_and_no_qemu_starts(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qemu.qmp", None)   # what an install without the extra meets
    with pytest.raises(QmpLibraryMissing) as info:
        asyncio.run(QmpSession.connect(str(tmp_path / "any.sock"), timeout=1))
    assert info.value.hint == "install the QMP extra: pip install 'vmplatform[qmp]'"
    q = QemuProcess(sys.executable, ["-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(QmpLibraryMissing):
            asyncio.run(q.start())
        assert q.proc is None
    finally:
        asyncio.run(q.stop())   # its private socket directory


async def _connect_error(path: str) -> QmpConnectError:
    with pytest.raises(QmpConnectError) as info:
        await QmpSession.connect(path, timeout=2, hint="fix the path")
    return info.value


def test_unreachable_sockets_say_why(tmp_path: Path) -> None:
    skip_unless(missing_qmp_library)
    (tmp_path / "file").write_text("")
    bound = socket.socket(socket.AF_UNIX)
    bound.bind(str(tmp_path / "bound.sock"))  # bound, never listening: connect is refused
    try:
        missing = asyncio.run(_connect_error(str(tmp_path / "missing.sock")))
        plain = asyncio.run(_connect_error(str(tmp_path / "file")))
        idle = asyncio.run(_connect_error(str(tmp_path / "bound.sock")))
    finally:
        bound.close()
    assert missing.message == f"cannot connect to QMP socket {tmp_path}/missing.sock: no such file"
    assert plain.message == f"cannot connect to QMP socket {tmp_path}/file: it is not a socket"
    assert idle.message == f"cannot connect to QMP socket {tmp_path}/bound.sock: nothing is listening on it"
    assert (missing.refused, plain.refused, idle.refused) == (False, False, True)
    assert missing.hint == "fix the path" and isinstance(missing, QemuError)


async def _serve(path: str, script: list[str]) -> asyncio.Server:
    """A server that greets, then for each command line read answers with the next scripted action:
    a JSON reply, 'close' (hang up), or 'silence' (never greet)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        steps = list(script)
        if steps and steps[0] == "silence":
            await reader.read()   # until the client gives up and hangs up
            writer.close()
            return
        writer.write(json.dumps(GREETING).encode() + b"\r\n")
        buffer = ""
        decoder = json.JSONDecoder()
        while steps:
            try:
                request, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:   # qemu.qmp sends no newline: read until one whole object is in
                chunk = await reader.read(4096)
                if not chunk:
                    break
                buffer += chunk.decode()
                continue
            buffer = buffer.lstrip()[end:]
            step = steps.pop(0)
            if step == "close":
                break
            reply = json.loads(step)
            if "id" in request:
                reply["id"] = request["id"]
            writer.write(json.dumps(reply).encode() + b"\r\n")
            await writer.drain()
        writer.close()

    return await asyncio.start_unix_server(handle, path)


def test_a_server_that_hangs_up_or_never_greets(tmp_path: Path) -> None:
    skip_unless(missing_qmp_library)

    async def scenario() -> tuple[QmpConnectError, QmpLostError, QmpConnectError]:
        hangs_up = await _serve(str(tmp_path / "a.sock"), ['{"return": {}}', "close"])
        silent = await _serve(str(tmp_path / "b.sock"), ["silence"])
        async with hangs_up, silent:
            session = await QmpSession.connect(str(tmp_path / "a.sock"), timeout=5)
            with pytest.raises(QmpLostError) as lost:
                await session.execute("query-status")
            await session.disconnect()   # never raises, whatever the reader met
            with pytest.raises(QmpConnectError) as slow:
                await QmpSession.connect(str(tmp_path / "b.sock"), timeout=0.5)
            closed = await _serve(str(tmp_path / "c.sock"), ["close"])
            async with closed:
                early = await _connect_error(str(tmp_path / "c.sock"))
        return early, lost.value, slow.value

    early, lost, slow = asyncio.run(scenario())
    assert lost.message.startswith(f"query-status: the QMP connection to {tmp_path}/a.sock is gone (")
    assert lost.hint == "is QEMU still running?"
    assert slow.message == f"QMP socket {tmp_path}/b.sock did not greet within 0 s (another client holds it?)"
    assert early.message.startswith(f"cannot connect to QMP socket {tmp_path}/c.sock: ") and not early.refused


@pytest.mark.qemu
def test_real_qemu_error_replies_keep_their_class_and_desc_and_its_exit_is_a_lost_connection() -> None:
    skip_unless(missing_qemu, missing_qmp_library)

    async def scenario() -> tuple[QmpReplyError, LocalCommandError, QmpLostError]:
        async with QemuProcess(find_qemu(), ["-machine", "none", "-nodefaults", "-display", "none", "-S"]) as q:
            assert (await q.qmp.execute("query-status"))["status"] == "prelaunch"
            with pytest.raises(QmpReplyError) as reply:
                await q.qmp.execute("qom-get", {"path": "/objects/nothing-here", "property": "x"})
            with pytest.raises(LocalCommandError) as local:   # the shared readers' contract
                await q.qmp.execute_for_readers("no-such-command", None)
            assert q.proc is not None
            q.proc.kill()
            await q.proc.wait()
            with pytest.raises(QmpLostError) as lost:
                for _ in range(50):   # the client notices the hang-up on its next command
                    await q.qmp.execute("query-status")
                    await asyncio.sleep(0.02)
            return reply.value, local.value, lost.value

    reply, local, lost = asyncio.run(scenario())
    assert (reply.command, reply.error_class) == ("qom-get", "DeviceNotFound")
    assert reply.desc == "Device '/objects/nothing-here' not found" and reply.message == f"qom-get: {reply.desc}"
    assert (local.error_class, local.desc) == ("CommandNotFound", "The command no-such-command has not been found")
    assert lost.message.startswith("query-status: the QMP connection to ") and "is gone" in lost.message
