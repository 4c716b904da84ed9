"""Text forms of the fleet answers (their JSON forms are the answers' ``to_json()``)."""

from __future__ import annotations

from vmplatform.fleet.questions import Domains, Fleet, FleetPlatforms, History, Impact, Plan, domain_name
from vmplatform.model.platforms import PlatformSet


def print_fleet_platforms(fp: FleetPlatforms, group: str | None) -> None:
    scope = f"label group {group}" if group else "the fleet"
    print(f"{fp.total_hosts} live hosts in {scope}, {fp.classes} distinct feature profile(s)")
    if fp.default is None:
        print("No platform is supported by every host: no fleet default (see 'fleet domains').")
    else:
        print(f"Fleet default: {fp.default.name} (the latest platform every host supports)")
    width = max(len(pc.platform.name) for pc in fp.platforms)
    for pc in fp.platforms:
        mark = "*" if fp.default is not None and pc.platform.name == fp.default.name else " "
        line = f" {mark}{pc.platform.name:<{width}}  {pc.platform.released.isoformat()}  {pc.hosts:>7}/{fp.total_hosts}"
        if pc.held_back_by:
            held = "; ".join(f"{s.hosts} host(s) lacking {' '.join(u.feature for u in s.lacks)} (e.g. "
                             f"{', '.join(s.examples[:3])})" for s in pc.held_back_by[:3])
            more = len(pc.held_back_by) - 3
            line += f"  held back by {held}" + (f"; {more} more profile(s)" if more > 0 else "")
        print(line)


def print_domains(d: Domains, fleet: Fleet) -> None:
    print(f"{d.total_hosts} hosts in {len(d.domains)} migration domain(s) (hosts supporting exactly the same "
          "platforms)")
    for dom in d.domains:
        ex = fleet.host_names(dom.classes, 3)
        print(f"  #{dom.index} {domain_name(dom, fleet.platforms)}: {dom.hosts} host(s), {len(dom.platforms)} "
              f"platform(s); e.g. {', '.join(ex)}")
    if d.borders:
        print("Neighbouring domains (a VM moves from the upper to the lower one only with the lower's platform):")
    for b in d.borders:
        feats = ", ".join(b.features) if b.features else "(no single feature: a different mix)"
        print(f"  #{b.upper} -> #{b.lower}: #{b.upper} also supports {', '.join(b.platforms)}; features {feats}")


def print_history(h: History) -> None:
    print(f"{h.host}: {h.reports} report(s) since {h.first_at}; {len(h.changes)} change(s)")
    for c in h.changes:
        flag = "!! " if c.flagged else "   "
        kern = (f"kernel {c.kernel_before} -> {c.kernel_after}" + (" (downgrade)" if c.kernel_downgrade else "")
                if c.kernel_before != c.kernel_after else f"kernel {c.kernel_after}")
        print(f"{flag}{c.at}  {kern}")
        if c.gained:
            print(f"     gained: {', '.join(c.gained)}")
        if c.lost:
            print(f"     LOST:   {', '.join(c.lost)}")
        for b in c.broken:
            print(f"     breaks VM {b.vm}: {b.verdict.message}")


def print_plan(p: Plan, platforms: PlatformSet, machine: str | None) -> None:
    print(f"Start the VM on {p.source} so that it can migrate to {', '.join(p.targets)}:")
    for h, why in p.refused:
        print(f"  host {h} cannot be a destination: {why}")
    if p.platform is None:
        print("  no named platform is supported by all of them; use their merged features instead:")
        print(f"  'vmplatform merge' of their reports ({', '.join(sorted(p.merged.features))})")
        return
    pins = p.pins(p.platform, platforms, machine)
    print(f"  platform: {p.platform.name}")
    print(f"  with the front-end: vmplatform qemu {' '.join(pins.front_end_args)} ...")
    print(f"  plain QEMU ({pins.machine}, virtio-net on TAP): {' '.join(pins.qemu_args)}")
    print(f"  libvirt: {pins.libvirt}")
    extra = sorted(p.merged.features - p.platform.features)
    if extra:
        print(f"  all of them also have {', '.join(extra)}, which {p.platform.name} does not promise: "
              "'vmplatform merge' of their reports gives a platform with those too")


def print_impact(imp: Impact, fleet: Fleet) -> None:
    print(f"{imp.hosts} host(s) of group {imp.group} on kernel {imp.kernel} (statuses from {imp.basis}):")
    print(f"  migration domains: {len(imp.before.domains)} before, {len(imp.after.domains)} after")
    for a, b in imp.splits:
        print(f"  splits: {a} -> {' | '.join(b)}")
    for a, b in imp.merges:
        print(f"  merges: {' + '.join(b)} -> {a}")
    if not imp.splits and not imp.merges:
        print("  no domain splits or merges")
    for v in imp.vms:
        print(f"  VM {v.vm} loses destinations: {v.before} -> {v.after} host(s)")
    if not imp.vms:
        print("  no stored VM loses a destination")
