"""The questions asked of a fleet, answered per equivalence class.

:class:`Fleet` is a snapshot of the live hosts (optionally of one label
group) grouped by :class:`~vmplatform.fleet.profile.Profile`. Each question
asks the one-host rules (:func:`vmplatform.resolution.support.evaluate`,
:func:`vmplatform.resolution.manifest.check_manifest`, :func:`vmplatform.resolution.baseline.choose_common`,
:func:`vmplatform.resolution.merge.common_features`) once per class and multiplies by
the class's host count, so the cost grows with the number of distinct
feature sets, not with hosts x VMs. This module is also the query API the
exports (Kubernetes labels, Placement traits, the HTML report) build on.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmplatform.errors import UsageError, VmplatformError
from vmplatform.fleet.profile import Profile
from vmplatform.model.features import Category
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.platforms import PLATFORM_NAME, Platform, PlatformSet
from vmplatform.model.releases import in_upstream, kernel_version, release_of
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.resolution.baseline import choose_common
from vmplatform.resolution.manifest import Manifest, check_manifest
from vmplatform.resolution.merge import common_features
from vmplatform.resolution.support import SupportReport, Unavailable, evaluate
from vmplatform.resolution.verdict import Result, Verdict

if TYPE_CHECKING:
    from vmplatform.fleet.store import Store

EXAMPLES = 5  # host names shown per class where a list of every host would be unreadable


class FleetError(VmplatformError):
    """A question cannot be answered for this fleet (empty group, unknown host, ...)."""


@dataclass(frozen=True)
class FleetClass:
    """Hosts whose latest reports give the same status for every feature."""

    id: int
    profile: Profile
    hosts: int
    report: HostReport          # a representative report: what the one-host rules are asked about

    @property
    def supported(self) -> frozenset[str]:
        return self.profile.supported()


class Fleet:
    """The live hosts of a store (or of one label group), by equivalence class."""

    def __init__(self, store: Store, platforms: PlatformSet, group: str | None = None,
                 counts: Mapping[int, int] | None = None) -> None:
        self.store = store
        self.platforms = platforms
        self.group = group
        counts = dict(store.profile_counts(group) if counts is None else counts)
        profiles = store.profiles(counts)
        self.classes = tuple(
            FleetClass(pid, profiles[pid], n, profiles[pid].as_report(f"class-{pid}"))
            for pid, n in sorted(counts.items()) if n > 0)
        self._support: dict[int, SupportReport] = {}
        self._names: dict[tuple[frozenset[int], int | None], list[str]] = {}
        self._examples: dict[int, list[str]] | None = None

    @property
    def total_hosts(self) -> int:
        return sum(c.hosts for c in self.classes)

    def require_hosts(self) -> None:
        if not self.classes:
            where = f"label group '{self.group}'" if self.group else "the fleet store"
            raise FleetError(f"no live host in {where}",
                             "add reports with 'vmplatform fleet add' (and --group LABEL for a group)")

    def support(self, cls: FleetClass) -> SupportReport:
        sr = self._support.get(cls.id)
        if sr is None:
            sr = self._support[cls.id] = evaluate(cls.report, self.platforms, cls.profile.accel)
        return sr

    def supported_platforms(self, cls: FleetClass) -> frozenset[str]:
        return frozenset(ps.name for ps in self.support(cls) if ps.supported)

    def host_names(self, classes: Iterable[FleetClass], limit: int | None = None) -> list[str]:
        ids = frozenset(c.id for c in classes)
        if limit is not None and len(ids) == 1:
            (only,) = ids
            return self.examples(only)[:limit] if limit <= EXAMPLES else \
                self.store.hosts_with(ids, self.group, limit)
        key = (ids, limit)
        names = self._names.get(key)
        if names is None:
            names = self._names[key] = self.store.hosts_with(ids, self.group, limit)
        return list(names)

    def examples(self, class_id: int) -> list[str]:
        """The first host names (sorted) of a class; one query answers for every class."""
        if self._examples is None:
            self._examples = self.store.examples(self.group, EXAMPLES, (c.id for c in self.classes))
        return self._examples.get(class_id, [])


# -- fleet platforms ---------------------------------------------------------------

@dataclass(frozen=True)
class ClassShortfall:
    """A class of hosts that lacks what a platform guarantees."""

    hosts: int
    examples: tuple[str, ...]
    lacks: tuple[Unavailable, ...]


@dataclass(frozen=True)
class PlatformCount:
    platform: Platform
    hosts: int                                   # live hosts that support it
    held_back_by: tuple[ClassShortfall, ...]     # only for platforms newer than the fleet default


@dataclass(frozen=True)
class FleetPlatforms:
    total_hosts: int
    classes: int
    default: Platform | None                     # the latest platform every host supports
    platforms: tuple[PlatformCount, ...]         # newest first

    def to_json(self) -> JsonObject:
        return {
            "hosts": self.total_hosts, "classes": self.classes,
            "default": self.default.name if self.default else None,
            "platforms": [{
                "name": pc.platform.name, "released": pc.platform.released.isoformat(), "hosts": pc.hosts,
                **({"held-back-by": [{"hosts": s.hosts, "examples": [*s.examples],
                                      "lacks": [{"id": u.feature, "status": u.status.value} for u in s.lacks]}
                                     for s in pc.held_back_by]} if pc.held_back_by else {}),
            } for pc in self.platforms],
        }


def fleet_platforms(fleet: Fleet) -> FleetPlatforms:
    fleet.require_hosts()
    counts = {p.name: 0 for p in fleet.platforms}
    for c in fleet.classes:
        for name in fleet.supported_platforms(c):
            counts[name] += c.hosts
    total = fleet.total_hosts
    default = choose_common(p for p in fleet.platforms if counts[p.name] == total)
    out = []
    for p in sorted(fleet.platforms, key=lambda q: (q.released, q.name), reverse=True):
        held: tuple[ClassShortfall, ...] = ()
        if default is not None and p.released > default.released and counts[p.name] < total:
            lacking = [c for c in fleet.classes if not fleet.support(c).get(p.name).supported]
            held = tuple(ClassShortfall(c.hosts, tuple(fleet.host_names([c], EXAMPLES)),
                                        fleet.support(c).get(p.name).unavailable)
                         for c in sorted(lacking, key=lambda c: (-c.hosts, c.id)))
        out.append(PlatformCount(p, counts[p.name], held))
    return FleetPlatforms(total, len(fleet.classes), default, tuple(out))


# -- fleet place / admit ---------------------------------------------------------------

@dataclass(frozen=True)
class Refused:
    """A class of hosts that cannot take the VM, with the verdict its hosts get."""

    hosts: int
    result: Result
    responsible: tuple[str, ...]


@dataclass(frozen=True)
class Placement:
    hosts: int                        # how many live hosts can take the VM
    names: tuple[str, ...]            # sorted, at most ``limit``
    refused: tuple[Refused, ...]      # the other hosts, by verdict

    def to_json(self, of: int) -> JsonObject:
        """``of``: how many live hosts were asked."""
        return {"hosts": self.hosts, "of": of, "names": [*self.names],
                "refused": [{"hosts": r.hosts, "result": r.result.value, "responsible-features": [*r.responsible]}
                            for r in self.refused]}


def _signature(m: Manifest) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """What decides a manifest's verdict on a host (the ``judge`` inputs): VMs with equal ones are one class."""
    return tuple(sorted(m.requires.items())), tuple(sorted(m.relevant))


