"""``vmplatform qmp``: a QMP endpoint in front of QEMU's monitor.

Clients connect to ``--listen`` and talk QMP as to QEMU itself; every QEMU
command passes through, the endpoint adds ``query-platforms`` and
``query-platform-dependencies``, and ``device_add`` of a platform-governed
device gets the platform's pins or is refused (vmplatform.qmp.hotplug). It
runs until QEMU closes its socket, or SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vmplatform.cli._common import add_host, add_platform_dir, host_report, platforms_from, seconds

if TYPE_CHECKING:  # no asyncio at start-up
    from vmplatform.model.machines import MachineCatalog
    from vmplatform.qmp.hotplug import HotplugGuard
    from vmplatform.qmp.local import LocalCommands
    from vmplatform.resolution.support import SupportReport


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect", required=True, metavar="QEMU_QMP_SOCKET",
                   help="QEMU's QMP unix socket (-qmp unix:PATH,server=on,wait=off)")
    p.add_argument("--listen", required=True, metavar="SOCKET",
                   help="unix socket to serve QMP on (created; a stale one is replaced)")
    p.add_argument("--platform", metavar="NAME",
                   help="the platform the VM runs (default: the one 'vmplatform qemu' recorded in the VM); "
                        "pins hot-plugged devices, reported by query-platform-dependencies")
    p.add_argument("--qemu-binary", metavar="PATH",
                   help="the QEMU the VM runs, whose machine types pin hot-plugged devices "
                        "(default: $VMPLATFORM_QEMU, else qemu-system-x86_64)")
    p.add_argument("--machine-catalog", type=Path, metavar="FILE",
                   help="machine catalog to pin hot-plugged devices with instead of reading the QEMU binary")
    add_host(p)
    add_platform_dir(p)
    p.add_argument("--greeting-timeout", type=seconds, default=10.0, metavar="SECONDS",
                   help="how long to wait for QEMU's QMP greeting (default: %(default)s)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log start-up and shutdown (-v), and every client connection (-vv), to stderr")


def run(ns: argparse.Namespace) -> int:
    import asyncio
    import logging

    from vmplatform.model.accel import Accel
    from vmplatform.qmp.hotplug import HotplugGuard
    from vmplatform.qmp.local import LocalCommands
    from vmplatform.resolution.support import evaluate

    level = logging.WARNING if ns.verbose == 0 else logging.INFO if ns.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="vmplatform qmp: %(name)s: %(message)s", stream=sys.stderr)
    platforms = platforms_from(ns)
    if ns.platform is not None:
        platforms.get(ns.platform)  # an unknown name is a usage error, with close matches
    report = host_report(ns)

    def rejudge(accel: Accel) -> SupportReport:
        return evaluate(report, platforms, accel)

    local = LocalCommands(evaluate(report, platforms), platforms.catalog, ns.platform, rejudge=rejudge,
                          check_record=True)
    guard = HotplugGuard(lambda: _machine_catalog(ns), platforms, report, ns.platform)
    return asyncio.run(_serve(ns, local, guard))


def _machine_catalog(ns: argparse.Namespace) -> MachineCatalog:
    """The QEMU that runs decides (imported once per binary version, then cached)."""
    if ns.machine_catalog:
        from vmplatform.model.machines import load_machine_catalog

        return load_machine_catalog(ns.machine_catalog)
    from vmplatform.qemu.binary import find_qemu, machine_catalog_of

    return machine_catalog_of(find_qemu(ns.qemu_binary))


async def _serve(ns: argparse.Namespace, local: LocalCommands, guard: HotplugGuard) -> int:
    import asyncio
    import signal

    from vmplatform.qmp.endpoint import Endpoint

    endpoint = Endpoint(ns.connect, ns.listen, local, greeting_timeout=ns.greeting_timeout, hotplug=guard)
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()
    serving, asked = False, False

    def stop() -> None:
        nonlocal asked
        if not serving:
            asked = True  # still starting: stop as soon as the start is over
            return
        task = loop.create_task(endpoint.stop())
        stopping.add(task)
        task.add_done_callback(stopping.discard)

    # In place before the socket appears: a client that sees the socket may signal at once.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        async with endpoint:
            serving = True
            if not asked:
                await endpoint.wait_closed()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
