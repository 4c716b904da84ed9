"""Write a resolution into domain XML, the way libvirt users express it.

For every pinned property of an interface:

* where libvirt has an attribute for it, that attribute: ``<driver><host
  csum= tso4= tso6= ecn= ufo=/><guest csum= tso4= tso6= ecn= ufo=/></driver>``,
  ``<driver rss= rss_hash_report=>`` (the reverse of
  :data:`vmplatform.libvirt.domain.HOST_ATTRS` and friends);
* where it has none (USO, ``queue_reset``, ``in_order``, ...), a QEMU
  passthrough: ``<qemu:override><qemu:device alias='net0'><qemu:frontend>
  <qemu:property name='host_uso' type='bool' value='false'/>``;
* the machine's ``smm`` as ``<features><smm state=..>``.

Values the domain already sets itself (``user-device`` layer) are left alone.
The manifest goes into ``<metadata>`` (:mod:`vmplatform.libvirt.metadata`).
"""

from __future__ import annotations

from collections.abc import Mapping

from xml.dom import minidom

from ..manifest import Manifest
from ..resolve import Layer, Resolution, ResolvedProperty
from . import _xml
from ._xml import QEMU_NS
from .domain import DRIVER_ATTRS, GUEST_ATTRS, HOST_ATTRS, Domain
from .metadata import write_manifest

# QEMU property -> (element under <driver>, or "" for <driver> itself; attribute)
_LIBVIRT_ATTR: Mapping[str, tuple[str, str]] = {
    **{prop: ("host", attr) for attr, prop in HOST_ATTRS.items()},
    **{prop: ("guest", attr) for attr, prop in GUEST_ATTRS.items()},
    **{prop: ("", attr) for attr, prop in DRIVER_ATTRS.items()},
}
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


def _override(root: minidom.Element, alias: str, prop: ResolvedProperty) -> None:
    q = _xml.prefix_for(root, QEMU_NS, "qemu")
    override = _xml.ensure(root, "override", QEMU_NS, f"{q}:override")
    device = _xml.ensure(override, "device", QEMU_NS, f"{q}:device", {"alias": alias})
    frontend = _xml.ensure(device, "frontend", QEMU_NS, f"{q}:frontend")
    el = _xml.ensure(frontend, "property", QEMU_NS, f"{q}:property", {"name": prop.property})
    if prop.value in ("on", "off"):
        el.setAttribute("type", "bool")
        el.setAttribute("value", "true" if prop.value == "on" else "false")
    else:
        el.setAttribute("type", "string")
        el.setAttribute("value", prop.value)


def _machine_feature(root: minidom.Element, prop: ResolvedProperty) -> None:
    features = _xml.element(root, "features")
    if features is None:
        features = _xml.doc_of(root).createElement("features")
        os_el = _xml.element(root, "os")
        if os_el is not None:
            _xml.insert_after(root, features, os_el)
        else:
            _xml.append(root, features)
    _xml.ensure(features, prop.property).setAttribute("state", _switch(prop.value))


def pin(doc: minidom.Document, domain: Domain, res: Resolution, manifest: Manifest) -> list[str]:
    """Write the pins of ``res`` and ``manifest`` into ``doc``; returns notes for the user."""
    root = _xml.root_of(doc)
    devices = _xml.element(root, "devices")
    elements = _xml.elements(devices, "interface") if devices is not None else []
    by_alias = {i.alias: elements[i.index] for i in domain.interfaces}
    notes = []
    for p in res.properties:
        if p.layer is Layer.USER_DEVICE:
            continue
        if p.device == "machine":
            if p.property in _MACHINE_FEATURES:
                _machine_feature(root, p)
            else:
                notes.append(f"machine property {p.property}={p.value} has no libvirt element; not pinned")
            continue
        iface_el = by_alias.get(p.device)
        if iface_el is None:  # a device from <qemu:commandline>: pin it there yourself
            notes.append(f"{p.device_type} {p.device} comes from <qemu:commandline>: add "
                         f"{p.property}={p.value} to its -device argument")
            continue
        if p.property in _LIBVIRT_ATTR:
            where, attr = _LIBVIRT_ATTR[p.property]
            _set_attr(iface_el, where, attr, p.value)
        else:
            _override(root, p.device, p)
    write_manifest(doc, manifest)
    return notes
