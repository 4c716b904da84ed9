"""``vmplatform analyze [OPTIONS] -- QEMU-ARGV...`` or ``--domain-xml FILE``: a VM's dependency manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmplatform.cli._common import add_host, add_platform_dir, host_report, platforms_from
from vmplatform.cli._vm import add_network_xml, add_scope_arguments, analyse

OWN = ("--host", "--platform-dir", "--machine-catalog", "--scope", "--platform", "--hosts", "--output", "-o",
       "--domain-xml", "--network-xml", "--qmp")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_host(p)
    add_platform_dir(p)
    add_scope_arguments(p)
    p.add_argument("--domain-xml", metavar="FILE",
                   help="analyse a libvirt domain XML ('virsh dumpxml', or - for stdin) instead of a QEMU argv")
    add_network_xml(p)
    p.add_argument("--qmp", metavar="SOCKET",
                   help="analyse a running QEMU through its QMP socket: the values it offers now")
    p.add_argument("--output", "-o", type=Path, help="write the manifest here (default: stdout)")
    p.add_argument("--json", action="store_true",
                   help="accepted like every command's --json: the manifest is always JSON")
    p.add_argument("qemu_args", nargs="*", metavar="QEMU-ARG")


def parse_argv(p: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Our options, then ``--``, then QEMU's argv."""
    if "--" in argv:
        i = argv.index("--")
        ns = p.parse_args(argv[:i])
        ns.qemu_args = argv[i + 1:]
        return ns
    return p.parse_args(argv)


def run(ns: argparse.Namespace) -> int:
    from vmplatform.errors import UsageError

    given = [what for what, on in (("--domain-xml", ns.domain_xml is not None), ("--qmp", ns.qmp is not None),
                                   ("a QEMU argv", bool(ns.qemu_args))) if on]
    if len(given) > 1:
        raise UsageError(f"vmplatform analyze: give one VM, not {' and '.join(given)}")
    if not given:
        raise UsageError("vmplatform analyze: no VM given", "usage: vmplatform analyze [OPTIONS] -- QEMU-ARGV..., "
                                                         "--domain-xml FILE or --qmp SOCKET")
    if ns.qmp is not None:
        from vmplatform.qemu.running import running_vm_argv

        ns.qemu_args = running_vm_argv(ns.qmp)
    platforms = platforms_from(ns)
    report = host_report(ns)
    vm = analyse(ns, platforms, report, domain_xml=ns.domain_xml, qemu_args=list(ns.qemu_args))
    from vmplatform.resolution.manifest import dumps

    text = dumps(vm.manifest)
    if ns.output:
        ns.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
