"""Text and JSON forms of the fleet answers (the JSON keys are kebab-case, like every other command)."""

from __future__ import annotations

from typing import Any

from vmplatform.fleet.questions import Domains, Fleet, FleetPlatforms, History, Impact, Plan, domain_name
from vmplatform.model.platforms import PlatformSet


def fleet_platforms_json(fp: FleetPlatforms) -> dict[str, Any]:
    return {
        "hosts": fp.total_hosts, "classes": fp.classes,
        "default": fp.default.name if fp.default else None,
        "platforms": [{
            "name": pc.platform.name, "released": pc.platform.released.isoformat(), "hosts": pc.hosts,
            **({"held-back-by": [{"hosts": s.hosts, "examples": list(s.examples),
                                  "lacks": [{"id": u.feature, "status": u.status.value} for u in s.lacks]}
                                 for s in pc.held_back_by]} if pc.held_back_by else {}),
        } for pc in fp.platforms],
    }


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


def domains_json(d: Domains, fleet: Fleet) -> dict[str, Any]:
    return {
        "hosts": d.total_hosts,
        "domains": [{"index": dom.index, "name": domain_name(dom, fleet.platforms), "hosts": dom.hosts,
                     "platforms": sorted(dom.platforms), "features": sorted(dom.features),
                     "examples": fleet.host_names(dom.classes, 5)} for dom in d.domains],
        "borders": [{"lower": b.lower, "upper": b.upper, "platforms": list(b.platforms),
                     "features": list(b.features)} for b in d.borders],
    }


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


def history_json(h: History) -> dict[str, Any]:
    return {"host": h.host, "reports": h.reports, "first-report-at": h.first_at, "changes": [{
        "at": c.at, "report-before": c.before_id, "report-after": c.after_id,
        "kernel-before": c.kernel_before, "kernel-after": c.kernel_after,
        "kernel-downgrade": c.kernel_downgrade, "gained": list(c.gained), "lost": list(c.lost),
        "flagged": c.flagged,
        "breaks": [{"vm": b.vm, **b.verdict.to_json()} for b in c.broken]} for c in h.changes]}


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


def plan_json(p: Plan, platforms: PlatformSet, machine: str | None) -> dict[str, Any]:
    return {"source": p.source, "destinations": list(p.targets),
            "platform": p.platform.name if p.platform else None,
            "merged-features": sorted(p.merged.features),
            "refused": [{"host": h, "reason": why} for h, why in p.refused],
            **_pins(p, platforms, machine)}


def _pins(p: Plan, platforms: PlatformSet, machine: str | None) -> dict[str, Any]:
    if p.platform is None:
        return {}
    from vmplatform.model.machines import default_machine_catalog
    from vmplatform.model.vm import VmConfig
    from vmplatform.resolution.resolve import nic, qemu_global_args, resolve

    mc = default_machine_catalog()
    default = mc.default_machine()
    m = machine or (default.name if default is not None else "pc-q35-10.0")
    res = resolve(mc, platforms, VmConfig(machine=m, devices=(nic(),), accel="kvm"), p.platform)
    return {"machine": res.machine.name,
            "vmplatform-qemu-args": ["-platform", p.platform.name, "-machine", res.machine.name],
            "qemu-args": qemu_global_args(res),
            "libvirt": f"vmplatform libvirt pin --domain-xml DOMAIN.xml (after 'vmplatform analyze --scope "
                       f"platform --platform {p.platform.name}')"}


def print_plan(p: Plan, platforms: PlatformSet, machine: str | None) -> None:
    print(f"Start the VM on {p.source} so that it can migrate to {', '.join(p.targets)}:")
    for h, why in p.refused:
        print(f"  host {h} cannot be a destination: {why}")
    if p.platform is None:
        print("  no named platform is supported by all of them; use their merged features instead:")
        print(f"  'vmplatform merge' of their reports ({', '.join(sorted(p.merged.features))})")
        return
    pins = _pins(p, platforms, machine)
    print(f"  platform: {p.platform.name}")
    print(f"  with the front-end: vmplatform qemu {' '.join(pins['vmplatform-qemu-args'])} ...")
    print(f"  plain QEMU ({pins['machine']}, virtio-net on TAP): {' '.join(pins['qemu-args'])}")
    print(f"  libvirt: {pins['libvirt']}")
    extra = sorted(p.merged.features - p.platform.features)
    if extra:
        print(f"  all of them also have {', '.join(extra)}, which {p.platform.name} does not promise: "
              "'vmplatform merge' of their reports gives a platform with those too")


def impact_json(imp: Impact, fleet: Fleet) -> dict[str, Any]:
    return {"group": imp.group, "kernel": imp.kernel, "basis": imp.basis, "hosts": imp.hosts,
            "domains-before": [{"index": d.index, "name": domain_name(d, fleet.platforms), "hosts": d.hosts,
                                "platforms": sorted(d.platforms)} for d in imp.before.domains],
            "domains-after": [{"index": d.index, "name": domain_name(d, fleet.platforms), "hosts": d.hosts,
                               "platforms": sorted(d.platforms)} for d in imp.after.domains],
            "splits": [{"domain": a, "into": list(b)} for a, b in imp.splits],
            "merges": [{"domain": a, "from": list(b)} for a, b in imp.merges],
            "vms-losing-destinations": [{"vm": v.vm, "hosts-before": v.before, "hosts-after": v.after}
                                        for v in imp.vms]}


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
