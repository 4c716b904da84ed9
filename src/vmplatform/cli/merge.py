"""``vmplatform merge R1.json R2.json ...``: the features every host has, as a platform file.

The output is a platform definition (TOML, the format of the shipped
platforms) that ``vmplatform resolve --platform FILE`` and ``vmplatform qemu
-platform FILE`` accept: VMs started with it can move between all those hosts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmplatform.cli._common import add_platform_dir, platforms_from


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", type=Path, metavar="REPORT",
                   help="host reports ('vmplatform probe --json'), directories of them, or - for "
                        "concatenated reports on stdin")
    p.add_argument("--name", help="platform name (default: merge-DIGEST of hosts and features)")
    p.add_argument("--output", "-o", type=Path, help="write the platform file here (default: stdout)")
    add_platform_dir(p)


def run(ns: argparse.Namespace) -> int:
    from vmplatform.resolution.merge import load_reports, merged_platform, platform_toml

    platforms = platforms_from(ns)
    reports = load_reports(ns.reports)
    plat = merged_platform(reports, platforms, ns.name)
    text = platform_toml(plat)
    if ns.output is None:
        sys.stdout.write(text)
        return 0
    try:
        ns.output.write_text(text, encoding="utf-8")
    except OSError as err:
        from vmplatform.errors import UsageError

        raise UsageError(f"{ns.output}: cannot write: {err.strerror}", "pass a writable path to --output") \
            from err
    print(f"wrote platform {plat.name} ({len(plat.features)} features common to {len(reports)} hosts) "
          f"to {ns.output}", file=sys.stderr)
    return 0
