"""A device XML for ``virsh attach-device``, pinned as libvirt applies it to a running domain.

libvirt hot-plugs the device with QMP ``device_add`` built from the device
XML alone: ``<interface><driver><host/><guest/>`` attributes reach QEMU, but
a domain's ``<qemu:override>`` does not (it is applied when QEMU starts; seen
with libvirtd 11.3: an override of ``host_uso`` for the alias of a NIC
attached later leaves ``host_uso`` on). So a pin libvirt has an attribute for
is written into the device XML; a pin it has none for (USO, ``queue_reset``,
``in_order``, a vsock's ``seqpacket``) is only acceptable when QEMU on this
host gives that value by itself, and is refused otherwise.

The device is resolved as part of its domain (``virsh dumpxml DOMAIN``, whose
aliases decide the new device's alias, whose machine type and accelerator
decide its values, and whose manifest in ``<metadata>`` names the platform).
"""

from __future__ import annotations

from xml.dom import minidom
from xml.parsers.expat import ExpatError

from vmplatform.libvirt import _xml
from vmplatform.libvirt._xml import DomainXmlError
from vmplatform.libvirt.domain import Domain, parse_domain
from vmplatform.libvirt.network import Networks
from vmplatform.records import record

ROOTS = ("interface", "vsock")
_HINT = "pass the XML 'virsh attach-device' takes: one <interface> or <vsock> element"


@record
class DeviceInDomain:
    device_doc: minidom.Document      # the device XML as given (pins are written here)
    domain: Domain                    # the domain with the device added
    alias: str                        # what libvirt will call the new device


def read_device(text: str, source: str) -> minidom.Document:
    try:
        doc = minidom.parseString(text.encode("utf-8"))
    except ExpatError as err:
        raise DomainXmlError(source, "", f"not well-formed XML (line {err.lineno}, column {err.offset})", hint=_HINT) \
            from None
    root = _xml.root_of(doc)
    if root.tagName not in ROOTS:
        raise DomainXmlError(source, "", f"<{root.tagName}> is not a device vmplatform pins", hint=_HINT)
    return doc


def in_domain(device_doc: minidom.Document, domain_doc: minidom.Document, source: str, *,
              vhost_available: bool, networks: Networks | None = None) -> DeviceInDomain:
    """The domain as it will be once libvirt attached the device (the domain document is not changed)."""
    combined = minidom.parseString(domain_doc.toxml().encode("utf-8"))
    root = _xml.root_of(combined)
    devices = _xml.element(root, "devices")
    if devices is None:
        devices = _xml.append(root, combined.createElement("devices"))
    dev = _xml.root_of(device_doc)
    if dev.tagName == "vsock" and _xml.element(devices, "vsock") is not None:
        raise DomainXmlError(source, "", "the domain already has a <vsock>",
                             hint="libvirt allows one <vsock> per domain")
    devices.appendChild(combined.importNode(dev, True))
    domain = parse_domain(combined, source, vhost_available=vhost_available, networks=networks)
    if dev.tagName == "vsock":
        assert domain.vsock is not None
        alias = domain.vsock.alias
    else:
        alias = domain.interfaces[-1].alias
    return DeviceInDomain(device_doc, domain, alias)
