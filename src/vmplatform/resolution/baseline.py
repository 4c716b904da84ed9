"""Fleet baselines: the latest platform every one of several hosts supports.

The question libvirt answers for CPUs with ``virsh hypervisor-cpu-baseline``,
asked of host kernels: given the host reports of a group of hosts, which
named platform can a VM use so that it may run on (and migrate between) all
of them, and which newer platforms are held back by which hosts.

The choice among the platforms every host supports is host-neutral (unlike a
single host's default, see :mod:`vmplatform.resolution.support`, it prefers no vendor):

1. keep the *maximal* ones: those whose feature set is not a strict subset of
   another common platform's;
2. then the newest ``released`` date; a tie is broken by name (lexically last).

The result does not depend on the order of the reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vmplatform.errors import VmplatformError
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.platforms import Platform, PlatformSet
from vmplatform.model.report import HostReport
from vmplatform.records import record
from vmplatform.resolution.support import SupportReport, Unavailable, evaluate


class BaselineError(VmplatformError):
    """No platform is supported by every host."""


def choose_common(candidates: Iterable[Platform]) -> Platform | None:
    """The host-neutral pick among platforms that several hosts all support."""
    cands = list(candidates)
    maximal = [p for p in cands if not any(p.features < q.features for q in cands)]
    if not maximal:
        return None
    return max(maximal, key=lambda p: (p.released, p.name))


@record
class HeldBack:
    """One host that lacks what a newer platform guarantees."""

    host: str
    lacks: tuple[Unavailable, ...]


@record
class NewerPlatform:
    """A platform released after the baseline, and why the group cannot use it."""

    platform: Platform
    held_back_by: tuple[HeldBack, ...]       # empty: every host supports it
    not_in_baseline: tuple[str, ...]         # baseline features it does not guarantee


@record
class Baseline:
    platform: Platform
    hosts: tuple[str, ...]                   # sorted host names
    newer: tuple[NewerPlatform, ...]         # newest first

    def to_json(self) -> JsonObject:
        """The baseline as ``baseline --json`` answers it."""
        obj = self.platform.to_json()
        obj.pop("defined-in", None)  # a path on this machine: not part of the answer
        obj["hosts"] = [*self.hosts]
        obj["newer-platforms"] = [{
            "name": n.platform.name, "released": n.platform.released.isoformat(),
            "held-back-by": [{"host": h.host, "lacks": [{"id": u.feature, "status": u.status.value,
                                                         "reason": u.reason} for u in h.lacks]}
                             for h in n.held_back_by],
            **({"not-in-baseline": [*n.not_in_baseline]} if not n.held_back_by else {}),
        } for n in self.newer]
        return obj


def common_platforms(supports: Sequence[SupportReport]) -> list[Platform]:
    """Platforms every host supports, oldest first."""
    if not supports:
        return []
    names = set.intersection(*({ps.name for ps in sr if ps.supported} for sr in supports))
    return sorted((ps.platform for ps in supports[0] if ps.name in names), key=lambda p: (p.released, p.name))


def baseline(reports: Sequence[HostReport], platforms: PlatformSet) -> Baseline:
    """The latest platform every host of ``reports`` supports (rule in the module docstring)."""
    supports = sorted((evaluate(r, platforms) for r in reports), key=lambda sr: sr.host.name)
    hosts = tuple(sr.host.name for sr in supports)
    chosen = choose_common(common_platforms(supports))
    if chosen is None:
        none = [sr.host.name for sr in supports if not any(ps.supported for ps in sr)]
        detail = (f"host(s) {', '.join(none)} support no platform at all" if none
                  else "their supported platforms do not overlap")
        raise BaselineError(f"no platform is supported by every one of the {len(hosts)} hosts: {detail}",
                            "check each host with 'vmplatform query-platforms --host REPORT.json'; "
                            "drop hosts that cannot join the group, or fix their probe")
    newer = []
    for p in sorted(platforms, key=lambda q: (q.released, q.name), reverse=True):
        if p.released <= chosen.released:
            continue
        held = tuple(HeldBack(sr.host.name, sr.get(p.name).unavailable) for sr in supports
                     if not sr.get(p.name).supported)
        newer.append(NewerPlatform(p, held, tuple(sorted(chosen.features - p.features))))
    return Baseline(chosen, hosts, tuple(newer))
