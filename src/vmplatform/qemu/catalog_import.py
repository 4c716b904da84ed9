"""Import a machine catalog from a real QEMU binary over QMP.

Starts ``QEMU -machine none -S`` with a private QMP socket, asks
``query-version``, ``query-machines`` (``compat-props: true``, QEMU >= 9.1),
``qom-list-types`` and ``device-list-properties`` / ``qom-list-properties``
for every type a catalog feature governs, then quits QEMU.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import shlex
import subprocess
from typing import Any

from vmplatform.errors import QemuError
from vmplatform.model.features import Catalog
from vmplatform.model.machines import SCHEMA, governed_drivers, lineage, normalize_value
from vmplatform.qemu.proc import QemuProcess
from vmplatform.qemu.qmp_boundary import QmpReplyError


async def _collect(binary: str, catalog: Catalog) -> dict[str, Any]:
    async with QemuProcess(binary, ["-machine", "none", "-nodefaults", "-display", "none", "-S"]) as qemu:
        qmp = qemu.qmp
        version: Any = await qmp.execute("query-version")
        try:
            machines: Any = await qmp.execute("query-machines", {"compat-props": True})
        except QmpReplyError as err:
            raise QemuError(f"{binary}: query-machines with compat-props failed: {err.desc}",
                            "vmplatform needs QEMU >= 9.1 to import machine types") from err
        types: Any = await qmp.execute("qom-list-types", {"abstract": True})
        parents = {t["name"]: t["parent"] for t in types if "parent" in t}
        abstract = {t["name"] for t in types if t.get("abstract")}
        concrete = [t["name"] for t in types if not t.get("abstract")]
        drivers = sorted({gp.driver for f in catalog for gp in f.governs})
        props = {gp.prop for f in catalog for gp in f.governs}
        defaults: dict[str, dict[str, Any]] = {}
        for tn in governed_drivers(drivers, parents, concrete):
            is_device = "device" in lineage(tn, parents)
            cmd = "device-list-properties" if is_device and tn not in abstract else "qom-list-properties"
            try:
                plist: Any = await qmp.execute(cmd, {"typename": tn})
            except QmpReplyError:  # an error reply; anything else is not ours to swallow
                continue  # some types cannot be instantiated on this machine; they are not ours to pin
            found = {p["name"]: p.get("default-value") for p in plist if p["name"] in props}
            if found:
                defaults[tn] = {k: ("" if v is None else normalize_value(v)) for k, v in found.items()}
        await qmp.execute("quit")
    q = version["qemu"]
    return {
        "schema": SCHEMA,
        "qemu-version": f"{q['major']}.{q['minor']}.{q['micro']}",
        "qemu-package": version.get("package", "").strip(),
        "qemu-binary": binary,
        "arch": _arch_of(binary),
        "generated-by": "vmplatform machines import --qemu " + shlex.quote(binary),
        "generated-at": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "machines": [
            {"name": m["name"], **({"alias": m["alias"]} if m.get("alias") else {}),
             "is-default": bool(m.get("is-default")), "deprecated": bool(m.get("deprecated")),
             "compat-props": [{"qom-type": p["qom-type"], "property": p["property"], "value": p["value"]}
                              for p in m.get("compat-props", [])]}
            for m in sorted(machines, key=lambda m: m["name"])
        ],
        # Only the lineage of governed types: nothing else is ever looked up.
        "parents": dict(sorted((t, parents[t]) for t in _closure(defaults, parents) if t in parents)),
        "device-defaults": dict(sorted(defaults.items())),
        "options": _options_of(binary),
        "aliases": _aliases_of(binary),
    }


# Help lines whose layout hides the argument ("-dtb    file    use 'file' ...").
_HELP_MISLAID = {"-dtb"}


def _options_of(binary: str) -> dict[str, list[str]]:
    """Which command-line options take an argument, from ``QEMU -help``.

    Help lines put an option's argument after one space and its description
    after several ("-m [size=]megs" vs "-S              freeze CPU"), so one
    space after the name means the option takes an argument.
    """
    try:
        text = subprocess.run([binary, "-help"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise QemuError(f"{binary} -help failed: {err}") from err
    with_arg: set[str] = set()
    flags: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("-"):
            continue
        if line.startswith("-h or -help"):
            flags |= {"-h", "-help"}
            continue
        name, sep, rest = line.partition(" ")
        takes_arg = bool(sep and rest and not rest.startswith(" ")) or name in _HELP_MISLAID
        for opt in name.split("/"):
            opt = "-" + opt.lstrip("-")
            if takes_arg:
                with_arg.add(opt)
            else:
                flags.add(opt)
    return {"with-arg": sorted(with_arg), "flags": sorted(flags - with_arg)}


_ALIAS_LINE = re.compile(r'^name "([^"]+)".*, alias "([^"]+)"', re.M)


def _aliases_of(binary: str) -> dict[str, str]:
    """QEMU's device aliases (alias -> type) from ``-device help``: the lines
    ``name "virtio-net-pci", bus PCI, alias "virtio-net"`` (qdev-monitor.c
    ``qdev_alias_table``, filtered by this binary's target)."""
    try:
        text = subprocess.run([binary, "-machine", "none", "-nodefaults", "-device", "help"], capture_output=True,
                              text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise QemuError(f"{binary} -device help failed: {err}") from err
    return dict(sorted((alias, name) for name, alias in _ALIAS_LINE.findall(text)))


def _closure(types: dict[str, Any], parents: dict[str, str]) -> set[str]:
    out: set[str] = set()
    for t in types:
        out |= lineage(t, parents)
    return out


def _arch_of(binary: str) -> str:
    base = os.path.basename(binary)
    return base.removeprefix("qemu-system-") if base.startswith("qemu-system-") else ""


def import_from_qemu(binary: str, catalog: Catalog) -> dict[str, Any]:
    """The machine catalog of ``binary`` as a JSON-ready object."""
    return asyncio.run(_collect(binary, catalog))
