"""The VM being analysed (QEMU argv or libvirt domain XML) and its migration scope.

Shared by ``vmplatform analyze`` and ``vmplatform libvirt pin``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vmplatform.records import record

if TYPE_CHECKING:
    from xml.dom import minidom

    from vmplatform.libvirt.domain import Domain
    from vmplatform.libvirt.network import Networks
    from vmplatform.model.platforms import PlatformSet
    from vmplatform.model.report import HostReport
    from vmplatform.qemu.frontend import Rewrite
    from vmplatform.resolution.manifest import Manifest


def add_scope_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scope", choices=["host", "hosts", "platform", "anywhere"], default="platform",
                   help="how far the VM may migrate: host (everything this host offers, not migratable), "
                        "hosts (the merge of --hosts reports), platform (default: --platform, -platform in the "
                        "argv, else this host's default platform), anywhere (the merge of a directory of "
                        "reports given with --hosts; a fleet inventory store does not exist yet)")
    p.add_argument("--platform", help="platform name or file for --scope platform (overrides -platform in the argv)")
    p.add_argument("--hosts", nargs="+", default=[], metavar="REPORT",
                   help="host reports (files, directories, - for stdin) for --scope hosts / anywhere")
    p.add_argument("--machine-catalog", type=Path, help="machine catalog (default: packaged snapshot)")


def add_network_xml(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network-xml", action="append", default=[], metavar="FILE",
                   help="the definition of a libvirt network a domain's <interface type='network'> names "
                        "('virsh net-dumpxml NAME'; repeatable); default: libvirt's files on this host")


def domain_networks(ns: argparse.Namespace) -> Networks:
    from vmplatform.libvirt.network import networks_from

    return networks_from(getattr(ns, "network_xml", []), system=True)


@record
class AnalysedVm:
    rewrite: Rewrite
    manifest: Manifest
    domain: Domain | None = None
    document: minidom.Document | None = None
    xml_text: str = ""


def analyse(ns: argparse.Namespace, platforms: PlatformSet, report: HostReport, *,
            domain_xml: str | None, qemu_args: list[str]) -> AnalysedVm:
    """Resolve the VM on this host for the chosen scope and build its manifest."""
    from vmplatform.cli._common import machine_catalog_from
    from vmplatform.model.platforms import platform_from_spec
    from vmplatform.model.report import FeatureStatus
    from vmplatform.qemu.analysis import analyze
    from vmplatform.resolution.manifest import Scope
    from vmplatform.resolution.merge import load_reports

    mc = machine_catalog_from(ns)
    scope = Scope(ns.scope)
    platform = platform_from_spec(ns.platform, platforms)[0] if ns.platform else None
    fleet = load_reports([Path(h) for h in ns.hosts]) if ns.hosts else []
    domain = doc = None
    text = ""
    if domain_xml is not None:
        from vmplatform.libvirt.domain import qemu_argv, read_domain

        text = _read_text(domain_xml)
        source = "<stdin>" if domain_xml == "-" else domain_xml
        domain, doc = read_domain(text, source,
                                  vhost_available=report.status("vhost-net") is FeatureStatus.SUPPORTED,
                                  networks=domain_networks(ns))
        qemu_args = qemu_argv(domain)
        for note in domain.notes:
            print(f"vmplatform: {note}", file=sys.stderr)
    rw, manifest = analyze(qemu_args, mc=mc, platforms=platforms, report=report, scope=scope, fleet=fleet,
                           platform=platform)
    return AnalysedVm(rw, manifest, domain, doc, text)


def _read_text(path: str) -> str:
    from vmplatform.libvirt._xml import DomainXmlError

    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise DomainXmlError(path, "", f"cannot read domain XML: {err.strerror}",
                             hint="write it with 'virsh dumpxml DOMAIN > FILE'") from err
    except UnicodeDecodeError:
        raise DomainXmlError(path, "", "not a text file", hint="pass a libvirt domain XML") from None
