"""``vmplatform query-platforms``: the platforms a host supports, for one accelerator."""

from __future__ import annotations

import argparse

from vmplatform.cli._common import add_host, add_json, add_platform_dir, host_report, platforms_from, print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_host(p)
    p.add_argument("--accel", choices=["kvm", "tcg"],
                   help="judge for VMs under this accelerator (default: kvm if the host has /dev/kvm, else tcg)")
    add_json(p)
    add_platform_dir(p)


def run(ns: argparse.Namespace) -> int:
    from vmplatform.model.accel import Accel
    from vmplatform.resolution.platform_text import absent_devices, support_lines
    from vmplatform.resolution.support import evaluate

    platforms = platforms_from(ns)
    report = host_report(ns)
    sr = evaluate(report, platforms, Accel(ns.accel) if ns.accel else None)
    if ns.json:
        print_json(sr.to_json())
        return 0
    h = report.host
    print(f"Host {h.hostname}: Linux {h.kernel_release} ({h.os_name}), {h.arch}; for VMs with "
          f"accel={sr.accel.value}" + ("" if ns.accel else " (--accel to choose)"))
    for line in support_lines(sr):
        print("  " + line)
    for dev, why in sorted(absent_devices(sr).items()):
        print(f"Absent on this host: {dev}: {why}")
    if not sr.has_default:
        print("This host has no usable platform not newer than its kernel; see 'vmplatform probe'.")
    return 0
