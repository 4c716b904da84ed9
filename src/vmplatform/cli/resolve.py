"""``vmplatform resolve``: effective value of every platform-governed property."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmplatform.cli._common import (
    add_host,
    add_platform_dir,
    host_report,
    machine_catalog_from,
    platforms_from,
    print_json,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--machine", "-M", required=True, help="machine type, e.g. pc-q35-10.0")
    p.add_argument("--platform", "-P", help="platform name or definition file (default: this host's default)")
    p.add_argument("--global", dest="globals", action="append", default=[], metavar="DRIVER.PROP=VALUE",
                   help="user -global, as given to QEMU; repeatable")
    p.add_argument("--device", action="append", default=[], metavar="TYPE",
                   help="device type to resolve (default: virtio-net-pci); repeatable")
    p.add_argument("--backend", choices=["tap", "tap-vhost", "none"], default="tap",
                   help="NIC backend: tap (vnet header), tap-vhost (vhost=on), none (user/socket)")
    p.add_argument("--accel", choices=["kvm", "tcg"], default="kvm")
    p.add_argument("--format", choices=["text", "json", "qemu-args"], default="text")
    p.add_argument("--machine-catalog", type=Path, help="machine catalog (default: the packaged QEMU snapshot)")
    p.add_argument("--no-host-check", action="store_true",
                   help="only compute the values; do not check that this host can provide them")
    add_host(p)
    add_platform_dir(p)


def run(ns: argparse.Namespace) -> int:
    from vmplatform.model.accel import Accel
    from vmplatform.model.platforms import platform_from_spec
    from vmplatform.model.vm import Backend, Device, VmConfig
    from vmplatform.resolution.resolve import parse_global, qemu_global_args, require_host, resolve
    from vmplatform.resolution.support import evaluate

    platforms = platforms_from(ns)
    mc = machine_catalog_from(ns)
    report = None if ns.no_host_check and ns.platform else host_report(ns)
    if ns.platform:
        platform, platforms = platform_from_spec(ns.platform, platforms)
    else:
        assert report is not None
        from vmplatform.model.accel import Accel

        platform = evaluate(report, platforms, Accel(ns.accel)).default
        print(f"vmplatform: using platform {platform.name}, the default of host {report.name}", file=sys.stderr)
    backend = Backend(ns.backend)
    types = ns.device or ["virtio-net-pci"]
    devices = tuple(Device(f"{'net' if 'net' in t else 'dev'}{i}", t, backend if "net" in t else None)
                    for i, t in enumerate(types))
    config = VmConfig(machine=ns.machine, devices=devices, accel=Accel(ns.accel),
                      user_globals=tuple(parse_global(g) for g in ns.globals))
    res = resolve(mc, platforms, config, platform)
    if report is not None:
        require_host(res, report, platforms)
    if ns.format == "json":
        print_json(res.to_json())
    elif ns.format == "qemu-args":
        print(" ".join(qemu_global_args(res)))
    else:
        print(f"machine {res.machine.name}, platform {platform.name}, QEMU {res.qemu_version}, accel {ns.accel}")
        width = max((len(f"{p.global_driver}.{p.prop}") for p in res.properties), default=10)
        for p in res.properties:
            name = f"{p.global_driver}.{p.prop}"
            print(f"  {name:<{width}} = {p.value:<5} {p.layer.value:<14} {p.history[-1].why}")
    return 0
