"""Write a resolution into domain XML, the way libvirt users express it.

For every pinned property of an interface:

* where libvirt has an attribute for it, that attribute: ``<driver><host
  csum= tso4= tso6= ecn= ufo=/><guest csum= tso4= tso6= ecn= ufo=/></driver>``,
  ``<driver rss= rss_hash_report=>`` (the reverse of
  :data:`vmplatform.libvirt.domain.HOST_ATTRS` and friends);
* where it has none (USO, ``queue_reset``, ``in_order``, ...), a QEMU
  passthrough: ``<qemu:override><qemu:device alias='net0'><qemu:frontend>
  <qemu:property name='host_uso' type='bool' value='false'/>``;
* ``<vsock>`` properties (``seqpacket``) as a ``<qemu:override>`` of ``vsock0``
  (libvirt has no attribute for them; QEMU takes ``"seqpacket":"on"``);
* the machine's ``smm`` as ``<features><smm state=..>`` - never for a
  secure-boot firmware, where libvirt itself turns SMM on (the resolution
  then carries ``smm=on`` as the domain's own value, left alone).

Values the domain already sets itself (``user-device`` layer) are left alone.
The manifest goes into ``<metadata>`` (:mod:`vmplatform.libvirt.metadata`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from xml.dom import minidom

from vmplatform.libvirt import _xml
from vmplatform.libvirt._xml import QEMU_NS
from vmplatform.libvirt.domain import DRIVER_ATTRS, GUEST_ATTRS, HOST_ATTRS, Domain
from vmplatform.libvirt.metadata import write_manifest
from vmplatform.resolution.layers import Layer
from vmplatform.resolution.manifest import Manifest
from vmplatform.resolution.resolve import Resolution

if TYPE_CHECKING:
    from vmplatform.libvirt.device import DeviceInDomain

# QEMU property -> (element under <driver>, or "" for <driver> itself; attribute)
_LIBVIRT_ATTR: Mapping[str, tuple[str, str]] = {
    **{prop: ("host", attr) for attr, prop in HOST_ATTRS.items()},
    **{prop: ("guest", attr) for attr, prop in GUEST_ATTRS.items()},
    **{prop: ("", attr) for attr, prop in DRIVER_ATTRS.items()},
}
# OnOffAuto properties: QEMU's JSON -device takes "on"/"off" strings for them, not booleans
# (qemu hw/virtio/vhost-vsock-common.c: DEFINE_PROP_ON_OFF_AUTO("seqpacket", ...), qemu-10.0.2).
_ON_OFF_AUTO = frozenset({"seqpacket"})
# Machine properties libvirt expresses in <features>.
_MACHINE_FEATURES = {"smm"}


def _switch(value: str) -> str:
    return "on" if value == "on" else "off"


def _driver(iface_el: minidom.Element) -> minidom.Element:
    return _xml.ensure(iface_el, "driver")


def _set_attr(iface_el: minidom.Element, where: str, attr: str, value: str) -> None:
    driver = _driver(iface_el)
    if not where:
        driver.setAttribute(attr, _switch(value))
        return
    if where == "guest" and _xml.element(driver, "guest") is None and _xml.element(driver, "host") is None:
        _xml.ensure(driver, "host")  # keep libvirt's order: <host> before <guest>
    _xml.ensure(driver, where).setAttribute(attr, _switch(value))


def _override(root: minidom.Element, alias: str, prop: str, value: str) -> None:
    q = _xml.prefix_for(root, QEMU_NS, "qemu")
    override = _xml.ensure(root, "override", QEMU_NS, f"{q}:override")
    device = _xml.ensure(override, "device", QEMU_NS, f"{q}:device", {"alias": alias})
    frontend = _xml.ensure(device, "frontend", QEMU_NS, f"{q}:frontend")
    el = _xml.ensure(frontend, "property", QEMU_NS, f"{q}:property", {"name": prop})
    if value in ("on", "off") and prop not in _ON_OFF_AUTO:
        el.setAttribute("type", "bool")
        el.setAttribute("value", "true" if value == "on" else "false")
    else:
        el.setAttribute("type", "string")
        el.setAttribute("value", value)


def _machine_feature(root: minidom.Element, prop: str, value: str) -> None:
    features = _xml.element(root, "features")
    if features is None:
        features = _xml.doc_of(root).createElement("features")
        os_el = _xml.element(root, "os")
        if os_el is not None:
            _xml.insert_after(root, features, os_el)
        else:
            _xml.append(root, features)
    _xml.ensure(features, prop).setAttribute("state", _switch(value))


def _write(doc: minidom.Document, domain: Domain, pins: Iterable[tuple[str, str, str, str]]) -> list[str]:
    """Write (device, device type, property, value) pins into ``doc``; returns notes for the user."""
    root = _xml.root_of(doc)
    devices = _xml.element(root, "devices")
    elements = _xml.elements(devices, "interface") if devices is not None else []
    by_alias = {i.alias: elements[i.index] for i in domain.interfaces}
    override_only = domain.override_only
    notes = []
    for device, device_type, prop, value in pins:
        if device == "machine":
            if prop in _MACHINE_FEATURES:
                _machine_feature(root, prop, value)
            else:
                notes.append(f"machine property {prop}={value} has no libvirt element; not pinned")
            continue
        if device in override_only:  # <vsock>, <iommu>: libvirt has no attribute for these properties
            _override(root, device, prop, value)
            continue
        iface_el = by_alias.get(device)
        if iface_el is None:  # a device from <qemu:commandline>: pin it there yourself
            notes.append(f"{device_type} {device} comes from <qemu:commandline>: add "
                         f"{prop}={value} to its -device argument")
            continue
        if prop in _LIBVIRT_ATTR:
            where, attr = _LIBVIRT_ATTR[prop]
            _set_attr(iface_el, where, attr, value)
        else:
            _override(root, device, prop, value)
    return notes


def pin(doc: minidom.Document, domain: Domain, res: Resolution, manifest: Manifest) -> list[str]:
    """Write the pins of ``res`` and ``manifest`` into ``doc``; returns notes for the user."""
    notes = _write(doc, domain, ((p.device, p.device_type, p.prop, p.value) for p in res.properties
                                 if p.layer is not Layer.USER_DEVICE))
    write_manifest(doc, manifest)
    return notes


def pin_manifest(doc: minidom.Document, domain: Domain, manifest: Manifest) -> list[str]:
    """Write ``manifest``'s own pins into ``doc`` (and the manifest into ``<metadata>``), without re-analysing.

    The way back for a domain whose XML lost its pins (:mod:`vmplatform.libvirt.drift`):
    the values are the manifest's, so the guest ABI stays the one it was created with.
    """
    in_xml = {"machine", *domain.aliases}  # user-set values of these may have been lost too
    notes = _write(doc, domain, ((p.device, p.device_type, p.prop, p.value) for p in manifest.pins
                                 if p.source is not Layer.USER_DEVICE or p.device in in_xml))
    write_manifest(doc, manifest)
    return notes


def pin_device(dev: DeviceInDomain, res: Resolution, host_res: Resolution) -> tuple[list[str], list[str]]:
    """Write the pins of the new device into its device XML (:mod:`.device`).

    ``res``: the domain with the device, resolved for its platform; ``host_res``: the same for
    everything this host offers (what QEMU here gives by itself). Returns (notes, refusals): a pin
    libvirt has no attribute for is a note when this host's QEMU gives the value anyway, else a refusal.
    """
    root = _xml.root_of(dev.device_doc)
    by_host = {(p.device, p.prop): p.value for p in host_res.properties}
    notes: list[str] = []
    refusals: list[str] = []
    for p in res.properties:
        if p.device != dev.alias or p.layer is Layer.USER_DEVICE:
            continue
        if root.tagName == "interface" and p.prop in _LIBVIRT_ATTR:
            where, attr = _LIBVIRT_ATTR[p.prop]
            _set_attr(root, where, attr, p.value)
            continue
        here = by_host.get((p.device, p.prop))
        if here == p.value:
            notes.append(f"{p.device} {p.prop}={p.value}: libvirt has no attribute for it and does not apply "
                         "<qemu:override> to a hot-plugged device; QEMU on this host gives that value by itself. "
                         "Re-pin the domain after attaching ('vmplatform libvirt pin --domain-xml') so a restart "
                         "or migration keeps it")
        else:
            refusals.append(f"{p.device} {p.prop}={p.value} (QEMU on this host would give {here})")
    return notes, refusals
