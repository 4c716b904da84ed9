"""The QMP commands the endpoint answers itself.

``query-platforms``
    The platforms this host supports, exactly as ``vmplatform
    query-platforms --json`` prints them. Judged once at start-up (the
    answer only changes with the host) and kept serialised, so answering is
    a byte copy.

``query-platform-dependencies``
    What the running VM relies on: the platform in effect (``--platform``
    of the endpoint, else the one the VM records, see
    :mod:`vmplatform.qemu.platform_record`; null if neither) and, per virtio-net
    device, which host features QEMU offers the guest, which the guest
    negotiated, and which offered ones the platform does not guarantee (a
    device that reached QEMU around the platform's pins; null when the
    platform is unknown). ``requires`` is
    every offered feature: a rebooted guest negotiates whatever is offered,
    so offered is what a destination must carry. A VM without a virtio-net
    device depends on nothing (``devices`` is empty). Read live from QEMU
    with ``x-query-virtio`` and ``x-query-virtio-status``::

        {"platform": "linux-6.2", "requires": ["tap-vnet-hdr", "tap-ufo", "tap-uso"],
         "devices": [{"path": "/machine/peripheral/net0/virtio-backend",
                      "name": "virtio-net",
                      "offered-features": ["tap-vnet-hdr", "tap-ufo", "tap-uso"],
                      "negotiated-features": [],
                      "beyond-platform": [],
                      "host-features": "0x...", "guest-features": "0x0"}]}

    A catalog feature is mapped to the virtio bits of the properties it
    governs (``virtio-bit`` in the catalog) on virtio-net or on every virtio
    device (``virtio-device``: transport bits such as RING_RESET). A feature
    counts as offered (negotiated) when ANY of its bits is offered
    (negotiated): the VM depends on the host feature as soon as one bit it
    decides is in the guest ABI. Requiring all bits would drop
    ``tap-vnet-hdr`` from every VM with the default ``hash=off``, and
    ``tap-uso`` from a VM with only ``guest_uso4=off`` although migration to
    a host without USO fails for it just the same. Features that only apply
    with vhost (``applies-to = "tap-vhost"``) count only for a device that
    really uses vhost (``vhost-dev`` present in its status): without vhost
    QEMU offers RING_RESET itself and the host's vhost-net does not matter.
    QEMU reports ``vhost-dev`` only once vhost has started (the guest driver
    is up), so before that a vhost NIC lists no vhost-only features.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from vmplatform.errors import VmplatformError
from vmplatform.model.accel import Accel
from vmplatform.model.features import AppliesTo, Catalog
from vmplatform.model.virtio_bits import bits_to_mask, decode_status_features
from vmplatform.qemu.platform_record import read_recorded_platform, read_running_accel
from vmplatform.records import record
from vmplatform.resolution.support import SupportReport

QUERY_PLATFORMS = "query-platforms"
QUERY_PLATFORM_DEPENDENCIES = "query-platform-dependencies"
#: Every command answered locally, in the order ``query-commands`` lists them.
COMMANDS: tuple[str, ...] = (QUERY_PLATFORMS, QUERY_PLATFORM_DEPENDENCIES)

VIRTIO_NET = "virtio-net"
#: QEMU's answer to x-query-virtio on a VM without virtio devices (hw/virtio/virtio-qmp.c).
NO_VIRTIO_DEVICES = "No virtio devices found"

#: Runs one command in QEMU and returns its ``return`` value; raises
#: :class:`LocalCommandError` for QMP errors.
Execute = Callable[[str, Mapping[str, object] | None], Awaitable[Any]]


class LocalCommandError(VmplatformError):
    """A local command failed; sent to the client as a QMP error of ``error_class``."""

    def __init__(self, desc: str, error_class: str = "GenericError") -> None:
        super().__init__(desc)
        self.desc = desc
        self.error_class = error_class


@record
class FeatureBits:
    """The virtio-net feature bits one host feature decides."""

    feature: str
    bits: frozenset[int]
    vhost_only: bool


def _applies_to_virtio_net(driver: str) -> bool:
    return driver.startswith("virtio-net") or driver == "virtio-device"


def net_feature_bits(catalog: Catalog) -> tuple[FeatureBits, ...]:
    """Catalog features that decide virtio-net bits, in catalog order."""
    out = []
    for feat in catalog:
        bits = frozenset(gp.virtio_bit for gp in feat.governs
                         if gp.virtio_bit is not None and _applies_to_virtio_net(gp.driver))
        if bits:
            out.append(FeatureBits(feat.id, bits, feat.applies_to is AppliesTo.TAP_VHOST))
    return tuple(out)


def check_no_arguments(arguments: Mapping[str, object] | None) -> None:
    """QEMU's error for arguments a command does not take."""
    for name in arguments or {}:
        raise LocalCommandError(f"Parameter '{name}' is unexpected")


def add_local_commands(commands: object) -> object:
    """``query-commands``: QEMU's list plus the commands answered here."""
    if not isinstance(commands, list):
        return commands
    known = {c.get("name") for c in commands if isinstance(c, dict)}
    return commands + [{"name": name} for name in COMMANDS if name not in known]


