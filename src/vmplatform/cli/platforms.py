"""``vmplatform platforms list|show NAME``: platform definitions."""

from __future__ import annotations

import argparse

from ._common import add_json, add_platform_dir, platforms_from, print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("name", nargs="?", help="platform name (for show)")
    add_json(p)
    add_platform_dir(p)


def run(ns: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..views import platform_json

    platforms = platforms_from(ns)
    if ns.action == "list":
        if ns.json:
            print_json([platform_json(p) for p in platforms])
            return 0
        width = max(len(p.name) for p in platforms)
        for p in reversed(platforms.ordered()):
            print(f"{p.name:<{width}}  {p.released.isoformat()}  {p.description}")
        return 0
    if not ns.name:
        raise UsageError("vmplatform platforms show: missing NAME", "e.g. 'vmplatform platforms show linux-6.2'")
    plat = platforms.get(ns.name)
    if ns.json:
        print_json(platform_json(plat))
        return 0
    print(f"{plat.name}: {plat.description}")
    print(f"  vendor:   {plat.vendor}")
    print(f"  released: {plat.released.isoformat()}")
    print(f"  kernel:   {plat.kernel}")
    chain = []
    cur = plat
    while cur.inherits:
        chain.append(cur.inherits)
        cur = platforms.get(cur.inherits)
    print(f"  inherits: {' -> '.join(chain) if chain else '-'}")
    print(f"  defined:  {plat.origin}")
    print("  guarantees:")
    for fid in sorted(plat.features):
        src = plat.feature_sources.get(fid)
        origin = _origin(platforms, plat.name, fid)
        print(f"    {fid:<22} from {origin}" + (f" ({src})" if src else ""))
    if plat.left_out:
        print("  left out:")
        for fid, why in plat.left_out.items():
            print(f"    {fid:<22} {why}")
    return 0


def _origin(platforms: object, name: str, fid: str) -> str:
    """The platform in the inheritance chain that added ``fid``."""
    from ..platforms import PlatformSet

    assert isinstance(platforms, PlatformSet)
    cur = platforms.get(name)
    while True:
        if fid in cur.add or cur.inherits is None:
            return cur.name
        cur = platforms.get(cur.inherits)
