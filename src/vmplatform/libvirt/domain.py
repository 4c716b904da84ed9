"""A libvirt domain XML, read the way libvirt's QEMU driver turns it into QEMU's argv.

Only what decides platform-governed properties is read: the machine type,
the accelerator, every ``<interface>`` (NIC model, backend, vhost, offload
attributes) and vmplatform-relevant ``<qemu:override>`` / ``<qemu:commandline>``
passthrough. :func:`qemu_argv` writes that as the QEMU arguments libvirt would
pass, so the domain goes through exactly the same resolution as a QEMU
command line (:func:`vmplatform.frontend.rewrite`).

Where libvirt decides something, the rule and its source (libvirt.git,
commits read for this module) are next to the code:

* device names and offload attributes: ``src/qemu/qemu_command.c``
  ``qemuBuildNicDevProps`` (4cf22396): ``<driver><host csum gso tso4 tso6 ecn
  ufo mrg_rxbuf/>`` -> ``csum gso host_tso4 host_tso6 host_ecn host_ufo
  mrg_rxbuf``; ``<guest csum tso4 tso6 ecn ufo/>`` -> ``guest_csum guest_tso4
  guest_tso6 guest_ecn guest_ufo``; ``<driver rss=.. rss_hash_report=..>`` ->
  ``rss``, ``hash``; the netdev is ``host<alias>``, the device id ``<alias>``;
* the backend: ``qemuBuildHostNetProps`` (same commit): types network,
  bridge, direct (macvtap) and ethernet are a TAP fd (libvirt opens it with a
  vnet header for virtio, ``qemuInterfaceIsVnetCompatModel``); user, server,
  client, mcast, udp and internal carry no vnet header; vhostuser and vdpa
  decide their own features;
* vhost: ``src/qemu/qemu_interface.c`` ``qemuInterfaceOpenVhostNet``
  (0225483a): never for ``<domain type='qemu'>`` (TCG) nor ``<driver
  name='qemu'/>``; otherwise whenever /dev/vhost-net opens (an error only if
  ``<driver name='vhost'/>`` asked for it). So without a driver name the host
  decides: vhost iff the host report has ``vhost-net`` supported;
* aliases: ``src/qemu/qemu_alias.c`` ``qemuAssignDeviceNetAlias``: an
  ``<alias name=..>`` is kept, others get ``net<N>`` after the highest used N
  (``hostdev<N>`` for ``type='hostdev'``);
* ``<qemu:override><qemu:device alias=..><qemu:frontend><qemu:property
  name= type= value=/>`` replaces (or, ``type='remove'``, drops) a property of
  that device's ``-device`` (docs/drvqemu.rst, libvirt >= 8.2);
* ``<features><smm state=..>`` is ``-machine smm=..`` (docs/formatdomain.rst).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from xml.dom import minidom

from . import _xml
from ._xml import QEMU_NS, DomainXmlError

TAP_TYPES = frozenset({"network", "bridge", "direct", "ethernet"})
NO_VNET_HDR_TYPES = frozenset({"user", "server", "client", "mcast", "udp", "internal"})
FOREIGN_TYPES = frozenset({"vhostuser", "vdpa"})

HOST_ATTRS: Mapping[str, str] = MappingProxyType({
    "csum": "csum", "gso": "gso", "tso4": "host_tso4", "tso6": "host_tso6", "ecn": "host_ecn",
    "ufo": "host_ufo", "mrg_rxbuf": "mrg_rxbuf"})
GUEST_ATTRS: Mapping[str, str] = MappingProxyType({
    "csum": "guest_csum", "tso4": "guest_tso4", "tso6": "guest_tso6", "ecn": "guest_ecn", "ufo": "guest_ufo"})
DRIVER_ATTRS: Mapping[str, str] = MappingProxyType({"rss": "rss", "rss_hash_report": "hash"})
VIRTIO_MODELS: Mapping[str, str] = MappingProxyType({
    "virtio": "virtio-net-pci", "virtio-transitional": "virtio-net-pci-transitional",
    "virtio-non-transitional": "virtio-net-pci-non-transitional"})
_BY_ADDRESS = {"virtio-mmio": "virtio-net-device", "ccw": "virtio-net-ccw"}


@dataclass(frozen=True)
class Interface:
    """One ``<interface>`` as libvirt gives it to QEMU."""

    index: int                           # position among <devices><interface>
    alias: str
    net_type: str                        # <interface type=..>
    device: str | None                   # QEMU device (virtio-net-pci, ...); None: not virtio
    backend: str                         # "tap", "tap-vhost", "none", "foreign", "unsupported"
    props: Mapping[str, object] = field(default_factory=dict)   # -device properties the XML sets


@dataclass(frozen=True)
class Domain:
    name: str
    machine: str
    accel: str                           # "kvm" or "tcg"
    interfaces: tuple[Interface, ...]
    machine_props: Mapping[str, str] = field(default_factory=dict)
    commandline: tuple[str, ...] = ()    # <qemu:commandline> arguments
    notes: tuple[str, ...] = ()


def _switch(value: str, where: str, source: str) -> bool:
    if value not in ("on", "off"):
        raise DomainXmlError(f"{source}: {where}='{value}': expected 'on' or 'off'",
                             "libvirt accepts on/off for interface driver attributes")
    return value == "on"


def _override_value(prop: minidom.Element, alias: str, source: str) -> object:
    kind, value = prop.getAttribute("type"), prop.getAttribute("value")
    name = prop.getAttribute("name")
    where = f"{source}: <qemu:device alias='{alias}'> property '{name}'"
    if kind == "bool":
        if value not in ("true", "false"):
            raise DomainXmlError(f"{where}: bool value '{value}' is not true or false")
        return value == "true"
    if kind in ("signed", "unsigned"):
        try:
            return int(value, 0)
        except ValueError:
            raise DomainXmlError(f"{where}: {kind} value '{value}' is not a number") from None
    if kind == "string":
        return value
    raise DomainXmlError(f"{where}: unknown type '{kind}'", "libvirt knows string, signed, unsigned, bool, remove")


def _overrides(root: minidom.Element, source: str) -> dict[str, list[tuple[str, object | None]]]:
    """alias -> [(property, value or None for type='remove')], in document order."""
    out: dict[str, list[tuple[str, object | None]]] = {}
    for ov in _xml.elements(root, "override", QEMU_NS):
        for dev in _xml.elements(ov, "device", QEMU_NS):
            alias = dev.getAttribute("alias")
            for fe in _xml.elements(dev, "frontend", QEMU_NS):
                for prop in _xml.elements(fe, "property", QEMU_NS):
                    value = None if prop.getAttribute("type") == "remove" else _override_value(prop, alias, source)
                    out.setdefault(alias, []).append((prop.getAttribute("name"), value))
    return out


def _aliases(ifaces: list[minidom.Element]) -> list[str]:
    """libvirt's aliases for the interfaces (qemuAssignDeviceNetAlias)."""
    given = []
    for el in ifaces:
        alias_el = _xml.element(el, "alias")
        given.append(alias_el.getAttribute("name") if alias_el is not None else "")

    def next_index(prefix: str) -> int:
        used = [int(a[len(prefix):]) for a in given if a.startswith(prefix) and a[len(prefix):].isdigit()]
        return max(used) + 1 if used else 0

    for i, el in enumerate(ifaces):
        if not given[i]:
            prefix = "hostdev" if el.getAttribute("type") == "hostdev" else "net"
            given[i] = f"{prefix}{next_index(prefix)}"
    return given