class DependencyReader:
    """Reads every virtio-net device's offered and negotiated host features from QEMU.

    Shared by the endpoint's ``query-platform-dependencies`` and by
    ``vmplatform check --qmp`` (vmplatform.qemu.running).
    """

    def __init__(self, catalog: Catalog) -> None:
        self.features = net_feature_bits(catalog)

    async def read(self, execute: Execute) -> list[dict[str, Any]]:
        """Ask QEMU for its virtio-net devices and map their feature bits to host features."""
        try:
            devices = await execute("x-query-virtio", None)
        except LocalCommandError as err:
            if err.desc == NO_VIRTIO_DEVICES:
                return []  # nothing virtio: the VM depends on no virtio host feature
            raise LocalCommandError(f"{QUERY_PLATFORM_DEPENDENCIES}: x-query-virtio failed: {err.desc}",
                                    err.error_class) from None
        if not isinstance(devices, list):
            raise LocalCommandError("x-query-virtio returned no device list")
        out = []
        for dev in devices:
            if not isinstance(dev, dict) or dev.get("name") != VIRTIO_NET:
                continue
            path = str(dev.get("path"))
            status = await _call(execute, "x-query-virtio-status", {"path": path})
            out.append(self.device_dependencies(path, status))
        return out

    def device_dependencies(self, path: str, status: object) -> dict[str, Any]:
        """One device's entry from its ``x-query-virtio-status`` reply."""
        if not isinstance(status, dict):
            raise LocalCommandError(f"x-query-virtio-status of {path} returned no object")
        try:
            host = decode_status_features(status.get("host-features") or {})
            guest = decode_status_features(status.get("guest-features") or {})
        except ValueError as err:
            raise LocalCommandError(f"cannot decode the features of {path}: {err}") from None
        vhost = "vhost-dev" in status
        relevant = [f for f in self.features if vhost or not f.vhost_only]
        return {
            "path": path,
            "name": status.get("name", VIRTIO_NET),
            "offered-features": _matching(relevant, host),
            "negotiated-features": _matching(relevant, guest),
            "host-features": hex(bits_to_mask(host)),
            "guest-features": hex(bits_to_mask(guest)),
        }


class LocalCommands:
    """State and handlers of the local commands; built once per endpoint."""

    def __init__(self, support: SupportReport, catalog: Catalog, platform: str | None = None, *,
                 rejudge: Callable[[Accel], SupportReport] | None = None, check_record: bool = False) -> None:
        """``rejudge`` judges the platforms again for the VM's accelerator once it is known (attach);
        ``check_record`` makes attach refuse a ``platform`` the VM's own record contradicts."""
        #: ``--platform`` of the endpoint; else what the VM records (read on each query).
        self.platform = platform
        self.rejudge = rejudge
        self.check_record = check_record
        self.reader = DependencyReader(catalog)
        self._set_support(support)

    def _set_support(self, support: SupportReport) -> None:
        self.support = support
        #: The ``return`` value of query-platforms, serialised once.
        self.platforms_json: bytes = json.dumps(support.to_json()).encode("utf-8")

    async def attach(self, execute: Execute) -> None:
        """Called once QEMU is connected: query-platforms answers for the VM's accelerator
        (KVM-only features cannot make a platform unsupported for a TCG VM). Raises
        LocalCommandError when ``--platform`` contradicts the platform the VM records."""
        if self.platform is not None and self.check_record:
            recorded = await read_recorded_platform(execute)
            if recorded is not None and recorded != self.platform:
                raise LocalCommandError(f"--platform {self.platform} contradicts the VM, which records platform "
                                        f"{recorded} (vmplatform qemu -platform {recorded})")
        if self.rejudge is None:
            return
        accel = await read_running_accel(execute)
        if accel is not self.support.accel:
            self._set_support(self.rejudge(accel))

    def query_platforms(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = json.loads(self.platforms_json)
        return value

    async def platform_in_effect(self, execute: Execute) -> str | None:
        return self.platform if self.platform is not None else await read_recorded_platform(execute)

    def guaranteed(self, platform: str | None) -> frozenset[str] | None:
        """The features ``platform`` guarantees; None when it is unknown here."""
        if platform is None:
            return None
        try:
            return frozenset(self.support.get(platform).platform.features)
        except KeyError:
            return None

    async def query_platform_dependencies(self, execute: Execute) -> dict[str, Any]:
        platform = await self.platform_in_effect(execute)
        devices = await self.reader.read(execute)
        guaranteed = self.guaranteed(platform)
        requires: list[str] = []
        for dev in devices:
            dev["beyond-platform"] = None if guaranteed is None else \
                [f for f in dev["offered-features"] if f not in guaranteed]
            requires += [f for f in dev["offered-features"] if f not in requires]
        order = [f.feature for f in self.reader.features]
        return {"platform": platform, "requires": sorted(requires, key=order.index), "devices": devices}

    def device_dependencies(self, path: str, status: object) -> dict[str, Any]:
        return self.reader.device_dependencies(path, status)


def _matching(features: Sequence[FeatureBits], bits: set[int]) -> list[str]:
    return [f.feature for f in features if not f.bits.isdisjoint(bits)]


async def _call(execute: Execute, command: str, arguments: Mapping[str, object] | None) -> Any:
    try:
        return await execute(command, arguments)
    except LocalCommandError as err:
        raise LocalCommandError(f"{QUERY_PLATFORM_DEPENDENCIES}: {command} failed: {err.desc}",
                                err.error_class) from None
