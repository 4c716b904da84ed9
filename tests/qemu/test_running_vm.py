"""`analyze --qmp` / `check --qmp` against a real running QEMU."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.harness.requirements import (
    missing_gcc,
    missing_qemu,
    missing_qmp_library,
    missing_root,
    missing_tun,
    skip_unless,
)
from tests.harness.shim import build_uso_shim, preload_env
from vmplatform.errors import QemuError
from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.probe.fake import FakeHost
from vmplatform.qemu import running
from vmplatform.qemu.proc import QemuProcess, find_qemu

pytestmark = [pytest.mark.qemu, pytest.mark.root]

ARGS = ["-machine", "pc-q35-10.0,accel=tcg", "-nodefaults", "-display", "none", "-S",
        "-netdev", "tap,id=n0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,id=net0",
        "-netdev", "user,id=u0", "-device", "virtio-net-pci,netdev=u0,id=nicu"]


@contextmanager
def _qemu(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """A QEMU with a second, free QMP socket for the command under test."""
    sock = tmp_path / "vm.sock"
    loop = asyncio.new_event_loop()
    proc = QemuProcess(find_qemu(), [*ARGS, "-qmp", f"unix:{sock},server=on,wait=off"], env=env)
    loop.run_until_complete(proc.start())
    try:
        yield str(sock)
    finally:
        loop.run_until_complete(proc.__aexit__(None, None, None))
        loop.close()


def _pins(manifest: dict[str, object], device: str) -> dict[str, str]:
    return {p["property"]: p["value"] for p in manifest["pinned-properties"]  # type: ignore[attr-defined]
            if p["device"] == device}


def test_analyze_running_vm_records_what_qemu_offers(tmp_path: Path) -> None:
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library)
    with _qemu(tmp_path) as sock:
        rc, out, err = run_cli(["analyze", "--qmp", sock])
    assert rc == 0, err
    m = json.loads(out)
    assert _pins(m, "net0")["host_uso"] == "on" and _pins(m, "net0")["csum"] == "on"
    assert _pins(m, "nicu")["csum"] == "off"      # user backend: no vnet header, no offloads
    assert {r["feature"] for r in m["requires"]} >= {"tap-vnet-hdr", "tap-ufo", "tap-uso"}


def test_analyze_running_vm_sees_silently_cleared_bits(tmp_path: Path) -> None:
    """Under the USO shim QEMU keeps host_uso=on configured but offers no USO: the manifest says off."""
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library, missing_gcc)
    env = preload_env([build_uso_shim()])
    with _qemu(tmp_path, env) as sock:
        rc, out, err = run_cli(["analyze", "--qmp", sock])
    assert rc == 0, err
    m = json.loads(out)
    assert _pins(m, "net0")["host_uso"] == "off" and _pins(m, "net0")["host_ufo"] == "on"
    assert "tap-uso" not in {r["feature"] for r in m["requires"]}


def test_busy_qmp_socket_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library)
    monkeypatch.setattr(running, "CONNECT_TIMEOUT", 0.5)
    platforms = load_platforms(env={}, system=None)
    report = FakeHost.with_features([]).run(default_catalog())

    async def hold_and_check(sock: str) -> str:
        from qemu.qmp import QMPClient

        holder = QMPClient("holder")
        await holder.connect(sock)
        try:
            await asyncio.to_thread(running.check_running_vm, sock, report, platforms)
        except QemuError as err:
            return str(err)
        finally:
            await holder.disconnect()
        return "no error"

    with _qemu(tmp_path) as sock:
        text = asyncio.run(hold_and_check(sock))
    assert "did not greet within" in text and "another client" in text