class Placer:
    """Verdicts per (manifest class, host class), cached: the cost of placing many VMs."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._verdicts: dict[object, tuple[Verdict, ...]] = {}
        self._placements: dict[tuple[object, int | None], Placement] = {}

    def verdicts(self, m: Manifest) -> tuple[Verdict, ...]:
        key = _signature(m)
        v = self._verdicts.get(key)
        if v is None:
            v = self._verdicts[key] = tuple(check_manifest(m, c.report, self.fleet.platforms)
                                            for c in self.fleet.classes)
        return v

    def place(self, m: Manifest, limit: int | None = None) -> Placement:
        key = (_signature(m), limit)
        done = self._placements.get(key)
        if done is not None:
            return done
        verdicts = self.verdicts(m)
        ok = [c for c, v in zip(self.fleet.classes, verdicts, strict=True) if v.result.ok]
        names = tuple(self.fleet.host_names(ok, limit)) if ok and limit != 0 else ()
        by: dict[tuple[Result, tuple[str, ...]], int] = {}
        for c, v in zip(self.fleet.classes, verdicts, strict=True):
            if not v.result.ok:
                k = (v.result, v.responsible)
                by[k] = by.get(k, 0) + c.hosts
        refused = tuple(Refused(n, r, resp) for (r, resp), n in sorted(by.items(), key=lambda kv: (-kv[1], kv[0][1])))
        done = self._placements[key] = Placement(sum(c.hosts for c in ok), names, refused)
        return done


def place(fleet: Fleet, manifest: Manifest, limit: int | None = None) -> Placement:
    return Placer(fleet).place(manifest, limit)


def admit(store: Store, platforms: PlatformSet, manifest: Manifest, host: str) -> Verdict:
    """``check`` for one host of the store, on its latest report; a retired host is refused."""
    row = store.host(host)
    report = store.report(row.report_id)
    problems = [f"host {host} was retired from the fleet at {row.retired_at}"] if row.retired_at else []
    return check_manifest(manifest, report, platforms, None, problems)


# -- fleet domains ---------------------------------------------------------------

@dataclass(frozen=True)
class Domain:
    """Hosts that support exactly the same platforms: a VM moves freely inside one."""

    index: int
    platforms: frozenset[str]
    hosts: int
    classes: tuple[FleetClass, ...]
    features: frozenset[str]          # supported by every host of the domain


@dataclass(frozen=True)
class Border:
    """Two neighbouring domains: ``upper`` supports every platform ``lower`` does, and these more."""

    lower: int
    upper: int
    platforms: tuple[str, ...]        # supported in upper only
    features: tuple[str, ...]         # every upper host has them, some lower host lacks them


@dataclass(frozen=True)
class Domains:
    total_hosts: int
    domains: tuple[Domain, ...]       # largest first
    borders: tuple[Border, ...]

    def to_json(self, fleet: Fleet) -> JsonObject:
        return {
            "hosts": self.total_hosts,
            "domains": [{"index": dom.index, "name": domain_name(dom, fleet.platforms), "hosts": dom.hosts,
                         "platforms": [*sorted(dom.platforms)], "features": [*sorted(dom.features)],
                         "examples": [*fleet.host_names(dom.classes, 5)]} for dom in self.domains],
            "borders": [{"lower": b.lower, "upper": b.upper, "platforms": [*b.platforms],
                         "features": [*b.features]} for b in self.borders],
        }


def domains_of(fleet: Fleet, classes: Sequence[tuple[FleetClass, int]] | None = None) -> Domains:
    """The partition into migration domains; ``classes`` overrides (class, host count) pairs."""
    pairs = list(classes) if classes is not None else [(c, c.hosts) for c in fleet.classes]
    groups: dict[frozenset[str], list[tuple[FleetClass, int]]] = {}
    for c, n in pairs:
        if n > 0:
            groups.setdefault(fleet.supported_platforms(c), []).append((c, n))
    ordered = sorted(groups.items(), key=lambda kv: (-sum(n for _, n in kv[1]), sorted(kv[0])))
    doms = tuple(Domain(i, plats, sum(n for _, n in members), tuple(c for c, _ in members),
                        frozenset.intersection(*(c.supported for c, _ in members)))
                 for i, (plats, members) in enumerate(ordered))
    borders = []
    for a in doms:
        for b in doms:
            if a.platforms < b.platforms and not any(a.platforms < c.platforms < b.platforms for c in doms):
                borders.append(Border(a.index, b.index, tuple(sorted(b.platforms - a.platforms)),
                                      tuple(sorted(b.features - a.features))))
    return Domains(sum(d.hosts for d in doms), doms, tuple(borders))


def domain_name(d: Domain, platforms: PlatformSet) -> str:
    """A domain by the newest platform it supports (its most capable common ABI)."""
    best = choose_common(platforms.get(n) for n in d.platforms)
    return best.name if best is not None else "(no platform)"


# -- fleet merge ---------------------------------------------------------------

def fleet_merge(fleet: Fleet, name: str | None = None) -> Platform:
    """The features every live host (of the group) has, as a platform: the ``anywhere`` scope."""
    fleet.require_hosts()
    if name is not None and not PLATFORM_NAME.match(name):
        raise UsageError(f"platform name '{name}' has characters outside [a-zA-Z0-9_.-]",
                         "pick a name like 'fleet-rack12'")
    feats = common_features((c.report for c in fleet.classes), fleet.platforms)
    scope = f"label group {fleet.group}" if fleet.group else "the fleet"
    digest = hashlib.sha256("\n".join([fleet.group or "", *sorted(feats)]).encode()).hexdigest()[:8]
    return Platform(
        name=name or f"fleet-{digest}",
        description=f"features common to all {fleet.total_hosts} live hosts of {scope}",
        vendor="merge", released=datetime.date.today(), kernel="", features=feats,
        feature_sources={f: f"supported on all {fleet.total_hosts} live hosts of {scope}" for f in sorted(feats)},
        source="vmplatform fleet merge", synthetic=True, origin="vmplatform fleet merge")


# -- fleet history ---------------------------------------------------------------

@dataclass(frozen=True)
class Broken:
    vm: str
    verdict: Verdict


@dataclass(frozen=True)
class Change:
    """From one report of a host to its next one."""

    before_id: int
    after_id: int
    at: str
    kernel_before: str
    kernel_after: str
    gained: tuple[str, ...]
    lost: tuple[str, ...]
    kernel_downgrade: bool
    broken: tuple[Broken, ...]        # VMs that ran before and cannot run after

    @property
    def flagged(self) -> bool:
        return bool(self.lost)


@dataclass(frozen=True)
class History:
    host: str
    reports: int
    first_at: str
    changes: tuple[Change, ...]       # only reports that differ from the one before

    def to_json(self) -> JsonObject:
        return {"host": self.host, "reports": self.reports, "first-report-at": self.first_at, "changes": [{
            "at": c.at, "report-before": c.before_id, "report-after": c.after_id,
            "kernel-before": c.kernel_before, "kernel-after": c.kernel_after,
            "kernel-downgrade": c.kernel_downgrade, "gained": [*c.gained], "lost": [*c.lost],
            "flagged": c.flagged,
            "breaks": [{"vm": b.vm, **b.verdict.to_json()} for b in c.broken]} for c in self.changes]}


def history(store: Store, platforms: PlatformSet, host: str, manifests: Mapping[str, Manifest]) -> History:
    rows = store.history(host)
    profiles = store.profiles({r.profile_id for r in rows})
    changes = []
    for prev, cur in itertools.pairwise(rows):
        if prev.profile_id == cur.profile_id and prev.kernel_release == cur.kernel_release:
            continue
        before, after = profiles[prev.profile_id], profiles[cur.profile_id]
        lost = tuple(sorted(before.supported() - after.supported()))
        broken: list[Broken] = []
        if lost:
            rb = before.as_report(host, kernel_release=prev.kernel_release)
            ra = store.report(cur.id)
            for name, m in sorted(manifests.items()):
                if check_manifest(m, rb, platforms).result.ok:
                    v = check_manifest(m, ra, platforms)
                    if not v.result.ok:
                        broken.append(Broken(name, v))
        changes.append(Change(
            prev.id, cur.id, cur.probed_at, prev.kernel_release, cur.kernel_release,
            tuple(sorted(after.supported() - before.supported())), lost,
            kernel_version(cur.kernel_release) < kernel_version(prev.kernel_release), tuple(broken)))
    return History(host, len(rows), rows[0].probed_at, tuple(changes))


# -- fleet plan ---------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    source: str
    targets: tuple[str, ...]
    platform: Platform | None         # the latest named platform all of them support
    merged: Platform                  # everything all of them have (scope 'hosts')
    refused: tuple[tuple[str, str], ...]   # (host, why) for hosts that cannot be part of the plan

    def to_json(self, platforms: PlatformSet, machine: str | None) -> JsonObject:
        return {"source": self.source, "destinations": [*self.targets],
                "platform": self.platform.name if self.platform else None,
                "merged-features": [*sorted(self.merged.features)],
                "refused": [{"host": h, "reason": why} for h, why in self.refused],
                **(self.pins(self.platform, platforms, machine).to_json() if self.platform else {})}

    @staticmethod
    def pins(platform: Platform, platforms: PlatformSet, machine: str | None) -> PlanPins:
        """How to start the VM on ``platform``: with the front-end, with plain QEMU, with libvirt."""
        from vmplatform.model.accel import Accel
        from vmplatform.model.machines import default_machine_catalog
        from vmplatform.model.vm import VmConfig
        from vmplatform.resolution.resolve import nic, qemu_global_args, resolve

        mc = default_machine_catalog()
        default = mc.default_machine()
        m = machine or (default.name if default is not None else "pc-q35-10.0")
        res = resolve(mc, platforms, VmConfig(machine=m, devices=(nic(),), accel=Accel.KVM), platform)
        return PlanPins(res.machine.name, ("-platform", platform.name, "-machine", res.machine.name),
                        tuple(qemu_global_args(res)),
                        f"vmplatform libvirt pin --domain-xml DOMAIN.xml (after 'vmplatform analyze --scope "
                        f"platform --platform {platform.name}')")


@dataclass(frozen=True)
class PlanPins:
    """A plan's platform as the three roads take it."""

    machine: str
    front_end_args: tuple[str, ...]   # vmplatform qemu ...
    qemu_args: tuple[str, ...]        # -global pins for plain QEMU
    libvirt: str                      # the command that pins a domain

    def to_json(self) -> JsonObject:
        return {"machine": self.machine, "vmplatform-qemu-args": [*self.front_end_args],
                "qemu-args": [*self.qemu_args], "libvirt": self.libvirt}


