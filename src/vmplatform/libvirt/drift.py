"""Does a domain XML still carry its manifest's pins?

A manifest in ``<metadata>`` says which values the VM's platform-governed
properties were pinned to; ``vmplatform libvirt pin`` wrote those values into
the XML (``<driver>`` attributes, ``<qemu:override>``, ``<features><smm>``).
libvirt starts QEMU from the XML alone, without the vmplatform front-end, so
a pin removed from the XML (an override deleted, an attribute changed) is
decided by QEMU again: its device default or the machine type's compat prop -
the silent ABI drift the manifest exists to prevent, while the manifest
itself still checks out.

:func:`xml_resolution` resolves the domain as plain QEMU would (no platform
layer: device defaults, machine-type compat props, backend, ``-global``,
``-device`` properties from libvirt's argv), :func:`pin_drift` compares it
with the manifest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmplatform.libvirt.domain import Domain, qemu_argv
from vmplatform.model.machines import MachineCatalog
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.vm import VmConfig
from vmplatform.qemu.argv import devices_for_resolution, parse
from vmplatform.resolution.manifest import Manifest
from vmplatform.resolution.resolve import Resolution, resolve

if TYPE_CHECKING:
    from vmplatform.libvirt.network import Networks
    from vmplatform.model.report import HostReport


def xml_resolution(domain: Domain, mc: MachineCatalog, platforms: PlatformSet) -> Resolution:
    """What QEMU started by libvirt from this domain uses, without any platform."""
    cl = parse(qemu_argv(domain), mc)
    governed = {gp.driver for f in platforms.catalog for gp in f.governs}
    devices = tuple(d for _, d in devices_for_resolution(cl, mc, governed))
    machine = mc.get(cl.machine_type or domain.machine).name
    config = VmConfig(machine=machine, devices=devices, accel=cl.vm.machine.accel, user_globals=tuple(cl.globals),
                      machine_props=dict(cl.machine_props))
    return resolve(mc, platforms, config, None)


def pin_drift(manifest: Manifest, res: Resolution) -> list[str]:
    """Every pin of ``manifest`` that ``res`` (the XML's own values, :func:`xml_resolution`) does not keep.

    A pin on a device the XML no longer has is drift (one entry per device),
    so is a device whose type changed. A pin whose property is not resolved
    for the XML's device (a property that only matters with vhost on a host
    without vhost, the machine's ``smm`` under TCG, a property this QEMU does
    not have) does not matter here and is skipped.
    """
    devices = {d.id: d.type for d in res.config.devices}
    values = {(p.device, p.prop): p.value for p in res.properties}
    out: list[str] = []
    reported: set[str] = set()
    for pin in manifest.pins:
        if pin.device in reported:
            continue
        if pin.device != "machine":
            if pin.device not in devices:
                reported.add(pin.device)
                out.append(f"{pin.device} ({pin.device_type}) is not in the XML, the manifest pins its properties")
                continue
            if devices[pin.device] != pin.device_type:
                reported.add(pin.device)
                out.append(f"{pin.device} is a {devices[pin.device]} in the XML, the manifest pins a "
                           f"{pin.device_type}")
                continue
        value = values.get((pin.device, pin.prop))
        if value is not None and value != pin.value:
            out.append(f"{pin.device} {pin.prop} is {value} in the XML, the manifest pins {pin.value}")
    return out


def domain_drift(xml: str, source: str, manifest: Manifest, report: HostReport, platforms: PlatformSet,
                 mc: MachineCatalog | None, networks: Networks | None = None) -> list[str]:
    """The manifest's pins that the domain XML ``xml`` does not keep (see :func:`pin_drift`)."""
    from vmplatform.errors import VmplatformError
    from vmplatform.libvirt.domain import read_domain
    from vmplatform.libvirt.network import Networks, system_dirs
    from vmplatform.model.machines import default_machine_catalog
    from vmplatform.model.report import FeatureStatus

    if networks is None:  # libvirt's own files: an active network's status, else its definition
        networks = Networks(dirs=system_dirs())
    domain, _ = read_domain(xml, source, vhost_available=report.status("vhost-net") is FeatureStatus.SUPPORTED,
                            networks=networks)
    if mc is None:
        mc = default_machine_catalog()
        try:
            mc.get(domain.machine)
        except VmplatformError:
            return []  # the packaged snapshot does not know this QEMU's machine type: nothing to compare with
    return pin_drift(manifest, xml_resolution(domain, mc, platforms))
