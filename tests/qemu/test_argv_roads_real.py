"""Every argv road a NIC takes into QEMU, run for real under the no-USO shim.

The shim (tests/harness/shim.c, LD_PRELOAD) makes this host's TAP refuse USO,
as a Linux < 6.2 kernel does; it reaches the front-end's own probe and, after
the exec, QEMU. For each road (JSON argv as libvirt writes it, ``-nic``,
legacy ``-net nic`` + ``-net tap``, the ``virtio-net`` alias, ``-readconfig``)
the front-end starts a real QEMU 10 with ``-S``; over QMP, what the NIC
offers (``x-query-virtio-status``) must equal what the front-end pinned
(``qom-get`` of every governed property), with USO off. Asked for a platform
with USO (linux-6.2), the front-end refuses before QEMU runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.harness.cli import run_vmplatform
from tests.harness.requirements import (
    missing_gcc,
    missing_qemu,
    missing_qmp_library,
    missing_root,
    missing_tun,
    skip_unless,
)
from tests.harness.shim import build_uso_shim, preload_env
from tests.harness.virtio import USO_BITS
from vmplatform.model.features import default_catalog
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.virtio_bits import VIRTIO_NET_BITS, decode_status_features
from vmplatform.qemu.proc import QemuProcess, find_qemu

pytestmark = [pytest.mark.qemu, pytest.mark.root]

CSUM = VIRTIO_NET_BITS["VIRTIO_NET_F_CSUM"]
HOSTS = Path(__file__).parent.parent / "data" / "hosts"


def _tap(name: str) -> str:
    return f"ifname={name},script=no,downscript=no"


def _roads(tmp: Path, tap: str) -> dict[str, tuple[list[str], bool]]:
    """road -> (QEMU argv, the NIC has a vnet header peer)."""
    cfg = tmp / "vm.cfg"
    cfg.write_text(f'[netdev "n0"]\n  type = "tap"\n  ifname = "{tap}"\n  script = "no"\n  downscript = "no"\n'
                   '[device "net0"]\n  driver = "virtio-net-pci"\n  netdev = "n0"\n')
    return {
        "json": (["-netdev", f'{{"type":"tap","id":"n0","ifname":"{tap}","script":"no","downscript":"no"}}',
                  "-device", '{"driver":"virtio-net-pci","netdev":"n0","id":"net0"}'], True),
        "nic": (["-nic", f"tap,id=n0,model=virtio-net-pci,{_tap(tap)}"], True),
        "nic-short-model": (["-nic", f"tap,id=n0,model=virtio,{_tap(tap)}"], True),
        "net-legacy-hub": (["-net", "nic,model=virtio", "-net", f"tap,{_tap(tap)}"], False),
        "alias": (["-netdev", f"tap,id=n0,{_tap(tap)}", "-device", "virtio-net,netdev=n0,id=net0"], True),
        "readconfig": (["-readconfig", str(cfg)], True),
    }


def _front_end(platform: str, road: list[str]) -> list[str]:
    return ["-m", "vmplatform", "qemu", "--qemu-binary", find_qemu(), "-platform", platform,
            "-machine", "pc-q35-10.0,accel=tcg", "-nodefaults", "-display", "none", "-S", *road]


def _governed() -> dict[str, int]:
    defaults = default_machine_catalog().device_defaults["virtio-net-device"]
    return {gp.prop: gp.virtio_bit for f in default_catalog() for gp in f.governs
            if gp.virtio_bit is not None and gp.driver == "virtio-net-device" and gp.prop in defaults}


async def _nic_path(qmp: Any) -> str:
    for base in ("/machine/peripheral", "/machine/peripheral-anon"):
        for child in await qmp.execute("qom-list", {"path": base}):
            if child["type"] == "child<virtio-net-pci>":
                return f"{base}/{child['name']}"
    raise AssertionError("no virtio-net-pci in QEMU")


async def _read(args: list[str], env: dict[str, str], props: list[str]) -> tuple[dict[str, Any], set[int]]:
    q = QemuProcess(sys.executable, args, env=env)
    async with q:
        path = await _nic_path(q.qmp)
        values = {p: await q.qmp.execute("qom-get", {"path": path, "property": p}) for p in props}
        status: Any = await q.qmp.execute("x-query-virtio-status", {"path": f"{path}/virtio-backend"})
        await q.qmp.execute("quit")
    return values, decode_status_features(status["host-features"])


@pytest.fixture(scope="module")
def shim() -> Path:
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library, missing_gcc)
    return build_uso_shim()


@pytest.mark.parametrize("road", ["json", "nic", "nic-short-model", "net-legacy-hub", "alias", "readconfig"])
def test_road_offers_what_the_tool_pinned(road: str, shim: Path, tmp_path: Path) -> None:
    tap = f"vmpr{os.getpid() % 100000}{len(road)}"
    args, vnet_hdr = _roads(tmp_path, tap)[road]
    env = preload_env([shim])

    # A platform with USO on a host without it: refused before QEMU runs. A NIC on the legacy hub has no
    # vnet header peer, so no offload is offered whatever the platform: nothing to refuse.
    dry = run_vmplatform(["qemu", "--dry-run", *_front_end("linux-6.2", args)[3:]], preload=[shim])
    if vnet_hdr:
        assert dry.returncode == 1 and "lacks tap-uso" in dry.stderr, (dry.returncode, dry.stderr)
    else:
        assert dry.returncode == 0 and "host_uso=off" in dry.stdout, dry.stderr

    bits = _governed()
    values, offered = asyncio.run(_read(_front_end("linux-6.1", args), env, sorted(bits)))
    assert not offered & set(USO_BITS), (road, sorted(offered))
    assert {p: values[p] for p in ("host_uso", "guest_uso4", "guest_uso6")} == dict.fromkeys(
        ("host_uso", "guest_uso4", "guest_uso6"), False)
    # what QEMU offers is exactly what is pinned: nothing cleared behind the tool's back
    assert {p: v for p, v in values.items() if v is not (bits[p] in offered)} == {}, road
    assert (CSUM in offered) is vnet_hdr, road


async def _nic_slots(args: list[str]) -> list[tuple[int, int]]:
    """(slot, function) of every virtio-net-pci on bus 0, in QEMU's own numbering."""
    q = QemuProcess(find_qemu(), ["-machine", "pc-q35-10.0,accel=tcg", "-display", "none", "-S", *args])
    async with q:
        buses: Any = await q.qmp.execute("query-pci")
        await q.qmp.execute("quit")
    # 0x1af4:0x1000 / 0x1041: virtio-net (transitional / modern)
    return [(d["slot"], d["function"]) for b in buses for d in b["devices"]
            if d["id"]["vendor"] == 0x1AF4 and d["id"]["device"] in (0x1000, 0x1041)]


