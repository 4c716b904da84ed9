"""The one typed model of a VM: what every entry point produces, what resolution consumes.

A QEMU argv (both syntaxes, ``-nic``, legacy ``-net``, ``-readconfig``), a
libvirt domain XML, a QMP ``device_add`` / ``netdev_add`` and a running QEMU
are each read into a :class:`VmModel`; pinning and host checks only ever see
the model, so a new syntax is one more reader and never a new hole. What a
reader cannot place in the model goes into :attr:`VmModel.unplaced` and is
refused by name (:meth:`VmModel.refuse_unplaced`), never warned about.

Building one (all values are QEMU's own text: ``"on"``, ``"off"``, numbers as
strings; :func:`device` and :func:`netdev` normalise JSON values)::

    from vmplatform.model.vm import Machine, VmModel, device, netdev
    from vmplatform.model.accel import Accel

    vm = VmModel(
        machine=Machine("pc-q35-10.0", Accel.KVM, {"smm": "on"}),
        devices=(device("virtio-net", {"id": "net0", "netdev": "hostnet0"}, aliases=mc.aliases),),
        backends=(netdev("tap", "hostnet0", {"vhost": "on"}),),
    )
    devices, config = vm.resolution_input(mc, governed)   # -> resolve.resolve()

``device`` resolves QEMU's alias (``virtio-net`` -> ``virtio-net-pci`` on
x86, read from the QEMU binary into the machine catalog) into
:attr:`VmDevice.qom_type`; :attr:`VmDevice.driver` keeps what was written.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from vmplatform.errors import UsageError
from vmplatform.model.accel import Accel
from vmplatform.model.machines import normalize_value
from vmplatform.records import field, record

if TYPE_CHECKING:
    from vmplatform.model.machines import MachineCatalog

# Netdev types whose peer has no vnet header: QEMU offers no TAP offload
# (net/*.c: only tap implements NetClientInfo.has_vnet_hdr; a hubport never does).
NO_VNET_HDR_NETDEVS = frozenset({"user", "socket", "stream", "dgram", "vde", "l2tpv3", "hubport", "passt",
                                 "netmap"})
# Netdev types whose offered features come from another process or hardware:
# the host kernel does not decide them, so vmplatform does not pin them.
FOREIGN_NETDEVS = frozenset({"vhost-user", "vhost-vdpa", "af-xdp", "vmnet-host", "vmnet-shared",
                             "vmnet-bridged"})
TAP_NETDEVS = frozenset({"tap", "bridge"})

_TRUE = ("on", "true", "yes")


class Backend(enum.Enum):
    TAP = "tap"              # tap with vnet header, vhost off
    TAP_VHOST = "tap-vhost"  # tap with vhost=on
    NO_VNET_HDR = "none"     # user, socket, stream, tap vnet_hdr=off, ...


@record
class Device:
    """One device of the VM, as far as resolution cares."""

    id: str                                  # QEMU id= or a generated one ("net0")
    type: str                                # user-facing QOM type, e.g. virtio-net-pci
    backend: Backend | None = None           # for NICs
    props: Mapping[str, str] = field(default_factory=dict)   # explicit -device properties
    tap_queues: int = 1                      # queues of its tap netdev (more than one: IFF_MULTI_QUEUE)


@record
class VmConfig:
    machine: str
    devices: tuple[Device, ...]
    accel: Accel = Accel.KVM
    user_globals: tuple[tuple[str, str, str], ...] = ()      # (driver, property, value)
    machine_props: Mapping[str, str] = field(default_factory=dict)


class Origin(enum.Enum):
    """Which road a device took into the VM (for messages and the rewrite)."""

    DEVICE = "-device"
    NIC = "-nic"
    NET = "-net nic"
    READCONFIG = "-readconfig"
    DOMAIN_XML = "domain XML"
    QMP = "device_add"
    RUNNING = "running QEMU"


def _props(values: Mapping[str, object]) -> Mapping[str, str]:
    return MappingProxyType({k: normalize_value(v) if isinstance(v, bool) else str(v) for k, v in values.items()})


@record
class Machine:
    """``-machine TYPE,PROP=V`` plus the accelerator. ``type`` None: QEMU's default machine."""

    type: str | None
    accel: Accel = Accel.TCG     # QEMU's default for qemu-system-* without -accel
    props: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@record