def _device(el: minidom.Element) -> str | None:
    model = _xml.element(el, "model")
    kind = model.getAttribute("type") if model is not None else ""
    if kind not in VIRTIO_MODELS:
        return None
    addr = _xml.element(el, "address")
    return _BY_ADDRESS.get(addr.getAttribute("type") if addr is not None else "", VIRTIO_MODELS[kind])


def _backend(net_type: str, driver: minidom.Element | None, accel: str, vhost_available: bool) -> str:
    if net_type in FOREIGN_TYPES:
        return "foreign"
    if net_type in NO_VNET_HDR_TYPES:
        return "none"
    if net_type not in TAP_TYPES:
        return "unsupported"
    name = driver.getAttribute("name") if driver is not None else ""
    if accel != "kvm" or name == "qemu":
        return "tap"
    return "tap-vhost" if name == "vhost" or vhost_available else "tap"


def _interface(el: minidom.Element, index: int, alias: str, accel: str, vhost_available: bool,
               overrides: Mapping[str, list[tuple[str, object | None]]], source: str) -> Interface:
    net_type = el.getAttribute("type")
    device = _device(el)
    driver = _xml.element(el, "driver")
    props: dict[str, object] = {}
    if device is not None and driver is not None:
        for attr, prop in DRIVER_ATTRS.items():
            if driver.hasAttribute(attr):
                props[prop] = _switch(driver.getAttribute(attr), f"<driver {attr}", source)
        for child, table in (("host", HOST_ATTRS), ("guest", GUEST_ATTRS)):
            sub = _xml.element(driver, child)
            for attr, prop in table.items():
                if sub is not None and sub.hasAttribute(attr):
                    props[prop] = _switch(sub.getAttribute(attr), f"<driver><{child} {attr}", source)
    for prop, value in overrides.get(alias, []):
        if value is None:
            props.pop(prop, None)
        else:
            props[prop] = value
    return Interface(index, alias, net_type, device, _backend(net_type, driver, accel, vhost_available), props)


