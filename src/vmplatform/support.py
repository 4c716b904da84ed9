"""Which platforms a host supports, and which one is its default.

A host supports a platform when every feature the platform guarantees is
``supported`` in the host report. One exception: a feature that can only be
used through an *optional* prerequisite the host does not have at all (e.g.
``vhost-net-ring-reset`` on a host without /dev/vhost-net) cannot be relied
on by any VM on that host, so it does not count against the platform.

The default ("latest") platform of a host is chosen by this rule:

1. among the supported platforms, keep the *maximal* ones: those whose
   feature set is not a strict subset of another supported platform's;
2. among those, the newest ``released`` date wins;
3. a tie on the date is broken by name (lexically last).

So a host gets the most capable platform it can run, and between equally
capable ones the most recent definition (e.g. ``linux-debian-12`` rather
than the older upstream release it inherits unchanged).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .errors import VmplatformError
from .features import Catalog, Category
from .platforms import Platform, PlatformSet
from .report import FeatureStatus, HostReport


@dataclass(frozen=True)
class Unavailable:
    feature: str
    status: FeatureStatus
    reason: str


@dataclass(frozen=True)
class PlatformSupport:
    platform: Platform
    supported: bool
    unavailable: tuple[Unavailable, ...] = ()
    is_default: bool = False

    @property
    def name(self) -> str:
        return self.platform.name


@dataclass(frozen=True)
class SupportReport:
    """Every platform, newest first, judged against one host report."""

    host: HostReport
    platforms: tuple[PlatformSupport, ...]

    def __iter__(self) -> Iterator[PlatformSupport]:
        return iter(self.platforms)

    @property
    def default(self) -> Platform:
        for ps in self.platforms:
            if ps.is_default:
                return ps.platform
        raise VmplatformError(
            f"host {self.host.name} supports none of the {len(self.platforms)} known platforms",
            "check the probe output ('vmplatform probe'): every platform needs at least TAP with a vnet "
            "header; probe as root so TAP can be tested")

    @property
    def has_default(self) -> bool:
        return any(ps.is_default for ps in self.platforms)

    def get(self, name: str) -> PlatformSupport:
        for ps in self.platforms:
            if ps.name == name:
                return ps
        raise KeyError(name)


def unusable_here(feature: str, report: HostReport, catalog: Catalog) -> str | None:
    """Why ``feature`` cannot matter on this host (an optional prerequisite is absent), else None."""
    for req in catalog.get(feature).requires:
        if catalog.get(req).category is Category.OPTIONAL and report.status(req) is FeatureStatus.UNSUPPORTED:
            return f"needs {req}, which this host does not have"
    return None


def missing_features(platform: Platform, report: HostReport, catalog: Catalog) -> tuple[Unavailable, ...]:
    out = []
    for fid in sorted(platform.features):
        status = report.status(fid)
        if status is FeatureStatus.SUPPORTED or unusable_here(fid, report, catalog):
            continue
        out.append(Unavailable(fid, status, report.reason(fid)))
    return tuple(out)


def evaluate(report: HostReport, platforms: PlatformSet) -> SupportReport:
    """Judge every platform against ``report`` and mark the default."""
    judged = [(p, missing_features(p, report, platforms.catalog)) for p in platforms.ordered()]
    ok = [p for p, miss in judged if not miss]
    maximal = [p for p in ok if not any(p.features < q.features for q in ok)]
    default = max(maximal, key=lambda p: (p.released, p.name)) if maximal else None
    out = [PlatformSupport(p, not miss, miss, p is default) for p, miss in judged]
    out.reverse()  # newest first
    return SupportReport(report, tuple(out))
