"""Check a running VM against another host: what did its guests negotiate?

Only negotiated bits must be loadable on the destination (QEMU refuses a
migration stream whose guest features the destination does not offer), so a
VM whose guest never negotiated USO can move to a host without it even if
the source offered USO.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .errors import QemuError
from .features import default_catalog
from .platforms import PlatformSet
from .report import HostReport
from .verdict import Verdict, judge


async def _negotiated(socket: str) -> list[dict[str, Any]]:
    from qemu.qmp import QMPClient

    from .qmp.local import LocalCommands

    client = QMPClient("vmplatform-check")
    try:
        await client.connect(socket)
    except Exception as err:
        raise QemuError(f"cannot connect to QMP socket {socket}: {err}",
                        "pass the QMP socket of the running QEMU (or of 'vmplatform qmp')") from err
    try:
        async def execute(cmd: str, args: Any) -> Any:
            return await client.execute(cmd, args)

        local = LocalCommands.__new__(LocalCommands)
        from .qmp.local import net_feature_bits

        local.features = net_feature_bits(default_catalog())
        local.platform = None
        deps = await local.query_platform_dependencies(execute)
    finally:
        await client.disconnect()
    devices: list[dict[str, Any]] = deps["devices"]
    return devices


def check_running_vm(socket: str, report: HostReport, platforms: PlatformSet) -> Verdict:
    devices = asyncio.run(_negotiated(socket))
    required: dict[str, str] = {}
    relevant: set[str] = set()
    for dev in devices:
        relevant |= set(dev["offered-features"])
        for f in dev["negotiated-features"]:
            required.setdefault(f, f"the guest of virtio-net {dev['path']} (negotiated)")
    return judge(required, relevant, report, platforms, subject="this running VM")
