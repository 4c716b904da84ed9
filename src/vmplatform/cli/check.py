"""``vmplatform check``: can this host run (or receive) that VM?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vmplatform.cli._common import add_host, add_json, add_platform_dir, host_report, platforms_from, print_json

if TYPE_CHECKING:
    from vmplatform.model.platforms import PlatformSet
    from vmplatform.model.report import HostReport
    from vmplatform.resolution.verdict import Verdict


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", type=Path, help="dependency manifest written by 'vmplatform analyze'")
    src.add_argument("--qmp", metavar="SOCKET",
                     help="a running VM's QMP socket: check the features it offers its guests and its platform")
    src.add_argument("--domain-xml", metavar="FILE",
                     help="a libvirt domain XML carrying a manifest in <metadata> ('-' for stdin); also checks "
                          "that the XML still carries the manifest's pinned properties")
    add_host(p)
    add_json(p)
    add_platform_dir(p)
    from vmplatform.cli._vm import add_network_xml

    add_network_xml(p)
    p.add_argument("--machine-catalog", type=Path,
                   help="machine catalog of the target host's QEMU, to catch changed machine types")


def run(ns: argparse.Namespace) -> int:
    from vmplatform.model.machines import load_machine_catalog

    platforms = platforms_from(ns)
    report = host_report(ns)
    if ns.manifest:
        from vmplatform.resolution.manifest import check_manifest, loads

        try:
            text = ns.manifest.read_text(encoding="utf-8")
        except OSError as err:
            from vmplatform.resolution.manifest import ManifestError

            raise ManifestError(ns.manifest, "", f"cannot read: {err.strerror}") from err
        mc = load_machine_catalog(ns.machine_catalog) if ns.machine_catalog else None
        verdict = check_manifest(loads(text, str(ns.manifest)), report, platforms, mc)
    elif ns.domain_xml:
        verdict = _check_domain(ns, report, platforms)
    else:
        from vmplatform.qemu.running import check_running_vm

        verdict = check_running_vm(ns.qmp, report, platforms)
    if ns.json:
        print_json(verdict.to_json())
    else:
        stream = sys.stdout if verdict.result.ok else sys.stderr
        print(f"{verdict.result.value}: {verdict.message}", file=stream)
    return 0 if verdict.result.ok else 1


def _check_domain(ns: argparse.Namespace, report: HostReport, platforms: PlatformSet) -> Verdict:
    from vmplatform.libvirt._xml import DomainXmlError
    from vmplatform.libvirt.drift import domain_drift
    from vmplatform.libvirt.metadata import manifest_of
    from vmplatform.model.machines import load_machine_catalog
    from vmplatform.resolution.manifest import ManifestError, check_manifest

    source = "<stdin>" if ns.domain_xml == "-" else ns.domain_xml
    try:
        xml = sys.stdin.read() if ns.domain_xml == "-" else Path(ns.domain_xml).read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestError(source, "", f"cannot read domain XML: {err.strerror}") from err
    manifest = manifest_of(xml, source)
    if manifest is None:
        raise DomainXmlError(source, "", "the domain has no vmplatform manifest in <metadata>",
                             hint="add one with 'vmplatform libvirt pin --domain-xml FILE'")
    mc = load_machine_catalog(ns.machine_catalog) if ns.machine_catalog else None
    from vmplatform.cli._vm import domain_networks

    drift = domain_drift(xml, source, manifest, report, platforms, mc, domain_networks(ns))
    problems = [f"the domain XML no longer carries its pinned properties: {'; '.join(drift)}"] if drift else []
    return check_manifest(manifest, report, platforms, mc, problems)
