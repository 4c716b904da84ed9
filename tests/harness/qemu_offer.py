"""Ask a real QEMU what it offers a guest: the slow way our probe replaces.

Starts QEMU (``-S``, TCG, no guest) with one virtio-net NIC on a TAP backend,
reads ``host-features`` from ``x-query-virtio-status`` and quits. Used by the
agreement tests and by the probe benchmark as its anchor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from vmplatform.model.features import Catalog, HostFeature
from vmplatform.model.virtio_bits import decode_status_features
from vmplatform.qemu.proc import QemuProcess

NET_PATH = "/machine/peripheral/net0/virtio-backend"


async def offered_bits_async(binary: str, *, machine: str = "pc-q35-10.0", netdev: str = "tap",
                             device: str = "virtio-net-pci", extra: Sequence[str] = (),
                             env: Mapping[str, str] | None = None) -> set[int]:
    netdev_arg = "tap,id=n0,script=no,downscript=no" if netdev == "tap" else f"{netdev},id=n0"
    args = ["-machine", f"{machine},accel=tcg", "-nodefaults", "-display", "none", "-S",
            "-netdev", netdev_arg, "-device", f"{device},netdev=n0,id=net0", *extra]
    async with QemuProcess(binary, args, env=env) as q:
        status: Any = await q.qmp.execute("x-query-virtio-status", {"path": NET_PATH})
    return decode_status_features(status["host-features"])


def offered_bits(binary: str, **kw: Any) -> set[int]:
    return asyncio.run(offered_bits_async(binary, **kw))


def virtio_net_bits(feature: HostFeature, defaults: Mapping[str, str] | None = None) -> list[int]:
    """Virtio-net feature bits a TAP feature decides (empty if none).

    With ``defaults`` (property -> default of this QEMU), only bits whose
    property is on by default: those QEMU offers whenever the host allows,
    and only properties this QEMU has.
    """
    return [gp.virtio_bit for gp in feature.governs
            if gp.virtio_bit is not None and gp.driver in ("virtio-net-device", "virtio-net-pci")
            and (defaults is None or defaults.get(gp.prop, gp.absent) != gp.absent)]


def qemu_view(catalog: Catalog, bits: set[int], defaults: Mapping[str, str] | None = None) -> dict[str, bool]:
    """Per TAP feature: does QEMU offer every bit that feature decides?

    ``defaults`` are virtio-net-device's property defaults in this QEMU (see
    :func:`virtio_net_bits`): 10.0 has no UDP-tunnel bits and never offers
    hash reports by default, whatever the kernel says.
    """
    out: dict[str, bool] = {}
    for feat in catalog:
        fbits = virtio_net_bits(feat, defaults)
        if fbits and feat.applies_to.value == "tap":
            out[feat.id] = all(b in bits for b in fbits)
    return out
