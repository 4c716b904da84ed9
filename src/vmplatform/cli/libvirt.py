"""``vmplatform libvirt pin --domain-xml FILE [--device-xml DEV]``: pin a domain's platform-governed properties.

Writes the domain XML back with every pinned property expressed the libvirt
way (interface ``<driver><host/><guest/>`` attributes, ``<qemu:override>``
where libvirt has no attribute) and the dependency manifest in
``<metadata>``. Everything else in the XML is kept.

With ``--device-xml``, writes that device XML (for ``virsh attach-device``)
pinned instead, as part of the domain (:mod:`vmplatform.libvirt.device`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vmplatform.cli._common import add_host, add_platform_dir, host_report, platforms_from
from vmplatform.cli._vm import add_network_xml, add_scope_arguments, analyse

if TYPE_CHECKING:
    from vmplatform.model.platforms import PlatformSet
    from vmplatform.model.report import HostReport


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["pin"], help="pin: write the pinned domain XML")
    p.add_argument("--domain-xml", required=True, metavar="FILE", help="the domain XML ('virsh dumpxml', - for stdin)")
    p.add_argument("--output", "-o", type=Path, help="write the pinned domain XML here (default: stdout)")
    p.add_argument("--device-xml", metavar="FILE",
                   help="pin this <interface> or <vsock> for 'virsh attach-device' into the running domain given "
                        "by --domain-xml ('virsh dumpxml DOMAIN'); its manifest names the platform")
    p.add_argument("--metadata-only", action="store_true",
                   help="write only the manifest into <metadata>, no pins: for a domain whose <emulator> is "
                        "vmplatform-qemu, which pins the manifest's platform itself")
    add_network_xml(p)
    add_host(p)
    add_platform_dir(p)
    add_scope_arguments(p)


def run(ns: argparse.Namespace) -> int:
    from vmplatform.libvirt._xml import serialize
    from vmplatform.libvirt.pin import pin

    platforms = platforms_from(ns)
    report = host_report(ns)
    if ns.device_xml:
        return _pin_device(ns, platforms, report)
    vm = analyse(ns, platforms, report, domain_xml=ns.domain_xml, qemu_args=[])
    assert vm.domain is not None and vm.document is not None
    if ns.metadata_only:
        from vmplatform.libvirt.metadata import write_manifest

        write_manifest(vm.document, vm.manifest)
    else:
        for note in pin(vm.document, vm.domain, vm.rewrite.resolution, vm.manifest):
            print(f"vmplatform: {note}", file=sys.stderr)
    text = serialize(vm.document, vm.xml_text)
    if ns.output:
        ns.output.write_text(text, encoding="utf-8")
        print(f"vmplatform: wrote domain {vm.domain.name} pinned to {vm.manifest.platform or 'this host'} "
              f"to {ns.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _pin_device(ns: argparse.Namespace, platforms: PlatformSet, report: HostReport) -> int:
    from vmplatform.cli._common import machine_catalog_from
    from vmplatform.cli._vm import _read_text, domain_networks
    from vmplatform.errors import UsageError
    from vmplatform.libvirt._xml import DomainXmlError, parse, serialize
    from vmplatform.libvirt.device import in_domain, read_device
    from vmplatform.libvirt.domain import qemu_argv
    from vmplatform.libvirt.metadata import manifest_platform, read_manifest
    from vmplatform.libvirt.pin import pin_device
    from vmplatform.model.platforms import platform_from_spec
    from vmplatform.model.report import FeatureStatus
    from vmplatform.qemu.analysis import analyze
    from vmplatform.resolution.manifest import host_platform

    if ns.scope != "platform" or ns.hosts or ns.metadata_only:
        raise UsageError("--device-xml takes the platform from the domain's manifest or --platform",
                         "drop --scope, --hosts and --metadata-only")
    source = "<stdin>" if ns.domain_xml == "-" else ns.domain_xml
    domain_doc = parse(_read_text(ns.domain_xml), source)
    dev_text = _read_text(ns.device_xml)
    dev_doc = read_device(dev_text, ns.device_xml)
    did = in_domain(dev_doc, domain_doc, source, networks=domain_networks(ns),
                    vhost_available=report.status("vhost-net") is FeatureStatus.SUPPORTED)
    manifest = read_manifest(domain_doc, source)
    if ns.platform:
        platform = platform_from_spec(ns.platform, platforms)[0]
    elif manifest is not None:
        platform = manifest_platform(manifest, platforms, did.domain.name)
    else:
        platform = None  # this host's default, as for the domain itself
    mc = machine_catalog_from(ns)
    argv = qemu_argv(did.domain)
    rw, _ = analyze(argv, mc=mc, platforms=platforms, report=report, platform=platform)
    on_host, _ = analyze(argv, mc=mc, platforms=platforms, report=report, platform=host_platform(report, platforms))
    notes, refusals = pin_device(did, rw.resolution, on_host.resolution)
    if refusals:
        raise DomainXmlError(
            ns.device_xml, "", f"cannot pin for hot-plug into domain {did.domain.name} (platform {rw.platform.name}): "
            f"{'; '.join(refusals)}: libvirt has no attribute for these and applies <qemu:override> only when "
            "QEMU starts",
            hint="attach it with 'virsh attach-device --config' and restart the domain after re-pinning it "
            "('vmplatform libvirt pin --domain-xml'), or hot-plug through the vmplatform QMP endpoint")
    for note in notes:
        print(f"vmplatform: {note}", file=sys.stderr)
    text = serialize(dev_doc, dev_text)
    if ns.output:
        ns.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
