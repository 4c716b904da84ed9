"""Every road a NIC takes into QEMU, end to end with the real 6.12 guest under TCG.

The destination is this host under the LD_PRELOAD shim (TAP rejects USO as
Linux < 6.2 does), and the front-end and ``vmplatform probe`` run under it too.

* ``test_each_road_migrates_to_a_host_without_uso``: a NIC added by JSON
  argv (libvirt's syntax), by ``-nic``, or hot-plugged through the QMP
  endpoint into the running guest; source and destination run
  ``-platform linux-6.1`` through the front-end; the NIC offers no USO, the
  guest negotiates none, ``vmplatform migrate`` checks, migrates and
  verifies, and the guest keeps ticking on the destination.
* ``test_unsafe_destinations_are_refused_and_the_vm_survives``: a guest
  that negotiated USO (this host's default platform) and three ways to
  start its destination on the old host: without ``-platform`` (refused by
  the front-end), with the source's platform (refused: the host lacks
  tap-uso), and plain QEMU around the front-end (refused by ``vmplatform
  migrate`` before the source stops). The guest never stops running.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness import requirements
from tests.migration.conftest import Timing

pytest.importorskip("qemu.qmp", reason="Python package qemu.qmp is not installed (pip install qemu.qmp)")

from tests.harness.cli import probe_report, run_vmplatform  # noqa: E402
from tests.harness.guest import Guest, vmplatform_launcher  # noqa: E402
from tests.harness.shim import build_uso_shim  # noqa: E402
from tests.harness.virtio import USO_BITS, VirtioStatus, bits_of  # noqa: E402

pytestmark = pytest.mark.guest

PLATFORM = "linux-6.1"
ROOT_PORT = ["-device", "pcie-root-port,id=rp1,chassis=1"]


def _json_nic(tap: str) -> list[str]:
    return ["-netdev", json.dumps({"type": "tap", "id": "n0", "ifname": tap, "script": "no", "downscript": "no"}),
            "-device", json.dumps({"driver": "virtio-net-pci", "netdev": "n0", "id": "net0"})]


def _nic_shorthand(tap: str) -> list[str]:
    return ["-nic", f"tap,model=virtio-net-pci,ifname={tap},script=no,downscript=no"]


def _hotplug_dest_nic(tap: str) -> list[str]:
    """A hot-plugged NIC is on the destination's command line (what libvirt does), here as JSON."""
    return [*ROOT_PORT, "-netdev", json.dumps({"type": "tap", "id": "h0", "ifname": tap, "script": "no",
                                               "downscript": "no"}),
            "-device", json.dumps({"driver": "virtio-net-pci", "netdev": "h0", "id": "hn0", "bus": "rp1"})]


ROADS: dict[str, tuple[Callable[[str], list[str]], Callable[[str], list[str]]]] = {
    "json-argv": (_json_nic, _json_nic),
    "nic-shorthand": (_nic_shorthand, _nic_shorthand),
    "hotplug-endpoint": (lambda tap: list(ROOT_PORT), _hotplug_dest_nic),
}


def _virtio_net(guest: Guest) -> VirtioStatus:
    [path] = [d["path"] for d in guest.qmp.execute("x-query-virtio") if d["name"] == "virtio-net"]
    return guest.virtio_status(path)


class _Endpoint:
    """``vmplatform qmp`` in front of a guest's second monitor, as a process."""

    def __init__(self, guest: Guest) -> None:
        self.listen = str(guest.workdir / "endpoint.sock")
        self.proc = subprocess.Popen([sys.executable, "-m", "vmplatform", "qmp", "--connect",
                                      str(guest.aux_qmp_path), "--listen", self.listen],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.listen):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise AssertionError("the endpoint did not start")
            time.sleep(0.05)

    def execute(self, *commands: tuple[str, dict[str, Any]]) -> list[Any]:
        from qemu.qmp import QMPClient

        async def body() -> list[Any]:
            client = QMPClient("test")
            await client.connect(self.listen)
            try:
                return [await client.execute(c, a) for c, a in commands]
            finally:
                await client.disconnect()

        return asyncio.run(body())

    def close(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=10)[1]


def _old_host(tmp_path: Path, shim: Path) -> Path:
    path = tmp_path / "old-host.json"
    probe_report(path, preload=[shim])
    return path


