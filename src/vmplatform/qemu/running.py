"""A running QEMU, read over QMP: its offered features, and its VM as an argv.

* :func:`check_running_vm`: every feature QEMU *offers* the guest must be on
  the destination. Negotiated bits are what the migration stream carries
  today, but a rebooted guest negotiates whatever is offered, so a VM that
  offers USO needs USO wherever it runs next (README, "Offered, not
  negotiated, decides"). The platform the VM records must be supported by
  the destination host too: the destination starts with it explicitly.
* :func:`running_vm_argv`: the VM as the QEMU argv that would reproduce its
  guest ABI (machine type, accelerator, the recorded platform, each
  virtio-net NIC with its backend and the *effective* value of every
  governed property: what QEMU offers now, not what was configured and
  silently cleared), for ``analyze --qmp``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from vmplatform.errors import QemuError
from vmplatform.model.features import Catalog, default_catalog
from vmplatform.model.machines import normalize_value
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.report import HostReport
from vmplatform.model.virtio_bits import VIRTIO_NET_BITS, decode_status_features
from vmplatform.qemu.qmp_boundary import QmpSession
from vmplatform.resolution.verdict import Verdict, judge

CONNECT_TIMEOUT = 5.0
_INFO_NETWORK = re.compile(r"^\s*\\\s*([^:]+):\s*index=\d+,type=([\w-]+)", re.M)


_HINT = ("pass the QMP socket of the running QEMU (or of 'vmplatform qmp'); QEMU serves one client per "
         "-qmp socket, so add a second -qmp or go through 'vmplatform qmp'")


async def connect(socket: str) -> QmpSession:
    """A session with the running VM's QMP monitor (QmpConnectError saying what to pass)."""
    return await QmpSession.connect(socket, timeout=CONNECT_TIMEOUT, hint=_HINT)


async def _with_client(socket: str, fn: Any) -> Any:
    async with await connect(socket) as session:
        return await fn(session)


# -- negotiated features --------------------------------------------------------

async def virtio_devices(ex: Any) -> list[Any]:
    """The VM's virtio devices (x-query-virtio); a VM without any has none, not an error."""
    from vmplatform.qmp.local import NO_VIRTIO_DEVICES, LocalCommandError

    try:
        devices: list[Any] = await ex("x-query-virtio", None)
    except LocalCommandError as err:
        if err.desc != NO_VIRTIO_DEVICES:
            raise QemuError(f"x-query-virtio failed: {err.desc}") from None
        return []
    return devices


async def _dependencies(client: QmpSession, catalog: Catalog) -> tuple[str | None, str, list[dict[str, Any]]]:
    from vmplatform.qemu.platform_record import read_recorded_platform, read_running_accel
    from vmplatform.qmp.local import DependencyReader

    execute = client.execute_for_readers
    return (await read_recorded_platform(execute), (await read_running_accel(execute)).value,
            await DependencyReader(catalog).read(execute))


def check_running_vm(socket: str, report: HostReport, platforms: PlatformSet) -> Verdict:
    """Can ``report``'s host receive the running VM: its offered features and its platform."""
    platform, accel, devices = asyncio.run(_with_client(socket, lambda c: _dependencies(c, platforms.catalog)))
    return judge_running(platform, accel, devices, report, platforms)


def judge_running(platform: str | None, accel: str, devices: list[dict[str, Any]], report: HostReport,
                  platforms: PlatformSet) -> Verdict:
    """The verdict for a VM read over QMP (``devices``: query-platform-dependencies' entries)."""
    from vmplatform.model.accel import Accel
    from vmplatform.resolution.support import evaluate

    required: dict[str, str] = {}
    for dev in devices:
        negotiated = set(dev["negotiated-features"])
        for f in dev["offered-features"]:
            state = "offered, negotiated by the guest" if f in negotiated else "offered to the guest"
            required.setdefault(f, f"virtio-net {dev['path']} ({state})")
    problems = []
    subject = "this running VM"
    if platform is not None:
        subject += f" (platform {platform})"
        if platform in platforms:
            ps = evaluate(report, platforms, Accel(accel)).get(platform)
            if not ps.supported:
                problems.append(f"host {report.name} does not support platform {platform}, which the VM runs "
                                f"(lacks {', '.join(u.feature for u in ps.missing)}): its destination must start "
                                f"with -platform {platform}")
        else:
            problems.append(f"the VM runs platform {platform}, which is not defined here: pass --platform-dir")
    return judge(required, required, report, platforms, problems, subject=subject)


# -- the VM as an argv ------------------------------------------------------------

async def _argv(client: QmpSession, catalog: Catalog) -> list[str]:
    from vmplatform.qemu.platform_record import read_recorded_platform, read_running_accel
    from vmplatform.qmp.local import LocalCommandError

    ex = client.execute_for_readers
    machine = str(await ex("qom-get", {"path": "/machine", "property": "type"})).removesuffix("-machine")
    accel = await read_running_accel(ex)
    info = str(await ex("human-monitor-command", {"command-line": "info network"}))
    netdev_types = {m.group(1).strip(): m.group(2) for m in _INFO_NETWORK.finditer(info)}
    devices = await virtio_devices(ex)
    argv = ["-machine", machine, "-accel", accel.value]
    platform = await read_recorded_platform(ex)
    if platform is not None:
        argv += ["-platform", platform]
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
                value = normalize_value(await ex("qom-get", {"path": parent, "property": gp.prop}))
            except LocalCommandError:
                continue  # this QEMU has no such property (QEMU's error reply)
            if gp.virtio_bit is not None:  # what QEMU offers, not what was configured and cleared
                on = gp.virtio_bit in offered
                value = ("on" if on else "off") if gp.present == gp.absent else (gp.present if on else gp.absent)
            opts.append(f"{gp.prop}={value}")
        argv += ["-device", ",".join(opts)]
    return argv


def running_vm_argv(socket: str, catalog: Catalog | None = None) -> list[str]:
    """The argv reproducing the running VM's guest ABI (see module docstring)."""
    cat = catalog or default_catalog()
    result: list[str] = asyncio.run(_with_client(socket, lambda c: _argv(c, cat)))
    return result
