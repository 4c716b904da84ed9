"""libvirt virtual networks: what an ``<interface type='network'>`` really is.

An interface of type ``network`` takes its real type from the network's
definition (libvirt src/conf/domain_conf.c ``virDomainNetResolveActualType``,
read for this module at libvirt.git 4cf22396): ``<forward mode='hostdev'>``
is a pool of SR-IOV functions passed through with VFIO (``hostdev``: no TAP,
no virtio-net, the guest sees the host's hardware); ``bridge``, ``private``,
``vepa`` and ``passthrough`` with an interface pool are macvtap (``direct``);
everything else (``nat``, ``route``, ``open``, no ``<forward>``, ``bridge``
with a ``<bridge>``) is a TAP on a bridge. Only the hostdev case changes what
QEMU gets, so only the forward mode is kept.

The domain XML does not say which: libvirt resolves the network when the
domain starts (the ``prepare`` hook still sees ``type='network'``; the
status XML under /run/libvirt/qemu then carries ``<actual type=..>``). So the
definition comes from a network XML given by the user (``virsh net-dumpxml
NAME``) or from libvirt's own files on this host: the status of an active
network (/run/libvirt/network/NAME.xml, ``<networkstatus>``) first, then its
persistent definition (/etc/libvirt/qemu/networks/NAME.xml). A network found
nowhere is an error where it matters, never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from vmplatform.libvirt import _xml
from vmplatform.libvirt._xml import DomainXmlError
from vmplatform.records import field, record

# libvirt's own locations (src/network/bridge_driver.c: stateDir /run/libvirt/network,
# configDir $SYSCONFDIR/libvirt/qemu/networks), active status first.
SYSTEM_DIRS = (Path("/run/libvirt/network"), Path("/etc/libvirt/qemu/networks"))
# Directories of NAME.xml network definitions searched before libvirt's (os.pathsep-separated), e.g. set
# by the hook's wrapper script on a host that keeps them elsewhere.
DIRS_ENV = "VMPLATFORM_LIBVIRT_NETWORK_DIRS"
HOSTDEV = "hostdev"
DIRECT_MODES = frozenset({"bridge", "private", "vepa", "passthrough"})


@record
class Network:
    name: str
    forward: str            # <forward mode=..>, "" without <forward>
    has_bridge: bool        # a <bridge name=..> (forward mode bridge then means a TAP on it)
    source: str

    @property
    def actual_type(self) -> str:
        """The interface type an ``<interface type='network'>`` on this network gets."""
        if self.forward == HOSTDEV:
            return "hostdev"
        if self.forward in DIRECT_MODES and not (self.forward == "bridge" and self.has_bridge):
            return "direct"
        return "bridge"


def read_network(text: str, source: str) -> Network:
    """A ``<network>`` (``virsh net-dumpxml``) or ``<networkstatus>`` (libvirt's state file)."""
    from xml.dom import minidom
    from xml.parsers.expat import ExpatError

    hint = "pass the XML of a libvirt network, e.g. from 'virsh net-dumpxml NAME'"
    try:
        doc = minidom.parseString(text.encode("utf-8"))
    except ExpatError as err:
        raise DomainXmlError(source, "", f"not well-formed XML (line {err.lineno}, column {err.offset})",
                             hint=hint) from None
    root = _xml.root_of(doc)
    if root.tagName == "networkstatus":
        inner = _xml.element(root, "network")
        if inner is None:
            raise DomainXmlError(source, "", "<networkstatus> without <network>", hint=hint)
        root = inner
    if root.tagName != "network":
        raise DomainXmlError(source, "", f"not a libvirt network XML (root element <{root.tagName}>)", hint=hint)
    name_el = _xml.element(root, "name")
    name = _xml.text_of(name_el).strip() if name_el is not None else ""
    if not name:
        raise DomainXmlError(source, "", "the network has no <name>", hint=hint)
    forward = _xml.element(root, "forward")
    mode = (forward.getAttribute("mode") or "nat") if forward is not None else ""
    return Network(name, mode, _xml.element(root, "bridge") is not None, source)


@record
class Networks:
    """The networks an interface may name: given ones first, then libvirt's files in ``dirs``."""

    given: Mapping[str, Network] = field(default_factory=lambda: MappingProxyType({}))
    dirs: tuple[Path, ...] = ()

    def get(self, name: str) -> Network | None:
        if name in self.given:
            return self.given[name]
        if not valid_name(name):
            # Never a path: the hook runs as root, and the name comes from the domain XML.
            return None
        for d in self.dirs:
            path = d / f"{name}.xml"
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            return read_network(text, str(path))
        return None


def valid_name(name: str) -> bool:
    """A name libvirt could have given a network: no '/' (virXMLCheckIllegalChars in
    src/conf/network_conf.c refuses it), not '.' or '..', no NUL or newline; so a file name."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\0\n")


def networks_from(files: Iterable[str], *, system: bool) -> Networks:
    """Networks from user-given files, plus this host's libvirt files when ``system``."""
    given: dict[str, Network] = {}
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8")
        except OSError as err:
            raise DomainXmlError(f, "", f"cannot read network XML: {err.strerror}",
                                 hint="write it with 'virsh net-dumpxml NAME > FILE'") from err
        net = read_network(text, f)
        given[net.name] = net
    return Networks(MappingProxyType(given), system_dirs() if system else ())


def system_dirs() -> tuple[Path, ...]:
    """``$VMPLATFORM_LIBVIRT_NETWORK_DIRS``, then libvirt's own directories."""
    import os

    extra = [Path(d) for d in os.environ.get(DIRS_ENV, "").split(os.pathsep) if d]
    return (*extra, *SYSTEM_DIRS)