def plan(store: Store, platforms: PlatformSet, source: str, targets: Sequence[str]) -> Plan:
    from vmplatform.resolution.baseline import common_platforms
    from vmplatform.resolution.merge import merged_platform

    names = [source, *[t for t in dict.fromkeys(targets) if t != source]]
    if len(names) < 2:
        raise UsageError("fleet plan needs at least one destination other than the source host",
                         "pass --to HOST [HOST ...]")
    refused = []
    reports = []
    for n in names:
        row = store.host(n)
        if row.retired_at:
            refused.append((n, f"retired at {row.retired_at}"))
        reports.append(store.report(row.report_id))
    supports = [evaluate(r, platforms) for r in reports]
    chosen = choose_common(common_platforms(supports))
    merged = merged_platform(reports, platforms, name=f"plan-{source}")
    return Plan(source, tuple(names[1:]), chosen, merged, tuple(refused))


# -- fleet upgrade-impact ---------------------------------------------------------------

@dataclass(frozen=True)
class LostDestinations:
    vm: str
    before: int
    after: int


@dataclass(frozen=True)
class Impact:
    group: str
    kernel: str
    basis: str                        # where the new kernel's feature statuses come from
    hosts: int                        # hosts of the group that change kernel
    before: Domains
    after: Domains
    splits: tuple[tuple[str, tuple[str, ...]], ...]     # domain before -> domains after it spreads to
    merges: tuple[tuple[str, tuple[str, ...]], ...]     # domain after <- domains before that join in it
    vms: tuple[LostDestinations, ...]

    def to_json(self, fleet: Fleet) -> JsonObject:
        return {"group": self.group, "kernel": self.kernel, "basis": self.basis, "hosts": self.hosts,
                "domains-before": [{"index": d.index, "name": domain_name(d, fleet.platforms), "hosts": d.hosts,
                                    "platforms": [*sorted(d.platforms)]} for d in self.before.domains],
                "domains-after": [{"index": d.index, "name": domain_name(d, fleet.platforms), "hosts": d.hosts,
                                   "platforms": [*sorted(d.platforms)]} for d in self.after.domains],
                "splits": [{"domain": a, "into": [*b]} for a, b in self.splits],
                "merges": [{"domain": a, "from": [*b]} for a, b in self.merges],
                "vms-losing-destinations": [{"vm": v.vm, "hosts-before": v.before, "hosts-after": v.after}
                                            for v in self.vms]}


