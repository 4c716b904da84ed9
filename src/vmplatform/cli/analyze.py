"""``vmplatform analyze [OPTIONS] -- QEMU-ARGV...``: a VM's dependency manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_host, add_platform_dir, host_report, platforms_from

OWN = ("--host", "--platform-dir", "--machine-catalog", "--scope", "--platform", "--hosts", "--output", "-o")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_host(p)
    add_platform_dir(p)
    p.add_argument("--machine-catalog", type=Path, help="machine catalog (default: packaged snapshot)")
    p.add_argument("--scope", choices=["host", "hosts", "platform", "anywhere"], default="platform",
                   help="how far the VM may migrate (default: platform: -platform in the argv, else this "
                        "host's default platform)")
    p.add_argument("--platform", help="platform for --scope platform (overrides -platform in the argv)")
    p.add_argument("--hosts", nargs="*", default=[], metavar="REPORT",
                   help="host reports (files or directories) for --scope hosts / anywhere")
    p.add_argument("--output", "-o", type=Path, help="write the manifest here (default: stdout)")
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
    from ..errors import UsageError
    from ..frontend import rewrite
    from ..machines import default_machine_catalog, load_machine_catalog
    from ..manifest import Scope, from_resolution, host_platform
    from ..merge import load_reports, merged_platform

    if not ns.qemu_args:
        raise UsageError("vmplatform analyze: no QEMU command line", "usage: vmplatform analyze [OPTIONS] -- "
                                                                    "QEMU-ARGV...")
    platforms = platforms_from(ns)
    mc = load_machine_catalog(ns.machine_catalog) if ns.machine_catalog else default_machine_catalog()
    report = host_report(ns)
    scope = Scope(ns.scope)
    platform = None
    hosts: list[str] = []
    if scope is Scope.HOST:
        platform = host_platform(report, platforms)
    elif scope in (Scope.HOSTS, Scope.ANYWHERE):
        if not ns.hosts:
            raise UsageError(f"--scope {scope.value} needs --hosts REPORT... (files or directories)")
        reports = load_reports([Path(h) for h in ns.hosts])
        platform = merged_platform(reports, platforms, name=f"merge-{scope.value}")
        hosts = sorted(r.name for r in reports)
    elif ns.platform:
        platform = platforms.get(ns.platform)
    rw = rewrite(ns.qemu_args, mc=mc, platforms=platforms, report=report, platform=platform)
    manifest = from_resolution(rw.resolution, rw.platform, scope, report, hosts)
    text = manifest.dumps()
    if ns.output:
        ns.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