@pytest.mark.parametrize("road", list(ROADS))
def test_each_road_migrates_to_a_host_without_uso(road: str, tmp_path: Path, timing: Timing) -> None:
    requirements.require_guest_and_shim()
    shim = build_uso_shim()
    report = _old_host(tmp_path, shim)
    src_nic, dst_nic = ROADS[road]
    launcher = vmplatform_launcher(PLATFORM)
    t0 = time.monotonic()
    with Guest("src", launcher=launcher, nic=src_nic) as src, \
            Guest("dst", incoming_defer=True, preload=[shim], launcher=launcher, nic=dst_nic) as dst:
        source_socket = str(src.aux_qmp_path)
        endpoint = None
        try:
            if road == "hotplug-endpoint":
                # Into the running guest (it waits for eth0), through the endpoint: pinned on the way.
                endpoint = _Endpoint(src)
                endpoint.execute(("netdev_add", {"type": "tap", "id": "h0", "ifname": src.tap, "script": "no",
                                                 "downscript": "no"}),
                                 ("device_add", {"driver": "virtio-net-pci", "netdev": "h0", "id": "hn0",
                                                 "bus": "rp1"}))
                source_socket = endpoint.listen
                assert src.qmp.execute("qom-get", {"path": "/machine/peripheral/hn0", "property": "host_uso"}) \
                    is False
            timing("boot_seconds", src.wait_ready())
            before = _virtio_net(src)
            assert not bits_of(before.host_features & sum(1 << b for b in USO_BITS)), bits_of(before.host_features)
            negotiated = before.guest_features
            assert src.serial_features() == negotiated
            # Same platform, same offer on the old host.
            assert _virtio_net(dst).host_features == before.host_features

            tick = src.wait_tick_after(0)
            proc = run_vmplatform(["migrate", "--source", source_socket, "--dest", str(dst.aux_qmp_path),
                                   "--uri", dst.incoming_uri, "--dest-host", str(report), "--json"], timeout=120)
            result = json.loads(proc.stdout)
            timing("migration_seconds", result["seconds"])
            assert proc.returncode == 0 and result["outcome"] == "migrated", (result, proc.stderr)
            assert result["platform"] == PLATFORM
            last = src.last_tick()
            assert last is not None and last >= tick
            dst.wait_tick_after(last)
            assert _virtio_net(dst).guest_features == negotiated
            assert dst.serial_features(timeout=30) == negotiated
        finally:
            if endpoint is not None:
                endpoint.close()
    timing("test_seconds", time.monotonic() - t0)


def test_unsafe_destinations_are_refused_and_the_vm_survives(tmp_path: Path, timing: Timing) -> None:
    requirements.require_guest_and_shim()
    shim = build_uso_shim()
    report = _old_host(tmp_path, shim)
    t0 = time.monotonic()
    with Guest("src", launcher=vmplatform_launcher()) as src:
        timing("boot_seconds", src.wait_ready())
        default = re.search(r"^vmplatform: no -platform given: using (\S+),", src.stderr_text(), re.MULTILINE)
        assert default, src.stderr_text()
        negotiated = src.virtio_status().guest_features
        if not all(negotiated >> b & 1 for b in USO_BITS):
            pytest.skip("this host's default platform has no USO: nothing unsafe to refuse")
        tick = src.wait_tick_after(0)

        # 1. Without -platform: the front-end refuses before QEMU starts.
        no_platform = Guest("dst1", incoming_defer=True, preload=[shim], launcher=vmplatform_launcher())
        # 2. With the source's platform: this host lacks what it promises.
        same = Guest("dst2", incoming_defer=True, preload=[shim], launcher=vmplatform_launcher(default.group(1)))
        for dst, code, words in ((no_platform, 2, "an incoming VM must run its source's platform: pass -platform X"),
                                 (same, 1, "lacks tap-uso")):
            try:
                proc = subprocess.run(dst.build_argv(), env=dst.spawn_env(), stdin=subprocess.DEVNULL,
                                      capture_output=True, text=True, timeout=60, check=False)
                assert not dst.qmp_path.exists() and not Path("/sys/class/net", dst.tap).exists()
            finally:
                dst.close()
            assert proc.returncode == code and words in proc.stderr, proc

        # 3. Plain QEMU on the old host, around the front-end: vmplatform migrate refuses first.
        with Guest("dst3", incoming_defer=True, preload=[shim]) as plain:
            proc = run_vmplatform(["migrate", "--source", str(src.aux_qmp_path), "--dest", str(plain.aux_qmp_path),
                                   "--uri", plain.incoming_uri, "--dest-host", str(report), "--json"], timeout=120)
            result = json.loads(proc.stdout)
            assert proc.returncode == 1 and result["outcome"] == "refused", result
            text = "\n".join(result["problems"])
            assert "records no platform" in text and "does not offer tap-uso" in text, text
            assert plain.qmp.execute_dict("query-status")["status"] == "inmigrate"

        # Nothing was ever sent, and the guest runs on.
        assert src.qmp.execute_dict("query-migrate").get("status") is None
        assert src.qmp.execute_dict("query-status")["status"] == "running"
        src.wait_tick_after(src.wait_tick_after(tick))
    timing("test_seconds", time.monotonic() - t0)
