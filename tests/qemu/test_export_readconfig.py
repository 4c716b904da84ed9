"""`vmplatform export --format readconfig`: plain QEMU gets the platform's ABI, no wrapper."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.harness.requirements import missing_qemu, missing_qmp_library, missing_root, missing_tun, skip_unless
from vmplatform.qemu.proc import QemuProcess, find_qemu

pytestmark = [pytest.mark.qemu, pytest.mark.root]

PROPS = ("host_uso", "guest_uso4", "guest_uso6", "csum", "host_ufo", "guest_tso4")


async def _read_back(cfg: Path, machine: str) -> dict[str, Any]:
    args = ["-readconfig", str(cfg), "-machine", f"{machine},accel=tcg", "-nodefaults", "-display", "none", "-S",
            "-netdev", "tap,id=n0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,id=net0"]
    async with QemuProcess(find_qemu(), args) as q:
        return {p: await q.qmp.execute("qom-get", {"path": "/machine/peripheral/net0", "property": p})
                for p in PROPS}


@pytest.mark.parametrize("platform, machine, uso", [
    ("linux-6.1", "pc-q35-10.0", False),     # platform without USO pins it off
    ("linux-6.2", "pc-q35-10.0", True),      # platform with USO keeps it on
    ("linux-6.2", "pc-q35-8.1", False),      # the machine type's compat off wins
])
def test_readconfig_pins_reach_qemu(tmp_path: Path, platform: str, machine: str, uso: bool) -> None:
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library)
    cfg = tmp_path / "platform.cfg"
    rc, _, err = run_cli(["export", platform, "-M", machine, "--accel", "tcg", "--no-host-check", "-o", str(cfg)])
    assert rc == 0, err
    assert "[global]" in cfg.read_text()
    got = asyncio.run(_read_back(cfg, machine))
    assert got == {"host_uso": uso, "guest_uso4": uso, "guest_uso6": uso, "csum": True, "host_ufo": True,
                   "guest_tso4": True}
