"""A running QEMU, read over QMP: its negotiated features, and its VM as an argv.

* :func:`check_running_vm`: only negotiated bits must be loadable on the
  destination (QEMU refuses a migration stream whose guest features the
  destination does not offer), so a VM whose guest never negotiated USO can
  move to a host without it even if the source offered USO.
* :func:`running_vm_argv`: the VM as the QEMU argv that would reproduce its
  guest ABI (machine type, accelerator, each virtio-net NIC with its backend
  and the *effective* value of every governed property: what QEMU offers now,
  not what was configured and silently cleared), for ``analyze --qmp``.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from .errors import QemuError
from .features import Catalog, default_catalog
from .machines import normalize_value
from .platforms import PlatformSet
from .report import HostReport
from .verdict import Verdict, judge
from .virtio_bits import VIRTIO_NET_BITS, decode_status_features

if TYPE_CHECKING:
    from qemu.qmp import QMPClient

CONNECT_TIMEOUT = 5.0
_INFO_NETWORK = re.compile(r"^\s*\\\s*([^:]+):\s*index=\d+,type=([\w-]+)", re.M)


async def _connect(socket: str) -> "QMPClient":
    from qemu.qmp import QMPClient

    client = QMPClient("vmplatform")
    hint = ("pass the QMP socket of the running QEMU (or of 'vmplatform qmp'); QEMU serves one client per "
            "-qmp socket, so add a second -qmp or go through 'vmplatform qmp'")
    try:
        await asyncio.wait_for(client.connect(socket), CONNECT_TIMEOUT)
    except asyncio.TimeoutError:
        await client.disconnect()
        raise QemuError(f"QMP socket {socket} did not greet within {CONNECT_TIMEOUT:.0f} s (another client "
                        "holds it?)", hint) from None
    except Exception as err:
        raise QemuError(f"cannot connect to QMP socket {socket}: {err}", hint) from err
    return client


async def _with_client(socket: str, fn: Any) -> Any:
    client = await _connect(socket)
    try:
        return await fn(client)
    finally:
        await client.disconnect()


# -- negotiated features --------------------------------------------------------

async def _dependencies(client: "QMPClient", catalog: Catalog) -> list[dict[str, Any]]:
    from .qmp.local import DependencyReader

    async def execute(cmd: str, args: Any) -> Any:
        return await client.execute(cmd, args)

    return await DependencyReader(catalog).read(execute)


def check_running_vm(socket: str, report: HostReport, platforms: PlatformSet) -> Verdict:
    devices: list[dict[str, Any]] = asyncio.run(
        _with_client(socket, lambda c: _dependencies(c, platforms.catalog)))
    required: dict[str, str] = {}
    relevant: set[str] = set()
    for dev in devices:
        relevant |= set(dev["offered-features"])
        for f in dev["negotiated-features"]:
            required.setdefault(f, f"the guest of virtio-net {dev['path']} (negotiated)")
    return judge(required, relevant, report, platforms, subject="this running VM")


# -- the VM as an argv ------------------------------------------------------------

async def _argv(client: "QMPClient", catalog: Catalog) -> list[str]:
    ex = client.execute
    machine = str(await ex("qom-get", {"path": "/machine", "property": "type"})).removesuffix("-machine")
    kvm: Any = await ex("query-kvm")
    info = str(await ex("human-monitor-command", {"command-line": "info network"}))
    netdev_types = {m.group(1).strip(): m.group(2) for m in _INFO_NETWORK.finditer(info)}
    devices: Any = await ex("x-query-virtio")
    argv = ["-machine", machine, "-accel", "kvm" if kvm.get("enabled") else "tcg"]
    governed = [gp for f in catalog for gp in f.governs if gp.driver in ("virtio-net-device", "virtio-device")]
    for dev in devices:
        if dev.get("name") != "virtio-net":
            continue
        path = str(dev["path"])
        parent = path.removesuffix("/virtio-backend")
        dev_type = str(await ex("qom-get", {"path": parent, "property": "type"}))
        netdev = str(await ex("qom-get", {"path": parent, "property": "netdev"}) or "")
        status: Any = await ex("x-query-virtio-status", {"path": path})
        offered = decode_status_features(status.get("host-features") or {})
        opts = [dev_type]
        if netdev:
            kind = netdev_types.get(netdev, "user")
            nd = f"{kind},id={netdev}"
            if kind == "tap" and "vhost-dev" in status:
                nd += ",vhost=on"
            if kind == "tap" and VIRTIO_NET_BITS["VIRTIO_NET_F_CSUM"] not in offered:
                nd += ",vnet_hdr=off"
            argv += ["-netdev", nd]
            opts.append(f"netdev={netdev}")
        if parent.startswith("/machine/peripheral/"):
            opts.append(f"id={parent.rsplit('/', 1)[1]}")
        for gp in governed:
            try:
                value = normalize_value(await ex("qom-get", {"path": parent, "property": gp.property}))
            except Exception:
                continue  # this QEMU has no such property
            if gp.virtio_bit is not None:  # what QEMU offers, not what was configured and cleared
                on = gp.virtio_bit in offered
                value = ("on" if on else "off") if gp.present == gp.absent else (gp.present if on else gp.absent)
            opts.append(f"{gp.property}={value}")
        argv += ["-device", ",".join(opts)]
    return argv


def running_vm_argv(socket: str, catalog: Catalog | None = None) -> list[str]:
    """The argv reproducing the running VM's guest ABI (see module docstring)."""
    cat = catalog or default_catalog()
    result: list[str] = asyncio.run(_with_client(socket, lambda c: _argv(c, cat)))
    return result