class NetBackend:
    """One ``-netdev`` (or ``netdev_add``): its type and options as written."""

    id: str
    type: str
    props: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def vnet_hdr(self) -> bool:
        return self.type in TAP_NETDEVS and self.props.get("vnet_hdr", "on").lower() not in ("off", "false", "no")

    @property
    def vhost(self) -> bool:
        """vhost-net in use: vhost=on, vhostforce=on, or a vhost fd handed over."""
        p = self.props
        return self.type in TAP_NETDEVS and (p.get("vhost", "off").lower() in _TRUE or "vhostfd" in p
                                             or "vhostfds" in p or p.get("vhostforce", "off").lower() in _TRUE)

    @property
    def opens_vhost(self) -> bool:
        """QEMU itself opens /dev/vhost-net (no fd handed over)."""
        return self.vhost and "vhostfd" not in self.props and "vhostfds" not in self.props

    @property
    def tap_queues(self) -> int:
        """The queues of a tap netdev: ``queues=N``, else one per fd of ``fds=A:B:...``, else 1.

        More than one needs IFF_MULTI_QUEUE: QEMU asks for it when it opens the TAP
        (net/tap-linux.c tap_open(), mq_required), and whoever handed the fds over did.
        """
        if self.type != "tap":
            return 1
        queues = self.props.get("queues")
        if queues is not None:
            return int(queues) if queues.isdecimal() else 1   # not a number: QEMU refuses it
        fds = self.props.get("fds")
        return len(fds.split(":")) if fds else 1

    @property
    def backend(self) -> Backend | None:
        """The resolution backend class; None: the netdev decides its own features."""
        if self.type in TAP_NETDEVS:
            if not self.vnet_hdr:
                return Backend.NO_VNET_HDR
            return Backend.TAP_VHOST if self.vhost else Backend.TAP
        if self.type in FOREIGN_NETDEVS:
            return None
        return Backend.NO_VNET_HDR


@record
class VmDevice:
    """One device: the driver as written, the QOM type QEMU makes of it, its properties."""

    driver: str                  # as written: "virtio-net"
    qom_type: str                # what QEMU instantiates: "virtio-net-pci"
    props: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))   # without "driver"
    origin: Origin = Origin.DEVICE

    @property
    def id(self) -> str | None:
        return self.props.get("id")

    @property
    def bus(self) -> str | None:
        return self.props.get("bus")

    @property
    def netdev(self) -> str | None:
        return self.props.get("netdev")


@record
class Firmware:
    """Firmware as far as it decides machine properties (secure boot needs SMM)."""

    bios: str | None = None
    pflash: tuple[str, ...] = ()   # pflash drives / blockdev node names, in order
    secure_boot: bool = False      # cfi.pflash01 secure=on: the OVMF secure-boot build


@record
class GlobalProp:
    driver: str
    prop: str
    value: str


@record
class Unplaced:
    """Something that reaches QEMU but cannot be placed in the model: refused."""

    what: str        # the option as written
    reason: str