def kernel_statuses(store: Store, platforms: PlatformSet, release: str) -> tuple[dict[str, FeatureStatus], str]:
    """The kernel features' statuses under ``release``.

    A real report of a host running that release is the best evidence; without
    one, the catalog's upstream rule: a kernel feature is there from the Linux
    release that introduced it (``linux`` in features.toml).
    """
    pid = store.kernel_profile(release)
    kernel_feats = [f for f in platforms.catalog if f.category is Category.KERNEL]
    if pid is not None:
        prof = store.profiles([pid])[pid]
        return ({f.id: prof.status(f.id) for f in kernel_feats},
                f"a stored report of a host running {release}")
    running = kernel_version(release)
    if not running:
        raise UsageError(f"'{release}' is not a kernel release", "pass a release like 6.12.48+deb13-amd64 or 6.8.0")
    out = {f.id: FeatureStatus.SUPPORTED if in_upstream(f, release_of(running), platforms.catalog)
           else FeatureStatus.UNSUPPORTED for f in kernel_feats}
    return out, f"upstream Linux {release} (no stored report of that release: the catalog's upstream rule)"


def upgrade_impact(fleet: Fleet, store: Store, group: str, release: str,
                   manifests: Mapping[str, Manifest]) -> Impact:
    """The whole fleet before and after the hosts of ``group`` boot ``release``."""
    group_counts = store.profile_counts(group)
    if not group_counts:
        raise FleetError(f"no live host in label group '{group}'", "label hosts with 'vmplatform fleet label'")
    statuses, basis = kernel_statuses(store, fleet.platforms, release)
    before_pairs = [(c, c.hosts) for c in fleet.classes]
    after_pairs: list[tuple[FleetClass, int]] = []
    moved: dict[int, FleetClass] = {}
    for c in fleet.classes:
        g = group_counts.get(c.id, 0)
        if c.hosts - g:
            after_pairs.append((c, c.hosts - g))
        if g:
            new = Profile(tuple(sorted((f, statuses.get(f, s)) for f, s in c.profile.statuses)), c.profile.accel)
            nc = FleetClass(-c.id, new, g, new.as_report(f"class-{c.id}-after", kernel_release=release))
            moved[c.id] = nc
            after_pairs.append((nc, g))
    before, after = domains_of(fleet, before_pairs), domains_of(fleet, after_pairs)

    def where(doms: Domains, cls: FleetClass) -> frozenset[str]:
        return next(d.platforms for d in doms.domains if cls in d.classes)

    flows: set[tuple[frozenset[str], frozenset[str]]] = set()
    for c in fleet.classes:
        src = where(before, c)
        if c.hosts - group_counts.get(c.id, 0):
            flows.add((src, where(after, c)))
        if c.id in moved:
            flows.add((src, where(after, moved[c.id])))

    def label(plats: frozenset[str]) -> str:
        best = choose_common(fleet.platforms.get(n) for n in plats)
        return f"{best.name if best else '(no platform)'} ({len(plats)} platforms)"

    def spread(pairs: Iterable[tuple[frozenset[str], frozenset[str]]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        out: dict[frozenset[str], set[frozenset[str]]] = {}
        for a, b in pairs:
            out.setdefault(a, set()).add(b)
        return tuple(sorted((label(a), tuple(sorted(label(b) for b in bs))) for a, bs in out.items() if len(bs) > 1))

    splits = spread(flows)
    merges = spread((b, a) for a, b in flows)
    vms = []
    for name, m in sorted(manifests.items()):
        ok_before = sum(n for c, n in before_pairs if check_manifest(m, c.report, fleet.platforms).result.ok)
        ok_after = sum(n for c, n in after_pairs if check_manifest(m, c.report, fleet.platforms).result.ok)
        if ok_after < ok_before:
            vms.append(LostDestinations(name, ok_before, ok_after))
    return Impact(group, release, basis, sum(group_counts.values()), before, after, splits, merges, tuple(vms))
