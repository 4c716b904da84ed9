"""``vmplatform machines list|import``: machine types from a real QEMU."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vmplatform.cli._common import add_json, print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "import"])
    p.add_argument("--qemu", metavar="PATH", help="QEMU binary to import from (import)")
    p.add_argument("--output", "-o", type=Path, help="write the catalog here (import; default stdout)")
    p.add_argument("--machine-catalog", type=Path, help="machine catalog file to list (default: packaged)")
    add_json(p)


def run(ns: argparse.Namespace) -> int:
    if ns.action == "import":
        from vmplatform.model.features import default_catalog
        from vmplatform.qemu.binary import find_qemu
        from vmplatform.qemu.catalog_import import import_from_qemu

        data = import_from_qemu(find_qemu(ns.qemu), default_catalog())
        text = json.dumps(data, indent=1) + "\n"
        if ns.output:
            ns.output.write_text(text, encoding="utf-8")
            print(f"wrote {len(data['machines'])} machine types of QEMU {data['qemu-version']} to {ns.output}",
                  file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0
    from vmplatform.cli._common import machine_catalog_from

    mc = machine_catalog_from(ns)
    if ns.json:
        print_json([m.to_json() for m in mc])
        return 0
    print(f"Machine types of QEMU {mc.qemu_version} ({mc.arch}), from {mc.path}")
    for m in mc:
        extra = " (default)" if m.is_default else ""
        alias = f" [alias {m.alias}]" if m.alias else ""
        print(f"  {m.name:<22} {len(m.compat_props):>4} compat props{alias}{extra}")
    return 0
