"""``vmplatform query-platforms``: the platforms a host supports."""

from __future__ import annotations

import argparse

from ._common import add_host, add_json, add_platform_dir, host_report, platforms_from, print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_host(p)
    add_json(p)
    add_platform_dir(p)


def run(ns: argparse.Namespace) -> int:
    from ..support import evaluate
    from ..views import query_platforms_json

    platforms = platforms_from(ns)
    report = host_report(ns)
    sr = evaluate(report, platforms)
    if ns.json:
        print_json(query_platforms_json(sr))
        return 0
    h = report.host
    print(f"Host {h.hostname}: Linux {h.kernel_release} ({h.os_name}), {h.arch}")
    width = max(len(ps.name) for ps in sr)
    for ps in sr:
        if ps.supported:
            state = "supported" + (" (default)" if ps.is_default else "")
        else:
            state = "unsupported: lacks " + ", ".join(u.feature for u in ps.unavailable)
        print(f"  {ps.name:<{width}}  {ps.platform.released.isoformat()}  {state}")
    if not sr.has_default:
        print("This host supports no platform; see 'vmplatform probe'.")
    return 0
