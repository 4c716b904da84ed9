"""``vmplatform qmp`` as a process: start-up errors, serving, stopping with QEMU."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ._support import Qemu, qmp_client, run

pytestmark = [pytest.mark.qemu, pytest.mark.root]


def _vmplatform(*args: str) -> list[str]:
    return [sys.executable, "-m", "vmplatform", "qmp", *args]


def _start(qemu: Qemu, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(_vmplatform("--connect", qemu.upstream, "--listen", qemu.listen, *extra),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not _listening(qemu.listen):
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate(timeout=10) if proc.poll() is not None else ("", "timeout")
            proc.kill()
            pytest.fail(f"vmplatform qmp did not start: {err}")
        time.sleep(0.02)
    return proc


def _listening(path: str) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, err


def test_serves_until_qemu_quits(qemu: Qemu, tmp_path: Path) -> None:
    proc = _start(qemu, "--platform", "linux-6.2")

    async def body() -> None:
        async with qmp_client(qemu.listen) as client:
            deps: Any = await client.execute("query-platform-dependencies")
            assert deps["platform"] == "linux-6.2"
            assert isinstance(await client.execute("query-platforms"), list)
        client2 = await _connected(qemu.listen)
        assert await client2.execute("quit") == {}
        try:
            await client2.disconnect()
        except EOFError:
            pass  # QEMU is gone: same as talking to QEMU directly

    run(body())
    rc, err = _finish(proc)
    assert rc == 0, err
    assert "Traceback" not in err
    assert not os.path.exists(qemu.listen)


async def _connected(path: str) -> Any:
    from qemu.qmp import QMPClient

    client = QMPClient("second")
    await client.connect(path)
    return client


def test_sigterm_stops_cleanly_and_qemu_serves_the_next_client(qemu: Qemu) -> None:
    proc = _start(qemu)
    proc.send_signal(signal.SIGTERM)
    rc, err = _finish(proc)
    assert rc == 0, err
    assert not os.path.exists(qemu.listen)

    async def body() -> None:  # the monitor is free again
        async with qmp_client(qemu.upstream) as client:
            assert (await client.execute("query-status"))["status"] == "prelaunch"

    run(body())


def test_stale_socket_is_replaced_and_live_one_refused(qemu: Qemu) -> None:
    import socket

    stale = socket.socket(socket.AF_UNIX)
    stale.bind(qemu.listen)
    stale.close()  # a socket file nobody listens on: left by a killed endpoint
    proc = _start(qemu)
    try:
        second = subprocess.run(_vmplatform("--connect", qemu.direct, "--listen", qemu.listen),
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert f"cannot listen on {qemu.listen}: another process is listening on it" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert _finish(proc)[0] == 0


@pytest.mark.parametrize("connect, message", [
    ("{tmp}/missing.sock", "cannot connect to QEMU's QMP socket {tmp}/missing.sock: no such file"),
    ("{tmp}/file", "cannot connect to QEMU's QMP socket {tmp}/file: it is not a socket"),
    ("{tmp}/dead.sock", "cannot connect to QEMU's QMP socket {tmp}/dead.sock: nothing is listening on it"),
])
def test_bad_connect_is_a_clear_error(tmp_path: Path, connect: str, message: str) -> None:
    import socket

    (tmp_path / "file").write_text("x")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(tmp_path / "dead.sock"))
    dead.close()
    fmt = {"tmp": str(tmp_path)}
    res = subprocess.run(_vmplatform("--connect", connect.format(**fmt), "--listen", str(tmp_path / "l.sock"),
                                     "--host", str(_report(tmp_path))),
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert res.stderr.startswith(f"vmplatform: error: {message.format(**fmt)}\n  hint: "), res.stderr
    assert not (tmp_path / "l.sock").exists()


def test_busy_monitor_times_out_with_a_reason(qemu: Qemu, tmp_path: Path) -> None:
    """QEMU serves one client per -qmp socket: a second one gets no greeting."""

    async def body() -> None:
        async with qmp_client(qemu.upstream):
            proc = await asyncio.create_subprocess_exec(
                *_vmplatform("--connect", qemu.upstream, "--listen", qemu.listen, "--greeting-timeout", "0.5"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            assert proc.returncode == 1
            text = err.decode()
            assert "sent no QMP greeting within 0.5 s" in text, text
            assert "serves one client at a time" in text

    run(body())


def test_unknown_platform_is_refused_before_serving(tmp_path: Path) -> None:
    res = subprocess.run(_vmplatform("--connect", "/nonexistent", "--listen", str(tmp_path / "l.sock"),
                                     "--platform", "linux-6.2x", "--host", str(_report(tmp_path))),
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert "unknown platform 'linux-6.2x' (did you mean 'linux-6.2'" in res.stderr


def test_missing_arguments_are_usage_errors() -> None:
    res = subprocess.run(_vmplatform("--listen", "/tmp/x.sock"), capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert "the following arguments are required: --connect" in res.stderr


def _report(tmp_path: Path) -> Path:
    """A host report from the test corpus, so these tests need no probe."""
    from vmplatform.model.features import default_catalog
    from vmplatform.model.report import dumps
    from vmplatform.probe.fake import FakeHost

    path = tmp_path / "host.json"
    path.write_text(dumps(FakeHost.with_features(["tap-vnet-hdr", "tap-ufo", "tap-uso"]).run(default_catalog())))
    return path