@pytest.mark.parametrize("nic", [["-nic", "user,model=virtio-net-pci"],
                                 ["-net", "nic,model=virtio", "-net", "user"]])
def test_board_nic_keeps_the_pci_slot_plain_qemu_gives_it(nic: list[str]) -> None:
    """QEMU creates -nic / -net nic NICs with the board, before any -device: the rewrite keeps that order,
    so the NIC's guest-visible PCI address is the one plain QEMU gives it (a migration from plain QEMU
    keeps its device layout)."""
    skip_unless(missing_qemu, missing_qmp_library)
    args = ["-device", "virtio-rng-pci", *nic, "-device", "virtio-balloon-pci"]
    dry = run_vmplatform(["qemu", "--dry-run", "--host", str(HOSTS / "debian13-6.12.json"), "-platform",
                          "linux-6.12", "-machine", "pc-q35-10.0", *args])
    assert dry.returncode == 0, dry.stderr
    rewritten = dry.stdout.splitlines()[2:]   # without -machine pc-q35-10.0
    assert "-nic" not in rewritten and "nic,model=virtio" not in rewritten
    plain = asyncio.run(_nic_slots(args))
    ours = asyncio.run(_nic_slots(rewritten))
    assert plain == ours and len(plain) == 1, (plain, ours)
