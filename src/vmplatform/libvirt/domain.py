"""A libvirt domain XML, read the way libvirt's QEMU driver turns it into QEMU's argv.

Only what decides platform-governed properties is read: the machine type,
the accelerator, every ``<interface>`` (NIC model, backend, vhost, offload
attributes) and vmplatform-relevant ``<qemu:override>`` / ``<qemu:commandline>``
passthrough. :func:`qemu_argv` writes that as the QEMU arguments libvirt would
pass, so the domain goes through exactly the same resolution as a QEMU
command line (:func:`vmplatform.qemu.frontend.rewrite`).

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
* ``<features><smm state=..>`` is ``-machine smm=..`` (docs/formatdomain.rst);
  a secure-boot firmware turns SMM on when ``<smm>`` is absent:
  ``src/qemu/qemu_firmware.c`` (firmware autoselection, ``<os
  firmware='efi'>``): a firmware descriptor with ``requires-smm`` (every x86
  secure-boot build) sets the SMM feature on; ``src/qemu/qemu_validate.c``
  ``qemuValidateDomainDefBoot``: a manual ``<loader secure='yes'>`` without
  ``<smm state='on'/>`` is refused ("Secure boot requires SMM feature
  enabled", also verified with libvirtd 11.3);
* the NIC model: ``src/conf/domain_conf.c`` ``virDomainNetSetModelString``
  matches libvirt's model names case-insensitively (``ViRtIo`` is
  ``virtio``, verified with libvirtd 11.3 ``domxml-to-native``); any other
  name is passed verbatim as the QEMU device (``<model
  type='virtio-net-pci'/>`` is ``-device virtio-net-pci``), but only the
  libvirt virtio models get a vnet header, vhost and the ``<driver>``
  offload attributes (``virDomainNetIsVirtioModel``, used by
  ``qemuInterfaceIsVnetCompatModel``, ``qemuInterfaceOpenVhostNet`` and
  ``qemuBuildNicDevProps``): a TAP without vnet header;
* ``<interface type='network'>`` takes the network's type
  (:mod:`.network`): a ``<forward mode='hostdev'>`` pool is a VFIO
  passthrough (no TAP, nothing to pin) and takes a ``hostdev<N>`` alias
  (``qemuAssignDeviceNetAlias``); a status XML's ``<actual type=..>`` says it
  directly;
* ``<vsock>``: ``qemuBuildVsockDevProps`` (same commit) gives QEMU
  ``vhost-vsock-pci`` (``-transitional`` / ``-non-transitional`` by model,
  ``vhost-vsock-device`` on virtio-mmio, ``vhost-vsock-ccw`` on ccw; QEMU
  has no ``vhost-vsock-pci-transitional``, vsock being modern-only, nor ccw
  on x86_64, so resolution refuses those as devices this QEMU lacks) with id
  ``vsock0`` (``qemuAssignDeviceVsockAlias``), ``guest-cid`` and a vhostfd,
  and never ``seqpacket``: QEMU's default ``seqpacket=auto`` follows the
  host kernel, so it is pinned like a NIC property;
* only x86_64 domains: vmplatform's machine types and pins are those of
  ``qemu-system-x86_64`` (libvirt takes the architecture from ``<os><type
  arch=..>``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from types import MappingProxyType
from xml.dom import minidom

from vmplatform.libvirt import _xml
from vmplatform.libvirt._xml import QEMU_NS, DomainXmlError
from vmplatform.libvirt.network import Networks
from vmplatform.model.accel import Accel
from vmplatform.records import field, record

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
# libvirt's own NIC model names (src/conf/domain_conf.c virDomainNetModel), matched case-insensitively;
# the virtio ones are in VIRTIO_MODELS, the others are given to QEMU under libvirt's lower-case name.
LIBVIRT_NIC_MODELS = frozenset({
    *VIRTIO_MODELS, "netfront", "rtl8139", "e1000", "e1000e", "igb", "usb-net", "spapr-vlan", "lan9118",
    "smc91c111", "vmxnet3", "ne2k_isa", "ne2k_pci", "pcnet", "i82551", "i82557b", "i82559er"})
VSOCK_MODELS: Mapping[str, str] = MappingProxyType({
    "": "vhost-vsock-pci", "virtio": "vhost-vsock-pci", "virtio-transitional": "vhost-vsock-pci-transitional",
    "virtio-non-transitional": "vhost-vsock-pci-non-transitional"})
_VSOCK_BY_ADDRESS = {"virtio-mmio": "vhost-vsock-device", "ccw": "vhost-vsock-ccw"}
SUPPORTED_ARCHES = frozenset({"x86_64"})


class NetBackend(enum.Enum):
    """How libvirt connects an interface to the host (qemuBuildHostNetProps), as the guest ABI sees it."""

    TAP = "tap"                  # a TAP fd with a vnet header, vhost off
    TAP_VHOST = "tap-vhost"      # the same with vhost-net
    TAP_NO_VNET_HDR = "tap-novnet"  # a TAP for a model that is not virtio: no vnet header, no vhost
    NO_VNET_HDR = "none"         # user, socket and other netdevs without a vnet header
    FOREIGN = "foreign"          # vhost-user, vdpa: the other end decides the features
    HOSTDEV = "hostdev"          # a passed-through host device: no netdev at all
    UNSUPPORTED = "unsupported"  # a type not modelled here


@record
class Interface:
    """One ``<interface>`` as libvirt gives it to QEMU."""

    index: int                           # position among <devices><interface>
    alias: str
    net_type: str                        # <interface type=..>
    device: str | None                   # QEMU device (virtio-net-pci, ...); None: not virtio
    backend: NetBackend
    props: Mapping[str, object] = field(default_factory=dict)   # -device properties the XML sets
    network: str = ""                    # <source network=..> of a type='network' interface
    queues: int = 1                      # <driver queues=N>: libvirt hands QEMU N multi-queue TAP fds


@record
class Vsock:
    """The ``<vsock>`` device (libvirt allows one)."""

    alias: str
    device: str                          # vhost-vsock-pci, ...
    cid: int | None                      # None: <cid auto='yes'> (libvirt picks a free one at start)
    props: Mapping[str, object] = field(default_factory=dict)


@record
class OverrideDevice:
    """A device whose governed properties libvirt has no attribute for (pinned with ``<qemu:override>``):
    ``<iommu model='virtio'>`` (libvirt passes QEMU's alias ``virtio-iommu``), ``<memory
    model='virtio-mem'>`` (``virtio-mem-pci``)."""

    alias: str
    device: str
    props: Mapping[str, object] = field(default_factory=dict)


@record
class Domain:
    name: str
    machine: str
    accel: Accel                         # KVM for <domain type='kvm'>, TCG for type='qemu'
    interfaces: tuple[Interface, ...]
    machine_props: Mapping[str, str] = field(default_factory=dict)
    commandline: tuple[str, ...] = ()    # <qemu:commandline> arguments
    notes: tuple[str, ...] = ()
    vsock: Vsock | None = None
    secure_boot: bool = False            # a secure-boot firmware: libvirt turns SMM on
    emulator: str = ""                   # <devices><emulator>
    iommu: OverrideDevice | None = None
    memory: tuple[OverrideDevice, ...] = ()        # <memory model='virtio-mem'> devices

    @property
    def override_only(self) -> frozenset[str]:
        """Devices whose pins libvirt can only take as ``<qemu:override>`` (no attributes for them)."""
        return frozenset([*([self.vsock.alias] if self.vsock else []), *([self.iommu.alias] if self.iommu else []),
                          *(m.alias for m in self.memory)])

    @property
    def aliases(self) -> frozenset[str]:
        """The devices this XML defines (the ones a pin can be written into)."""
        return frozenset([*(i.alias for i in self.interfaces), *self.override_only])


def _switch(value: str, where: str, source: str) -> bool:
    if value not in ("on", "off"):
        raise DomainXmlError(source, "", f"{where}='{value}': expected 'on' or 'off'",
                             hint="libvirt accepts on/off for interface driver attributes")
    return value == "on"


def _override_value(prop: minidom.Element, alias: str, source: str) -> object:
    kind, value = prop.getAttribute("type"), prop.getAttribute("value")
    name = prop.getAttribute("name")
    where = f"{source}: <qemu:device alias='{alias}'> property '{name}'"
    if kind == "bool":
        if value not in ("true", "false"):
            raise DomainXmlError(where, "", f"bool value '{value}' is not true or false")
        return value == "true"
    if kind in ("signed", "unsigned"):
        try:
            return int(value, 0)
        except ValueError:
            raise DomainXmlError(where, "", f"{kind} value '{value}' is not a number") from None
    if kind == "string":
        return value
    raise DomainXmlError(where, "", f"unknown type '{kind}'",
                         hint="libvirt knows string, signed, unsigned, bool, remove")


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


def _actual_type(el: minidom.Element, networks: Networks, source: str) -> tuple[str, str]:
    """(the interface's real type, its network name or ""); a network nobody knows is ("network", name)."""
    net_type = el.getAttribute("type")
    actual = _xml.element(el, "actual")
    if actual is not None and actual.getAttribute("type"):  # libvirt's status XML says it
        net_type = actual.getAttribute("type")
    if net_type != "network":
        return net_type, ""
    src = _xml.element(el, "source")
    name = src.getAttribute("network") if src is not None else ""
    if not name:
        raise DomainXmlError(source, "", "<interface type='network'> without <source network='...'>",
                             hint="name the libvirt network the interface is on")
    found = networks.get(name)
    return (found.actual_type if found is not None else "network"), name


def _aliases(ifaces: list[minidom.Element], types: list[str], hostdevs: list[minidom.Element]) -> list[str]:
    """libvirt's aliases for the interfaces (qemuAssignDeviceNetAlias, qemuAssignDeviceHostdevAlias)."""
    def alias_of(el: minidom.Element) -> str:
        alias_el = _xml.element(el, "alias")
        return alias_el.getAttribute("name") if alias_el is not None else ""

    given = [alias_of(el) for el in ifaces]
    others = [alias_of(el) for el in hostdevs]  # <hostdev> elements take hostdevN aliases too

    def next_index(prefix: str, pool: list[str]) -> int:
        used = [int(a[len(prefix):]) for a in pool if a.startswith(prefix) and a[len(prefix):].isascii()
                and a[len(prefix):].isdigit()]
        return max(used) + 1 if used else 0

    for i in range(len(ifaces)):
        if not given[i]:
            if types[i] == "hostdev":
                given[i] = f"hostdev{next_index('hostdev', given + others)}"
            else:
                given[i] = f"net{next_index('net', given)}"
    return given


def _model(el: minidom.Element) -> str:
    """The model as libvirt keeps it: its own names lower-cased, any other name verbatim."""
    model = _xml.element(el, "model")
    kind = model.getAttribute("type") if model is not None else ""
    return kind.lower() if kind.lower() in LIBVIRT_NIC_MODELS else kind


def _device(model: str, el: minidom.Element) -> str | None:
    """The QEMU device of a libvirt virtio model; None for other models."""
    if model not in VIRTIO_MODELS:
        return None
    addr = _xml.element(el, "address")
    return _BY_ADDRESS.get(addr.getAttribute("type") if addr is not None else "", VIRTIO_MODELS[model])


def _backend(net_type: str, driver: minidom.Element | None, accel: Accel, vhost_available: bool,
             virtio_model: bool) -> NetBackend:
    if net_type in FOREIGN_TYPES:
        return NetBackend.FOREIGN
    if net_type in NO_VNET_HDR_TYPES:
        return NetBackend.NO_VNET_HDR
    if net_type == "hostdev":
        return NetBackend.HOSTDEV
    if net_type not in TAP_TYPES:
        return NetBackend.UNSUPPORTED
    if not virtio_model:  # qemuInterfaceIsVnetCompatModel: no IFF_VNET_HDR, no vhost
        return NetBackend.TAP_NO_VNET_HDR
    name = driver.getAttribute("name") if driver is not None else ""
    if accel is not Accel.KVM or name == "qemu":
        return NetBackend.TAP
    return NetBackend.TAP_VHOST if name == "vhost" or vhost_available else NetBackend.TAP


def _interface(el: minidom.Element, index: int, alias: str, net_type: str, network: str, accel: Accel,
               vhost_available: bool, overrides: Mapping[str, list[tuple[str, object | None]]],
               source: str) -> Interface:
    model = _model(el)
    device = _device(model, el)
    virtio_model = device is not None
    if device is None and model and model not in LIBVIRT_NIC_MODELS and net_type != "hostdev":
        device = model  # passed verbatim to QEMU (a QEMU device name such as virtio-net-pci)
    driver = _xml.element(el, "driver")
    props: dict[str, object] = {}
    if virtio_model and driver is not None:
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
    backend = _backend(net_type, driver, accel, vhost_available, virtio_model)
    queues = 1
    if virtio_model and driver is not None and driver.hasAttribute("queues"):
        text = driver.getAttribute("queues")
        if not text.isdecimal():
            raise DomainXmlError(source, "", f"<driver queues='{text}'>: expected a number",
                                 hint="libvirt takes the number of queues as an unsigned integer")
        queues = int(text)
    return Interface(index, alias, net_type, device, backend, props, network, queues)


def _vsock(devices: minidom.Element | None, overrides: Mapping[str, list[tuple[str, object | None]]],
           source: str) -> Vsock | None:
    found = _xml.elements(devices, "vsock") if devices is not None else []
    if not found:
        return None
    if len(found) > 1:
        raise DomainXmlError(source, "", f"{len(found)} <vsock> devices", hint="libvirt allows one <vsock> per domain")
    el = found[0]
    model = el.getAttribute("model")
    if model not in VSOCK_MODELS:
        raise DomainXmlError(source, "", f"<vsock model='{model}'> is not a libvirt vsock model",
                             hint="libvirt knows virtio, virtio-transitional, virtio-non-transitional")
    addr = _xml.element(el, "address")
    device = _VSOCK_BY_ADDRESS.get(addr.getAttribute("type") if addr is not None else "", VSOCK_MODELS[model])
    alias_el = _xml.element(el, "alias")
    alias = (alias_el.getAttribute("name") if alias_el is not None else "") or "vsock0"
    cid_el = _xml.element(el, "cid")
    cid = None
    if cid_el is not None and cid_el.getAttribute("auto") != "yes" and cid_el.getAttribute("address"):
        try:
            cid = int(cid_el.getAttribute("address"), 0)
        except ValueError:
            raise DomainXmlError(source, "", f"<vsock><cid address='{cid_el.getAttribute('address')}'> is not a number",
                                 hint="give the guest CID as a number, or <cid auto='yes'/>") from None
    props: dict[str, object] = {}
    for prop, value in overrides.get(alias, []):
        if value is None:
            props.pop(prop, None)
        else:
            props[prop] = value
    return Vsock(alias, device, cid, props)


def _iommu(devices: minidom.Element | None, overrides: Mapping[str, list[tuple[str, object | None]]],
           source: str) -> OverrideDevice | None:
    """libvirt qemu_command.c qemuBuildIOMMUCommandLine: model virtio is ``-device virtio-iommu`` with id
    ``iommu0``; newer libvirt passes ``<driver><granule mode='host'/>`` or ``<granule size='4'
    unit='KiB'/>`` as ``granule`` (libvirtd 11.3 ignores the element; seen with domxml-to-native)."""
    el = next((e for e in (_xml.elements(devices, "iommu") if devices is not None else [])
               if e.getAttribute("model") == "virtio"), None)
    if el is None:
        return None
    alias_el = _xml.element(el, "alias")
    alias = (alias_el.getAttribute("name") if alias_el is not None else "") or "iommu0"
    props: dict[str, object] = {}
    driver = _xml.element(el, "driver")
    granule = _xml.element(driver, "granule") if driver is not None else None
    if granule is not None:
        if granule.getAttribute("mode"):
            props["granule"] = granule.getAttribute("mode")
        elif granule.getAttribute("size"):
            unit = (granule.getAttribute("unit") or "KiB").lower()
            size = granule.getAttribute("size")
            if unit not in ("k", "kib") or not (size.isascii() and size.isdigit()):
                raise DomainXmlError(source, "", f"<iommu><driver><granule size='{size}' unit='{unit}'> is not a "
                                     "granule QEMU knows", hint="QEMU takes 4k, 8k, 16k, 64k or host")
            props["granule"] = f"{size}k"
    for prop, value in overrides.get(alias, []):
        if value is None:
            props.pop(prop, None)
        else:
            props[prop] = value
    return OverrideDevice(alias, "virtio-iommu", props)


_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024 ** 2, "mib": 1024 ** 2,
          "mb": 1000 ** 2, "g": 1024 ** 3, "gib": 1024 ** 3, "gb": 1000 ** 3}


def _virtio_mem(devices: minidom.Element | None, overrides: Mapping[str, list[tuple[str, object | None]]],
                source: str) -> tuple[OverrideDevice, ...]:
    """libvirt qemu_command.c qemuBuildMemoryDeviceProps: ``<memory model='virtio-mem'>`` is
    ``-device virtio-mem-pci`` with id ``virtiomem<N>`` (qemuAssignDeviceMemoryAlias) and ``block-size``
    from ``<target><block>`` (in bytes; libvirt's default unit is KiB)."""
    out = []
    mems = [e for e in (_xml.elements(devices, "memory") if devices is not None else [])
            if e.getAttribute("model") == "virtio-mem"]
    for i, el in enumerate(mems):
        alias_el = _xml.element(el, "alias")
        alias = (alias_el.getAttribute("name") if alias_el is not None else "") or f"virtiomem{i}"
        props: dict[str, object] = {}
        target = _xml.element(el, "target")
        block = _xml.element(target, "block") if target is not None else None
        if block is not None:
            unit = (block.getAttribute("unit") or "KiB").lower()
            text = _xml.text_of(block).strip()
            if unit not in _UNITS or not (text.isascii() and text.isdigit()):
                raise DomainXmlError(source, "", f"<memory model='virtio-mem'><target><block unit='{unit}'>{text}"
                                     "</block> is not a size", hint="give the block size as a number of KiB")
            props["block-size"] = int(text) * _UNITS[unit]
        for prop, value in overrides.get(alias, []):
            if value is None:
                props.pop(prop, None)
            else:
                props[prop] = value
        out.append(OverrideDevice(alias, "virtio-mem-pci", props))
    return tuple(out)


def _firmware_smm(root: minidom.Element, os_el: minidom.Element | None, machine_props: dict[str, str],
                  source: str) -> bool:
    """Whether the domain boots a secure-boot firmware; sets ``smm=on`` where libvirt does."""
    if os_el is None:
        return False
    loader = _xml.element(os_el, "loader")
    fw = _xml.element(os_el, "firmware")
    wanted = {f.getAttribute("name"): f.getAttribute("enabled") for f in
              (_xml.elements(fw, "feature") if fw is not None else [])}
    autoselect = os_el.getAttribute("firmware") == "efi"
    secure = (loader is not None and loader.getAttribute("secure") == "yes") or \
        (autoselect and "yes" in (wanted.get("secure-boot"), wanted.get("enrolled-keys")))
    if not secure:
        return False
    smm = machine_props.get("smm")
    if smm == "off":
        raise DomainXmlError(source, "", "a secure-boot firmware with <smm state='off'/>",
                             hint="libvirt refuses it (a secure-boot firmware needs SMM): remove <smm state='off'/> "
                             "or boot a firmware without secure boot")
    if smm is None and not autoselect:
        raise DomainXmlError(source, "", "<loader secure='yes'> without <smm state='on'/>",
                             hint="libvirt refuses it ('Secure boot requires SMM feature enabled'): add "
                             "<smm state='on'/> to <features>")
    machine_props["smm"] = "on"  # qemu_firmware.c: a requires-smm firmware turns SMM on
    return True


def parse_domain(doc: minidom.Document, source: str, *, vhost_available: bool,
                 networks: Networks | None = None) -> Domain:
    """Read ``doc``; ``vhost_available``: the host has /dev/vhost-net (libvirt then uses it);
    ``networks``: where the definitions of libvirt networks the interfaces name are found."""
    networks = networks or Networks()
    root = _xml.root_of(doc)
    virt = root.getAttribute("type")
    accel = {"kvm": Accel.KVM, "qemu": Accel.TCG}.get(virt)
    if accel is None:
        raise DomainXmlError(source, "", f"<domain type='{virt}'> is not a QEMU domain",
                             hint="vmplatform reads domains of type 'kvm' or 'qemu' (TCG)")
    name_el = _xml.element(root, "name")
    name = _xml.text_of(name_el).strip() if name_el is not None else ""
    os_el = _xml.element(root, "os")
    type_el = _xml.element(os_el, "type") if os_el is not None else None
    arch = type_el.getAttribute("arch") if type_el is not None else ""
    if arch and arch not in SUPPORTED_ARCHES:
        raise DomainXmlError(source, "", f"architecture '{arch}' (<os><type arch='{arch}'>) is not supported: "
                             "vmplatform knows the machine types and host-dependent properties of "
                             "qemu-system-x86_64 only",
                             hint="pin x86_64 domains; other architectures have no platform catalog yet")
    machine = type_el.getAttribute("machine") if type_el is not None else ""
    if not machine:
        raise DomainXmlError(source, "", "the domain has no machine type (<os><type machine='...'>)",
                             hint="libvirt fills it in when the domain is defined: use 'virsh dumpxml DOMAIN', or "
                             "add machine='pc-q35-10.0' to <os><type>")
    machine_props: dict[str, str] = {}
    features = _xml.element(root, "features")
    smm = _xml.element(features, "smm") if features is not None else None
    if smm is not None:
        state = smm.getAttribute("state") or "on"
        machine_props["smm"] = "on" if _switch(state, "<features><smm state", source) else "off"
    secure_boot = _firmware_smm(root, os_el, machine_props, source)
    devices = _xml.element(root, "devices")
    elements = _xml.elements(devices, "interface") if devices is not None else []
    hostdevs = _xml.elements(devices, "hostdev") if devices is not None else []
    typed = [_actual_type(el, networks, source) for el in elements]
    unknown = sorted({net for t, net in typed if t == "network"})
    governed = [m for m in map(_model, elements) if m in VIRTIO_MODELS or (m and m not in LIBVIRT_NIC_MODELS)]
    if unknown and governed:  # a hostdev network would also shift the aliases of the others
        raise DomainXmlError(
            source, "", f"libvirt network{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)} "
            "unknown here: whether an interface on it is a TAP or a passed-through host device "
            "(<forward mode='hostdev'>) depends on its definition",
            hint="pass it with --network-xml FILE ('virsh net-dumpxml NAME > FILE'), or run this where libvirt "
            "defines it (/run/libvirt/network, /etc/libvirt/qemu/networks)")
    overrides = _overrides(root, source)
    notes = []
    ifaces = []
    aliases = _aliases(elements, [t for t, _ in typed], hostdevs)
    for i, (el, alias, (net_type, network)) in enumerate(zip(elements, aliases, typed, strict=True)):
        iface = _interface(el, i, alias, net_type, network, accel, vhost_available, overrides, source)
        if iface.device is not None and iface.backend is NetBackend.FOREIGN:
            notes.append(f"interface {alias} (type {iface.net_type}) decides its own features; "
                         "vmplatform does not pin them")
        elif iface.device is not None and iface.backend is NetBackend.UNSUPPORTED:
            notes.append(f"interface {alias}: type '{iface.net_type}' is not modelled; vmplatform does not pin it")
        ifaces.append(iface)
    args: list[str] = []
    for cl in _xml.elements(root, "commandline", QEMU_NS):
        args += [a.getAttribute("value") for a in _xml.elements(cl, "arg", QEMU_NS)]
    emulator_el = _xml.element(devices, "emulator") if devices is not None else None
    emulator = _xml.text_of(emulator_el).strip() if emulator_el is not None else ""
    return Domain(name, machine, accel, tuple(ifaces), machine_props, tuple(args), tuple(notes),
                  _vsock(devices, overrides, source), secure_boot, emulator, _iommu(devices, overrides, source),
                  _virtio_mem(devices, overrides, source))


def read_domain(text: str, source: str, *, vhost_available: bool,
                networks: Networks | None = None) -> tuple[Domain, minidom.Document]:
    doc = _xml.parse(text, source)
    return parse_domain(doc, source, vhost_available=vhost_available, networks=networks), doc


def _device_json(props: Mapping[str, object]) -> str:
    return json.dumps(dict(props), separators=(",", ":"))


def qemu_argv(domain: Domain) -> list[str]:
    """The QEMU arguments libvirt would pass for what vmplatform resolves (no disks, displays, ...)."""
    machine = ",".join([domain.machine, f"accel={domain.accel.value}",
                        *(f"{k}={v}" for k, v in sorted(domain.machine_props.items()))])
    argv = ["-machine", machine]
    for iface in domain.interfaces:
        if iface.device is None:
            continue
        netdev = f"host{iface.alias}"
        queues = f",queues={iface.queues}" if iface.queues > 1 else ""   # libvirt: fds=A:B:... of a multi-queue TAP
        match iface.backend:
            case NetBackend.UNSUPPORTED | NetBackend.HOSTDEV:
                continue
            case NetBackend.TAP:
                argv += ["-netdev", f"tap,id={netdev}{queues}"]
            case NetBackend.TAP_VHOST:
                argv += ["-netdev", f"tap,id={netdev},vhost=on{queues}"]
            case NetBackend.TAP_NO_VNET_HDR:
                argv += ["-netdev", f"tap,id={netdev},vnet_hdr=off"]
            case NetBackend.NO_VNET_HDR:
                argv += ["-netdev", f"user,id={netdev}"]
            case NetBackend.FOREIGN:
                argv += ["-netdev", f"vhost-user,id={netdev},chardev=char{iface.alias}"]
        argv += ["-device", _device_json({"driver": iface.device, "netdev": netdev, "id": iface.alias,
                                          **iface.props})]
    if domain.vsock is not None:
        vs = domain.vsock
        argv += ["-device", _device_json({"driver": vs.device, "id": vs.alias, "guest-cid": vs.cid or 3,
                                          **vs.props})]
    if domain.iommu is not None:
        argv += ["-device", _device_json({"driver": domain.iommu.device, "id": domain.iommu.alias,
                                          **domain.iommu.props})]
    for mem in domain.memory:
        argv += ["-device", _device_json({"driver": mem.device, "id": mem.alias, **mem.props})]
    return argv + list(domain.commandline)
