"""A fleet seen through its equivalence classes: what every export is computed from.

Hosts whose reports give every catalog feature the same status, with the
same accelerator, are judged alike by :func:`vmplatform.resolution.support.evaluate`
and by :func:`vmplatform.resolution.verdict.judge`, so each class is evaluated once,
whatever the number of hosts in it (the store's profiles,
:mod:`vmplatform.fleet.profile`, are the same classes). The exports (node
labels, Placement traits, the HTML report) work from this view; they never
re-implement "can this host run this VM".

A *migration domain* is the set of hosts that support exactly the same
platforms; a domain is one or more feature classes.

Two ways in: :func:`fleet_view` from ``(host name, report)`` pairs (report
files, tests), :func:`fleet_view_of_store` from the fleet store's classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from vmplatform.errors import UsageError
from vmplatform.model.accel import Accel
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.records import replace
from vmplatform.resolution.baseline import Baseline, BaselineError, baseline
from vmplatform.resolution.support import SupportReport, choose_default, evaluate, host_accel

if TYPE_CHECKING:
    from vmplatform.fleet.questions import Fleet

#: (feature id, status) for every feature of a report, sorted: with the accelerator, the class key.
StatusVector = tuple[tuple[str, FeatureStatus], ...]


@dataclass(frozen=True)
class FeatureClass:
    """Hosts with identical feature statuses and accelerator, judged once through ``support``."""

    statuses: StatusVector
    accel: Accel
    hosts: tuple[str, ...]             # sorted
    support: SupportReport             # evaluated on one representative report

    @property
    def supported_platforms(self) -> frozenset[str]:
        return frozenset(ps.name for ps in self.support if ps.supported)

    @property
    def supported_features(self) -> frozenset[str]:
        return frozenset(f for f, s in self.statuses if s is FeatureStatus.SUPPORTED)


@dataclass(frozen=True)
class Domain:
    """Hosts that support exactly the same platforms (they may migrate VMs among each other)."""

    platforms: frozenset[str]
    classes: tuple[FeatureClass, ...]

    @property
    def size(self) -> int:
        return sum(len(c.hosts) for c in self.classes)

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(sorted(h for c in self.classes for h in c.hosts))


@dataclass(frozen=True)
class FleetView:
    platforms: PlatformSet
    classes: tuple[FeatureClass, ...]           # largest first
    class_index: Mapping[str, int]              # host name -> index into ``classes``
    kernels: Mapping[str, str]                  # host name -> running kernel release

    @property
    def host_count(self) -> int:
        return len(self.class_index)

    def class_of(self, host: str) -> FeatureClass:
        return self.classes[self.class_index[host]]

    def domains(self) -> tuple[Domain, ...]:
        """Migration domains, largest first (ties: the one supporting more platforms first)."""
        by_set: dict[frozenset[str], list[FeatureClass]] = {}
        for c in self.classes:
            by_set.setdefault(c.supported_platforms, []).append(c)
        doms = [Domain(k, tuple(v)) for k, v in by_set.items()]
        return tuple(sorted(doms, key=lambda d: (-d.size, -len(d.platforms), sorted(d.platforms))))

    def baseline(self) -> Baseline | None:
        """The fleet default (latest platform every host supports), judged on one host per class.

        Each representative report is named after its class's first host,
        so ``hosts`` and ``held_back_by`` name one host per class; map them
        back with :meth:`class_of`. None when no platform is common.
        """
        reps = [replace(c.support.host, host=replace(c.support.host.host, hostname=c.hosts[0]))
                for c in self.classes]
        try:
            return baseline(reps, self.platforms)
        except BaselineError:
            return None


def status_vector(report: HostReport) -> StatusVector:
    return tuple(sorted((r.feature, r.status) for r in report.results))


def _view(platforms: PlatformSet, classes: list[FeatureClass], kernels: Mapping[str, str]) -> FleetView:
    classes.sort(key=lambda c: (-len(c.hosts), c.hosts[0]))
    index = {h: i for i, c in enumerate(classes) for h in c.hosts}
    return FleetView(platforms, tuple(classes), MappingProxyType(index), MappingProxyType(dict(kernels)))


def fleet_view(hosts: Iterable[tuple[str, HostReport]], platforms: PlatformSet) -> FleetView:
    """Group ``(host name, latest report)`` pairs into feature classes.

    The name given with each report is the host's name in the inventory; it
    must be unique.
    """
    members: dict[tuple[StatusVector, Accel], list[str]] = {}
    first: dict[tuple[StatusVector, Accel], HostReport] = {}
    kernels: dict[str, str] = {}
    seen: dict[int, tuple[StatusVector, Accel]] = {}   # a report object shared by many hosts is read once
    for name, report in hosts:
        if name in kernels:
            raise UsageError(f"host {name} appears twice", "give one (the latest) report per host")
        kernels[name] = report.host.kernel_release
        key = seen.get(id(report))
        if key is None:
            key = seen[id(report)] = (status_vector(report), host_accel(report, platforms.catalog))
        members.setdefault(key, []).append(name)
        first.setdefault(key, report)
    classes = [FeatureClass(key[0], key[1], tuple(sorted(names)), evaluate(first[key], platforms, key[1]))
               for key, names in members.items()]
    return _view(platforms, classes, kernels)


def fleet_view_of_store(fleet: Fleet) -> FleetView:
    """The live hosts of the store (or of its group) as a view: one query per class for the names."""
    classes = [FeatureClass(c.profile.statuses, c.profile.accel,
                            tuple(fleet.store.hosts_with([c.id], fleet.group)), fleet.support(c))
               for c in fleet.classes]
    kernels = {row.name: row.kernel_release for row in fleet.store.hosts(group=fleet.group)}
    return _view(fleet.platforms, [c for c in classes if c.hosts], kernels)


def host_defaults(view: FleetView, reports: Mapping[str, HostReport]) -> dict[str, str | None]:
    """The own default platform (:func:`vmplatform.resolution.support.choose_default`) of each host in ``reports``.

    The default depends on the host's distro and running kernel as well as
    its features, so it needs the host's own report; it is computed once
    per (class, os-release, kernel).
    """
    vendors = {p.vendor for p in view.platforms}
    cache: dict[tuple[object, ...], str | None] = {}
    out: dict[str, str | None] = {}
    for name, report in reports.items():
        idx = view.class_index[name]
        osr = report.host.os_release
        key = (idx, osr.get("ID", ""), osr.get("ID_LIKE", ""), osr.get("VERSION_ID", ""),
               report.host.kernel_release)
        if key not in cache:
            usable = [ps.platform for ps in view.classes[idx].support if ps.supported]
            chosen = choose_default(usable, report, vendors)
            cache[key] = None if chosen is None else chosen.name
        out[name] = cache[key]
    return out
