"""Hot-plug through the endpoint: ``device_add`` gets the platform's pins.

A device plugged over QMP is one more road into QEMU, so it goes through
the same model and resolution as an argv device (:mod:`vmplatform.model.vm`,
:func:`vmplatform.resolution.resolve.resolve`):

* the driver is resolved to its QOM type with the aliases of the QEMU that
  runs (HMP ``device_add help``, the list ``-device help`` prints):
  ``virtio-net`` is ``virtio-net-pci`` on x86;
* a device with platform-governed properties gets every one the client did
  not set added to its ``device_add`` arguments, typed as QMP wants them
  (JSON booleans for bool properties), resolved for the VM's machine type,
  accelerator, the NIC's backend and the platform in effect;
* what the result needs and this host lacks is refused with a
  ``GenericError`` naming the feature, the property and the Linux release /
  platform that provides it, and QEMU never sees the command;
* without a known platform a governed device is refused: pinning it to this
  host's default would let the host decide the guest ABI.

The NIC's backend comes from the ``netdev_add`` commands seen by the endpoint
and, for netdevs made on QEMU's command line or by another monitor, from HMP
``info network`` (its type; ``vhost`` is not shown there, so such a netdev
counts as vhost-less: features that only vhost masks are then not pinned).
``-global`` settings of the command line cannot be read back over QMP: the
platform's pin wins over them for a hot-plugged device.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from vmplatform.errors import HostLacksFeatures, VmplatformError
from vmplatform.model.machines import MachineCatalog
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.report import HostReport
from vmplatform.model.vm import Machine, NetBackend, Origin, VmConfig, VmModel, device, netdev
from vmplatform.qemu.platform_record import read_recorded_platform, read_running_accel
from vmplatform.qmp.local import Execute, LocalCommandError
from vmplatform.resolution.layers import Layer
from vmplatform.resolution.resolve import check_host, resolve

DEVICE_ADD = "device_add"
NETDEV_ADD = "netdev_add"
NETDEV_DEL = "netdev_del"
GUARDED = frozenset({DEVICE_ADD, NETDEV_ADD, NETDEV_DEL})

_ALIAS_LINE = re.compile(r'^name "([^"]+)".*, alias "([^"]+)"', re.M)   # qdev-monitor.c qdev_print_devinfo
_INFO_NETWORK = re.compile(r"^\s*\\?\s*([^:\s]+):\s*index=\d+,type=([\w-]+)", re.M)
#: Properties that place a device, never resolved.
_PLACEMENT = ("id", "netdev", "bus", "addr", "mac", "driver")

#: Gives the machine catalog of the QEMU that runs (imported on first use).
CatalogSource = Callable[[], MachineCatalog]


class HotplugGuard:
    """Pins and host checks for ``device_add``; one per endpoint."""

    def __init__(self, catalog: CatalogSource, platforms: PlatformSet, report: HostReport,
                 platform: str | None = None) -> None:
        self._catalog_source = catalog
        self._mc: MachineCatalog | None = None
        self.platforms = platforms
        self.report = report
        self.platform = platform
        self.governed = {gp.driver for f in platforms.catalog for gp in f.governs}
        self._netdevs: dict[str, NetBackend] = {}
        self._aliases: dict[str, str] | None = None
        self._anonymous = 0

    # -- what the endpoint reports back
    def netdev_added(self, arguments: Mapping[str, Any] | None) -> None:
        args = dict(arguments or {})
        if isinstance(args.get("id"), str) and isinstance(args.get("type"), str):
            self._netdevs[args["id"]] = netdev(str(args["type"]), args["id"], args)

    def netdev_deleted(self, arguments: Mapping[str, Any] | None) -> None:
        nd_id = (arguments or {}).get("id")
        if isinstance(nd_id, str):
            self._netdevs.pop(nd_id, None)

    # -- device_add
    async def pin(self, arguments: Mapping[str, Any] | None, execute: Execute) -> dict[str, Any]:
        """``device_add``'s arguments with the platform's pins; raises LocalCommandError to refuse."""
        args = dict(arguments or {})
        driver = args.get("driver")
        if not isinstance(driver, str):
            return args  # QEMU words the error for a missing or mistyped driver
        aliases = await self._read_aliases(execute)
        dev = device(driver, {k: v for k, v in args.items() if k != "driver"}, aliases=aliases,
                     origin=Origin.QMP)
        mc = await self._machine_catalog()
        if not mc.lineage(dev.qom_type) & self.governed:
            return args
        label = dev.id or self._anonymous_label(driver)
        platform_name = self.platform if self.platform is not None else await read_recorded_platform(execute)
        if platform_name is None:
            raise LocalCommandError(
                f"{DEVICE_ADD} {label}: this VM records no platform, so vmplatform cannot pin the host-dependent "
                f"properties of {dev.qom_type}; start the VM with 'vmplatform qemu -platform NAME' or the "
                "endpoint with --platform NAME")
        try:
            platform = self.platforms.get(platform_name)
        except VmplatformError:
            raise LocalCommandError(f"{DEVICE_ADD} {label}: the VM runs platform {platform_name}, which is not "
                                    "defined here; start the endpoint with --platform-dir") from None
        machine_type = str(await execute("qom-get", {"path": "/machine", "property": "type"}))
        accel = await read_running_accel(execute)
        backends: tuple[NetBackend, ...] = ()
        if dev.netdev is not None:
            nd = self._netdevs.get(dev.netdev) or await self._netdev_from_qemu(dev.netdev, execute)
            if nd is None:
                return args  # QEMU refuses a device on an undefined netdev, in its words
            backends = (nd,)
        vm = VmModel(Machine(machine_type.removesuffix("-machine"), accel), (dev,), backends)
        try:
            pairs, _notes = vm.resolution_input(mc, self.governed)
            if not pairs:
                return args  # e.g. vhost-user: the netdev decides its own features
            [(_, rdev)] = pairs
            rdev = type(rdev)(label, rdev.type, rdev.backend, rdev.props)
            config = VmConfig(machine=mc.get(vm.machine.type or "").name, devices=(rdev,), accel=accel)
            res = resolve(mc, self.platforms, config, platform)
        except VmplatformError as err:
            raise LocalCommandError(f"{DEVICE_ADD} {label}: {err.message}") from None
        missing = check_host(res, self.report, self.platforms)
        if missing:
            lines = "; ".join(f"host {self.report.name} lacks {m.feature} ({m.provided_by}), required by "
                              f"{m.needed_by}" for m in missing)
            raise LocalCommandError(f"{DEVICE_ADD} {label} refused: {lines}")
        try:
            from vmplatform.resolution.manifest import require_usable

            require_usable(res, self.report, self.platforms)
        except HostLacksFeatures as err:
            raise LocalCommandError(f"{DEVICE_ADD} {label} refused: {err.message}") from None
        for p in res.properties:
            if p.device == label and p.layer is not Layer.USER_DEVICE:
                args[p.prop] = _typed(mc, dev.qom_type, p.prop, p.value)
        return args

    def _anonymous_label(self, driver: str) -> str:
        self._anonymous += 1
        return f"{driver}#hotplug{self._anonymous}"

    async def _machine_catalog(self) -> MachineCatalog:
        if self._mc is None:
            import asyncio

            try:  # in a thread: importing from the binary runs a QEMU (and its own event loop) once
                self._mc = await asyncio.to_thread(self._catalog_source)
            except VmplatformError as err:
                raise LocalCommandError(f"{DEVICE_ADD}: {err.message}") from None
        return self._mc

    async def _read_aliases(self, execute: Execute) -> dict[str, str]:
        if self._aliases is None:
            text = await execute("human-monitor-command", {"command-line": "device_add help"})
            self._aliases = {alias: name for name, alias in _ALIAS_LINE.findall(str(text))}
        return self._aliases

    async def _netdev_from_qemu(self, nd_id: str, execute: Execute) -> NetBackend | None:
        text = str(await execute("human-monitor-command", {"command-line": "info network"}))
        for name, kind in _INFO_NETWORK.findall(text):
            if name == nd_id:
                return netdev(kind, nd_id)
        return None


def _typed(mc: MachineCatalog, qom_type: str, prop: str, value: str) -> object:
    """QMP's device_add takes JSON booleans for bool properties (OnOffAuto ones take strings)."""
    default = mc.device_default(qom_type, prop) or mc.device_default(mc.backend_type(qom_type), prop)
    if default in ("on", "off") and value in ("on", "off"):
        return value == "on"
    return value


