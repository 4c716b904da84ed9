"""``vmplatform export PLATFORM --format readconfig``: pins as a QEMU config file."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from vmplatform.cli._common import add_host, add_platform_dir, host_report, machine_catalog_from, platforms_from


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("platform", help="platform name or definition file")
    p.add_argument("--format", choices=["readconfig"], default="readconfig")
    p.add_argument("--machine", "-M", default="q35", help="machine type the VM uses (default: q35, the newest)")
    p.add_argument("--accel", choices=["kvm", "tcg"], default="kvm")
    p.add_argument("--output", "-o", type=Path, help="write here (default: stdout)")
    p.add_argument("--machine-catalog", type=Path, help="machine catalog (default: packaged snapshot)")
    p.add_argument("--no-host-check", action="store_true", help="do not check that this host supports it")
    add_host(p)
    add_platform_dir(p)


def run(ns: argparse.Namespace) -> int:
    from vmplatform.model.accel import Accel
    from vmplatform.model.platforms import platform_from_spec
    from vmplatform.model.vm import Backend, Device, VmConfig
    from vmplatform.qemu.readconfig import readconfig
    from vmplatform.resolution.resolve import require_host, resolve

    platforms = platforms_from(ns)
    platform, platforms = platform_from_spec(ns.platform, platforms)
    mc = machine_catalog_from(ns)
    config = VmConfig(machine=mc.get(ns.machine).name, devices=(Device("net0", "virtio-net-pci", Backend.TAP),),
                      accel=Accel(ns.accel))
    res = resolve(mc, platforms, config, platform)
    if not ns.no_host_check:
        require_host(res, host_report(ns), platforms)
    argv = ["vmplatform", "export", ns.platform, "-M", res.machine.name, "--accel", ns.accel]
    text = readconfig(res, " ".join(shlex.quote(a) for a in argv))
    if ns.output:
        ns.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
