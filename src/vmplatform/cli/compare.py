"""``vmplatform compare A.json B.json``: two hosts side by side."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from vmplatform.cli._common import add_json, add_platform_dir, machine_catalog_from, platforms_from, print_json

if TYPE_CHECKING:
    from vmplatform.resolution.compare import Comparison


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--machine-catalog", type=Path,
                   help="the QEMU whose properties count (default: the packaged QEMU snapshot)")
    p.add_argument("a", type=Path, metavar="A.json", help="host report of the first host")
    p.add_argument("b", type=Path, metavar="B.json", help="host report of the second host")
    add_json(p)
    add_platform_dir(p)


_MATTERS = {"tap": "TAP NICs", "tap-vhost": "vhost-net NICs", "kvm": "KVM guests", "any": "devices that use it"}


def run(ns: argparse.Namespace) -> int:
    from vmplatform.resolution.compare import compare
    from vmplatform.resolution.merge import load_reports

    platforms = platforms_from(ns)
    reports = load_reports([ns.a, ns.b])  # also refuses the same host twice
    if len(reports) != 2:
        from vmplatform.errors import UsageError

        raise UsageError(f"compare needs exactly two host reports, got {len(reports)}",
                         "pass two report files (not directories), e.g. compare A.json B.json")
    a, b = reports

    mc = machine_catalog_from(ns)
    cmp = compare(a, b, platforms, mc)
    if ns.json:
        print_json(cmp.to_json())
    else:
        _print(cmp)
    return 0


def _default(cmp: Comparison, which: str) -> str:
    sr = cmp.a if which == "a" else cmp.b
    return sr.default.name if sr.has_default else "(none)"


def _print(cmp: Comparison) -> None:
    a, b = cmp.a.host, cmp.b.host
    print(f"A: {a.name}: Linux {a.host.kernel_release} ({a.host.os_name}), default platform {_default(cmp, 'a')}")
    print(f"B: {b.name}: Linux {b.host.kernel_release} ({b.host.os_name}), default platform {_default(cmp, 'b')}")
    latest = cmp.latest_common.name if cmp.latest_common else "(none)"
    print(f"Latest platform both support: {latest}")
    print(f"Platforms both support ({len(cmp.common)}): {', '.join(p.name for p in cmp.common) or '-'}")
    print(f"Platforms only A supports: {', '.join(p.name for p in cmp.only_a) or '-'}")
    print(f"Platforms only B supports: {', '.join(p.name for p in cmp.only_b) or '-'}")
    for label, diffs, other in (("only A has", cmp.features_only_a, b.name),
                                ("only B has", cmp.features_only_b, a.name)):
        if not diffs:
            print(f"Features {label}: -")
            continue
        print(f"Features {label}:")
        for d in diffs:
            print(f"  {d.feature:<22} {d.other_status.value} on {other} (matters to {_MATTERS[d.applies_to.value]})")
    print("Migration:")
    for direction in cmp.directions:
        print(f"  {direction.message}")
