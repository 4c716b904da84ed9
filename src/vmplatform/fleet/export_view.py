"""A fleet seen through its equivalence classes: what every export is computed from.

Hosts whose reports give every catalog feature the same status are judged
alike by :func:`vmplatform.support.evaluate` and by
:func:`vmplatform.verdict.judge` (both read only the statuses), so each
class is evaluated once, whatever the number of hosts in it. The exports
(node labels, Placement traits, the HTML report) work from this view; they
never re-implement "can this host run this VM".

A *migration domain* is the set of hosts that support exactly the same
platforms; a domain is one or more feature classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..baseline import Baseline, BaselineError, baseline
from ..errors import UsageError
from ..platforms import PlatformSet
from ..report import FeatureStatus, HostReport
from ..support import SupportReport, evaluate

#: (feature id, status) for every catalog feature, sorted: the class key.
StatusVector = tuple[tuple[str, FeatureStatus], ...]


@dataclass(frozen=True)
class FeatureClass:
    """Hosts with identical feature statuses, judged once through ``support`` of one member."""

    statuses: StatusVector
    hosts: tuple[str, ...]             # sorted
    support: SupportReport             # evaluated on the first host

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
    reports: Mapping[str, HostReport]           # host name -> its (latest) report
    class_index: Mapping[str, int]              # host name -> index into ``classes``

    @property
    def host_count(self) -> int:
        return len(self.reports)

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
        import dataclasses

        reps = [dataclasses.replace(c.support.host, host=dataclasses.replace(c.support.host.host, hostname=c.hosts[0]))
                for c in self.classes]
        try:
            return baseline(reps, self.platforms)
        except BaselineError:
            return None


def status_vector(report: HostReport, platforms: PlatformSet) -> StatusVector:
    return tuple((f.id, report.status(f.id)) for f in sorted(platforms.catalog, key=lambda f: f.id))


def fleet_view(hosts: Iterable[tuple[str, HostReport]], platforms: PlatformSet) -> FleetView:
    """Group ``(host name, latest report)`` pairs into feature classes.

    The name given with each report is the host's name in the inventory; it
    must be unique.
    """
    members: dict[StatusVector, list[str]] = {}
    first: dict[StatusVector, HostReport] = {}
    reports: dict[str, HostReport] = {}
    seen: dict[int, StatusVector] = {}   # a report object shared by many hosts is read once
    for name, report in hosts:
        if name in reports:
            raise UsageError(f"host {name} appears twice", "give one (the latest) report per host")
        reports[name] = report
        key = seen.get(id(report))
        if key is None:
            key = seen[id(report)] = status_vector(report, platforms)
        members.setdefault(key, []).append(name)
        first.setdefault(key, report)
    classes = [FeatureClass(key, tuple(sorted(names)), evaluate(first[key], platforms))
               for key, names in members.items()]
    classes.sort(key=lambda c: (-len(c.hosts), c.hosts[0]))
    index = {h: i for i, c in enumerate(classes) for h in c.hosts}
    return FleetView(platforms, tuple(classes), MappingProxyType(reports), MappingProxyType(index))


def host_defaults(view: FleetView) -> dict[str, str | None]:
    """Every host's own default platform (:func:`vmplatform.support.choose_default`).

    The default depends on the host's distro and running kernel as well as
    its features, so it is computed once per (class, os-release, kernel).
    """
    from ..support import choose_default

    vendors = {p.vendor for p in view.platforms}
    cache: dict[tuple[object, ...], str | None] = {}
    out: dict[str, str | None] = {}
    for name, report in view.reports.items():
        idx = view.class_index[name]
        osr = report.host.os_release
        key = (idx, osr.get("ID", ""), osr.get("ID_LIKE", ""), osr.get("VERSION_ID", ""),
               report.host.kernel_release)
        if key not in cache:
            supported = [ps.platform for ps in view.classes[idx].support if ps.supported]
            chosen = choose_default(supported, report, vendors)
            cache[key] = None if chosen is None else chosen.name
        out[name] = cache[key]
    return out
