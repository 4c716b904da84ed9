"""Options and loaders shared by several subcommands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from vmplatform.model.jsonvalue import JsonValue
    from vmplatform.model.machines import MachineCatalog
    from vmplatform.model.platforms import PlatformSet
    from vmplatform.model.report import HostReport


def add_platform_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--platform-dir", action="append", type=Path, default=[], metavar="DIR",
                   help="extra directory (or file) of platform definitions; repeatable. "
                        "Also read: $VMPLATFORM_PATH, /etc/vmplatform/platforms.d")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")


def add_host(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", metavar="REPORT.json",
                   help="judge this host report ('-' for stdin) instead of probing this host")


def seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds (else a usage error naming the option)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def platforms_from(ns: argparse.Namespace) -> PlatformSet:
    from vmplatform.model.platforms import load_platforms

    return load_platforms(ns.platform_dir)


def host_report(ns: argparse.Namespace) -> HostReport:
    from vmplatform.model.report import loads

    if ns.host is None:
        from vmplatform.model.features import default_catalog
        from vmplatform.probe.cache import cached_probe
        from vmplatform.probe.linux import LinuxProbe

        catalog = default_catalog()
        return cached_probe(catalog, lambda: LinuxProbe().run(catalog))
    if ns.host == "-":
        return loads(sys.stdin.read(), "<stdin>")
    from vmplatform.errors import HostReportError

    try:
        text = Path(ns.host).read_text(encoding="utf-8")
    except OSError as err:
        raise HostReportError(ns.host, "", f"cannot read host report: {err.strerror}",
                              hint="pass a file written by 'vmplatform probe --json'") from err
    except UnicodeDecodeError as err:
        raise HostReportError(ns.host, "", "not a text file", hint="pass a file written by 'vmplatform probe --json'") \
            from err
    return loads(text, ns.host)


def machine_catalog_from(ns: argparse.Namespace) -> MachineCatalog:
    """--machine-catalog FILE, else the packaged QEMU snapshot."""
    from vmplatform.model.machines import default_machine_catalog, load_machine_catalog

    return load_machine_catalog(ns.machine_catalog) if ns.machine_catalog else default_machine_catalog()


def print_json(obj: JsonValue) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")
