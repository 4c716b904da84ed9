"""``vmplatform baseline R1.json R2.json ... | DIR | -``: the latest platform all hosts support.

Like ``virsh hypervisor-cpu-baseline``, reports may also come concatenated on
stdin (``cat */report.json | vmplatform baseline -``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from vmplatform.cli._common import add_json, add_platform_dir, platforms_from, print_json

if TYPE_CHECKING:
    from vmplatform.resolution.baseline import Baseline


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", type=Path, metavar="REPORT",
                   help="host reports, directories of them (every *.json), or - for concatenated reports "
                        "on stdin")
    add_json(p)
    add_platform_dir(p)


def run(ns: argparse.Namespace) -> int:
    from vmplatform.resolution.baseline import baseline
    from vmplatform.resolution.merge import load_reports

    platforms = platforms_from(ns)
    result = baseline(load_reports(ns.reports), platforms)
    if ns.json:
        print_json(result.to_json())
    else:
        _print(result)
    return 0


def _print(b: Baseline) -> None:
    p = b.platform
    print(f"Baseline of {len(b.hosts)} hosts ({', '.join(b.hosts)}): {p.name}")
    print(f"  {p.description} ({p.vendor}, released {p.released.isoformat()})")
    print(f"  features: {', '.join(sorted(p.features))}")
    if not b.newer:
        print(f"No platform is newer than {p.name}.")
        return
    print("Newer platforms, and the hosts that hold them back (what they lack):")
    width = max(len(n.platform.name) for n in b.newer)
    for n in b.newer:
        head = f"  {n.platform.name:<{width}}  {n.platform.released.isoformat()}"
        if not n.held_back_by:
            print(f"{head}  every host supports it, but it lacks {', '.join(n.not_in_baseline)} "
                  f"(which {p.name} has)")
            continue
        held = ", ".join(f"{h.host} ({' '.join(u.feature for u in h.lacks)})" for h in n.held_back_by)
        print(f"{head}  held back by {held}")
