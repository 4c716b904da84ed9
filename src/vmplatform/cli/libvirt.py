"""``vmplatform libvirt pin --domain-xml FILE``: pin a domain's platform-governed properties.

Writes the domain XML back with every pinned property expressed the libvirt
way (interface ``<driver><host/><guest/>`` attributes, ``<qemu:override>``
where libvirt has no attribute) and the dependency manifest in
``<metadata>``. Everything else in the XML is kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_host, add_platform_dir, host_report, platforms_from
from ._vm import add_network_xml, add_scope_arguments, analyse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["pin"], help="pin: write the pinned domain XML")
    p.add_argument("--domain-xml", required=True, metavar="FILE", help="the domain XML ('virsh dumpxml', - for stdin)")
    p.add_argument("--output", "-o", type=Path, help="write the pinned domain XML here (default: stdout)")
    p.add_argument("--metadata-only", action="store_true",
                   help="write only the manifest into <metadata>, no pins: for a domain whose <emulator> is "
                        "vmplatform-qemu, which pins the manifest's platform itself")
    add_network_xml(p)
    add_host(p)
    add_platform_dir(p)
    add_scope_arguments(p)


def run(ns: argparse.Namespace) -> int:
    from ..libvirt._xml import serialize
    from ..libvirt.pin import pin

    platforms = platforms_from(ns)
    report = host_report(ns)
    vm = analyse(ns, platforms, report, domain_xml=ns.domain_xml, qemu_args=[])
    assert vm.domain is not None and vm.document is not None
    if ns.metadata_only:
        from ..libvirt.metadata import write_manifest

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