def parse_domain(doc: minidom.Document, source: str, *, vhost_available: bool) -> Domain:
    """Read ``doc``; ``vhost_available``: the host has /dev/vhost-net (libvirt then uses it)."""
    root = _xml.root_of(doc)
    virt = root.getAttribute("type")
    accel = {"kvm": "kvm", "qemu": "tcg"}.get(virt)
    if accel is None:
        raise DomainXmlError(f"{source}: <domain type='{virt}'> is not a QEMU domain",
                             "vmplatform reads domains of type 'kvm' or 'qemu' (TCG)")
    name_el = _xml.element(root, "name")
    name = _xml.text_of(name_el).strip() if name_el is not None else ""
    os_el = _xml.element(root, "os")
    type_el = _xml.element(os_el, "type") if os_el is not None else None
    machine = type_el.getAttribute("machine") if type_el is not None else ""
    if not machine:
        raise DomainXmlError(f"{source}: the domain has no machine type (<os><type machine='...'>)",
                             "libvirt fills it in when the domain is defined: use 'virsh dumpxml DOMAIN', or "
                             "add machine='pc-q35-10.0' to <os><type>")
    machine_props: dict[str, str] = {}
    features = _xml.element(root, "features")
    smm = _xml.element(features, "smm") if features is not None else None
    if smm is not None:
        state = smm.getAttribute("state") or "on"
        machine_props["smm"] = "on" if _switch(state, "<features><smm state", source) else "off"
    devices = _xml.element(root, "devices")
    elements = _xml.elements(devices, "interface") if devices is not None else []
    overrides = _overrides(root, source)
    notes = []
    ifaces = []
    for i, (el, alias) in enumerate(zip(elements, _aliases(elements))):
        iface = _interface(el, i, alias, accel, vhost_available, overrides, source)
        if iface.device is not None and iface.backend == "foreign":
            notes.append(f"interface {alias} (type {iface.net_type}) decides its own features; "
                         "vmplatform does not pin them")
        elif iface.device is not None and iface.backend == "unsupported":
            notes.append(f"interface {alias}: type '{iface.net_type}' is not modelled; vmplatform does not pin it")
        ifaces.append(iface)
    args: list[str] = []
    for cl in _xml.elements(root, "commandline", QEMU_NS):
        args += [a.getAttribute("value") for a in _xml.elements(cl, "arg", QEMU_NS)]
    return Domain(name, machine, accel, tuple(ifaces), machine_props, tuple(args), tuple(notes))


def read_domain(text: str, source: str, *, vhost_available: bool) -> tuple[Domain, minidom.Document]:
    doc = _xml.parse(text, source)
    return parse_domain(doc, source, vhost_available=vhost_available), doc


def qemu_argv(domain: Domain) -> list[str]:
    """The QEMU arguments libvirt would pass for what vmplatform resolves (no disks, displays, ...)."""
    machine = ",".join([domain.machine, f"accel={domain.accel}",
                        *(f"{k}={v}" for k, v in sorted(domain.machine_props.items()))])
    argv = ["-machine", machine]
    for iface in domain.interfaces:
        if iface.device is None or iface.backend == "unsupported":
            continue
        netdev = f"host{iface.alias}"
        if iface.backend in ("tap", "tap-vhost"):
            argv += ["-netdev", f"tap,id={netdev}" + (",vhost=on" if iface.backend == "tap-vhost" else "")]
        elif iface.backend == "none":
            argv += ["-netdev", f"user,id={netdev}"]
        else:
            argv += ["-netdev", f"vhost-user,id={netdev},chardev=char{iface.alias}"]
        dev: dict[str, object] = {"driver": iface.device, "netdev": netdev, "id": iface.alias, **iface.props}
        argv += ["-device", json.dumps(dev, separators=(",", ":"))]
    return argv + list(domain.commandline)
