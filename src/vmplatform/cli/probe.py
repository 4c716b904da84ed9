"""``vmplatform probe``: probe this host's features with real ioctls."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from vmplatform.cli._common import add_json

if TYPE_CHECKING:
    import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json(p)
    p.add_argument("--no-userns", action="store_true",
                   help="without CAP_NET_ADMIN, report TAP features unknown instead of probing them "
                        "in a new user + network namespace")


def run_argv(argv: list[str]) -> int:
    """Fast path without argparse (the probe is the command run most); -1 falls back to argparse."""
    known = {"--json", "--no-userns"}
    if not set(argv) <= known:
        return -1
    from types import SimpleNamespace

    return run(SimpleNamespace(json="--json" in argv, no_userns="--no-userns" in argv))  # type: ignore[arg-type]


def run(ns: argparse.Namespace) -> int:
    from vmplatform.model.features import default_catalog
    from vmplatform.model.report import FeatureStatus, dumps
    from vmplatform.probe.cache import store
    from vmplatform.probe.linux import LinuxProbe

    catalog = default_catalog()
    report = LinuxProbe(userns=not ns.no_userns).run(catalog)
    if not ns.no_userns:
        store(report, catalog)  # later commands (query-platforms, qemu) reuse it this boot
    if ns.json:
        sys.stdout.write(dumps(report))
        return 0
    h = report.host
    out = [f"Host {h.hostname}: Linux {h.kernel_release} ({h.os_name}), {h.arch}",
           f"Probed {report.probed_at} as {report.probe_mode} in {report.duration_us / 1000:.1f} ms", ""]
    width = max(len(r.feature) for r in report.results)
    mark = {FeatureStatus.SUPPORTED: "supported", FeatureStatus.UNSUPPORTED: "unsupported",
            FeatureStatus.UNKNOWN: "unknown"}
    for r in report.results:
        out.append(f"  {r.feature:<{width}}  {mark[r.status]:<11}  {report.reason(r.feature)}")
    print("\n".join(out))
    return 0
