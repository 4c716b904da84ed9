"""``vmplatform migrate``: check the destination before anything is sent, migrate, verify after."""

from __future__ import annotations

import argparse
import sys

from vmplatform.cli._common import add_json, add_platform_dir, platforms_from, print_json, seconds


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, metavar="SOCKET", help="the source VM's QMP socket (or its endpoint's)")
    p.add_argument("--dest", required=True, metavar="SOCKET",
                   help="the destination's QMP socket: a VM started with 'vmplatform qemu -platform X ... "
                        "-incoming defer'")
    p.add_argument("--uri", required=True, help="migration URI, e.g. unix:/run/vm1.migrate or tcp:HOST:PORT")
    p.add_argument("--dest-host", metavar="REPORT.json",
                   help="the destination host's report ('vmplatform probe --json' there): also judge the host")
    p.add_argument("--timeout", type=seconds, default=300.0, metavar="SECONDS",
                   help="give up waiting for the migration after this long (default: %(default)s)")
    add_json(p)
    add_platform_dir(p)


def run(ns: argparse.Namespace) -> int:
    from vmplatform.qemu.migrate import Outcome, migrate

    platforms = platforms_from(ns)
    report = None
    if ns.dest_host is not None:
        from vmplatform.cli._common import host_report

        report = host_report(argparse.Namespace(host=ns.dest_host))
    result = migrate(ns.source, ns.dest, ns.uri, platforms, dest_report=report, timeout=ns.timeout)
    if ns.json:
        print_json(result.to_json())
    else:
        out = sys.stdout if result.ok else sys.stderr
        head = {Outcome.REFUSED: "refused before anything was sent; the source runs on",
                Outcome.MIGRATED: f"migrated in {result.seconds:.1f} s; the destination runs platform "
                                  f"{result.platform} with the same offered features",
                Outcome.FAILED: "QEMU's migration failed; the source runs on",
                Outcome.RESCUED: "the destination lost the VM; the source was resumed",
                Outcome.UNVERIFIED: "migrated, but the destination differs from what was checked"}[result.outcome]
        print(f"{result.outcome.value}: {head}", file=out)
        for problem in result.problems:
            print(f"  - {problem}", file=out)
    return 0 if result.ok else 1
