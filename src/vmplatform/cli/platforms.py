"""``vmplatform platforms list|show NAME``: platform definitions."""

from __future__ import annotations

import argparse

from vmplatform.cli._common import add_json, add_platform_dir, platforms_from, print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("name", nargs="?", help="platform name (for show)")
    add_json(p)
    add_platform_dir(p)


def run(ns: argparse.Namespace) -> int:
    from vmplatform.errors import UsageError

    platforms = platforms_from(ns)
    if ns.action == "list":
        if ns.json:
            print_json([p.to_json() for p in platforms])
            return 0
        rows = _list_rows(platforms)
        width = max(len(name) for name, _, _ in rows)
        for name, date, text in rows:
            print(f"{name:<{width}}  {date}  {text}")
        print(f"Upstream platforms: every release {platforms.upstream()[0].name} ... {platforms.upstream()[-1].name} "
              "(\"A ... B\": those releases guarantee the same); 'platforms show NAME' for one.")
        return 0
    if not ns.name:
        raise UsageError("vmplatform platforms show: missing NAME", "e.g. 'vmplatform platforms show linux-6.2'")
    plat = platforms.get(ns.name)
    if ns.json:
        print_json(plat.to_json())
        return 0
    print(f"{plat.name}: {plat.description}")
    print(f"  vendor:   {plat.vendor}")
    print(f"  released: {plat.released.isoformat()}")
    print(f"  kernel:   {plat.kernel}")
    chain: list[str] = []
    cur = plat
    while cur.inherits:
        cur = platforms.get(cur.inherits)
        if not chain or not cur.derived or cur.add or cur.remove or cur.inherits is None:
            chain.append(cur.name)  # upstream: only the releases that changed something
    print(f"  inherits: {' -> '.join(chain) if chain else '-'}")
    if plat.derived:
        head = platforms.same_as(plat)
        print(f"  derived:  from the catalog: an x86_64 Linux {plat.kernel} with its Kconfig defaults"
              + (f"; same guarantees as {head.name}" if head is not plat else ""))
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


def _list_rows(platforms: object) -> list[tuple[str, str, str]]:
    """Newest first; a run of upstream releases with identical guarantees is one row ``A ... B``."""
    from vmplatform.model.platforms import PlatformSet

    assert isinstance(platforms, PlatformSet)
    last: dict[str, str] = {}  # head of a run -> its newest release
    second: dict[str, str] = {}  # head of a run -> the release after it
    for p in platforms.upstream():
        head = platforms.same_as(p).name
        if head != p.name:
            second.setdefault(head, p.name)
        last[head] = p.name
    rows = []
    for p in reversed(platforms.ordered()):
        if p.derived and platforms.same_as(p) is not p:
            continue
        if p.derived and last[p.name] != p.name:
            rows.append((f"{p.name} ... {last[p.name]}", p.released.isoformat(),
                         f"{p.description}; {_span(second[p.name], last[p.name])}: same as {p.name}"))
        else:
            rows.append((p.name, p.released.isoformat(), p.description))
    return rows


def _span(first: str, last: str) -> str:
    return first if first == last else f"{first} ... {last}"


def _origin(platforms: object, name: str, fid: str) -> str:
    """The platform in the inheritance chain that added ``fid``."""
    from vmplatform.model.platforms import PlatformSet

    assert isinstance(platforms, PlatformSet)
    cur = platforms.get(name)
    while True:
        if fid in cur.add or cur.inherits is None:
            return cur.name
        cur = platforms.get(cur.inherits)
