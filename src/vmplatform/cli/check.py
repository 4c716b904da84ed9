"""``vmplatform check``: can this host run (or receive) that VM?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_host, add_json, add_platform_dir, host_report, platforms_from, print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", type=Path, help="dependency manifest written by 'vmplatform analyze'")
    src.add_argument("--qmp", metavar="SOCKET", help="a running VM's QMP socket: check what its guests negotiated")
    add_host(p)
    add_json(p)
    add_platform_dir(p)
    p.add_argument("--machine-catalog", type=Path,
                   help="machine catalog of the target host's QEMU, to catch changed machine types")


def run(ns: argparse.Namespace) -> int:
    from ..machines import load_machine_catalog

    platforms = platforms_from(ns)
    report = host_report(ns)
    if ns.manifest:
        from ..manifest import check_manifest, loads

        try:
            text = ns.manifest.read_text(encoding="utf-8")
        except OSError as err:
            from ..manifest import ManifestError

            raise ManifestError(f"{ns.manifest}: cannot read: {err.strerror}") from err
        mc = load_machine_catalog(ns.machine_catalog) if ns.machine_catalog else None
        verdict = check_manifest(loads(text, str(ns.manifest)), report, platforms, mc)
    else:
        from ..running import check_running_vm

        verdict = check_running_vm(ns.qmp, report, platforms)
    if ns.json:
        print_json(verdict.to_json())
    else:
        stream = sys.stdout if verdict.result.ok else sys.stderr
        print(f"{verdict.result.value}: {verdict.message}", file=stream)
    return 0 if verdict.result.ok else 1