@record
class VmModel:
    machine: Machine
    devices: tuple[VmDevice, ...] = ()
    backends: tuple[NetBackend, ...] = ()
    globals: tuple[GlobalProp, ...] = ()
    firmware: Firmware = Firmware()
    unplaced: tuple[Unplaced, ...] = ()
    platform: str | None = None          # -platform as given (name or file)

    def backend(self, netdev_id: str) -> NetBackend | None:
        return next((b for b in self.backends if b.id == netdev_id), None)

    def labels(self) -> tuple[str, ...]:
        """A name per device: its id, else ``driver#N`` (the N-th device of that driver)."""
        seen: dict[str, int] = {}
        out = []
        for d in self.devices:
            seen[d.driver] = seen.get(d.driver, 0) + 1
            out.append(d.id or f"{d.driver}#{seen[d.driver]}")
        return tuple(out)

    def refuse_unplaced(self) -> None:
        """Raise UsageError naming everything the model could not place."""
        if self.unplaced:
            what = "; ".join(f"{u.what}: {u.reason}" for u in self.unplaced)
            raise UsageError(f"vmplatform cannot pin {what}",
                             "write the device as -netdev + -device (or drop it); vmplatform refuses what it "
                             "cannot pin rather than let QEMU decide it from this host")

    def resolution_input(self, mc: MachineCatalog, governed: set[str]) -> tuple[
            list[tuple[int, Device]], list[str]]:
        """The devices resolution must pin, as (index in :attr:`devices`, resolve.Device), and notes.

        A governed NIC whose netdev is not defined is a UsageError; a NIC on a
        netdev that decides its own features (vhost-user, vDPA) is a note. A
        device named as a transport of a governed device that this QEMU does not
        have (``vhost-vsock-pci-transitional``: vsock is modern-only) is a
        UsageError too: nothing of it could be pinned, and QEMU would refuse it.
        """
        out: list[tuple[int, Device]] = []
        notes: list[str] = []
        for i, (dev, label) in enumerate(zip(self.devices, self.labels(), strict=True)):
            lineage = mc.lineage(dev.qom_type)
            if not lineage & governed:
                continue
            if not mc.has_device(dev.qom_type):
                raise UsageError(f"{dev.origin.value} {label}: QEMU {mc.qemu_version} has no device "
                                 f"{dev.qom_type}", "see the device types of the QEMU that runs: -device help")
            backend: Backend | None = None
            queues = 1
            if "virtio-net-device" in lineage:
                nd_id = dev.netdev
                if nd_id is None:
                    backend = Backend.NO_VNET_HDR  # no peer: QEMU offers no offload needing a vnet header
                else:
                    nd = self.backend(nd_id)
                    if nd is None:
                        raise UsageError(f"{dev.origin.value} {label}: netdev '{nd_id}' is not defined by any "
                                         "-netdev", "add -netdev TYPE,id=" + nd_id)
                    backend, queues = nd.backend, nd.tap_queues
                    if backend is None:
                        notes.append(f"{label}: netdev type {nd.type} decides its own features; "
                                     "vmplatform does not pin them")
                        continue
            props = {k: v for k, v in dev.props.items() if k not in ("id", "netdev", "bus", "addr", "mac")}
            out.append((i, Device(label, dev.qom_type, backend, props, queues)))
        return out, notes

    def config(self, machine: str, devices: list[tuple[int, Device]]) -> VmConfig:
        """The resolution's VmConfig for machine type ``machine`` (the catalog's name)."""
        return VmConfig(machine=machine, devices=tuple(d for _, d in devices), accel=self.machine.accel,
                        user_globals=tuple((g.driver, g.prop, g.value) for g in self.globals),
                        machine_props=dict(self.machine.props))


def device(driver: str, props: Mapping[str, object] | None = None, *,
           aliases: Mapping[str, str] | None = None, origin: Origin = Origin.DEVICE) -> VmDevice:
    """A device as written; ``aliases`` (QEMU's alias -> type, ``MachineCatalog.aliases``) resolves it."""
    p = {k: v for k, v in (props or {}).items() if k != "driver"}
    return VmDevice(driver, (aliases or {}).get(driver, driver), _props(p), origin)


def netdev(type: str, id: str, props: Mapping[str, object] | None = None) -> NetBackend:
    """A netdev of ``type`` named ``id``; ``props`` are its other options (JSON values allowed)."""
    p = {k: v for k, v in (props or {}).items() if k not in ("type", "id")}
    return NetBackend(id, type, _props(p))
