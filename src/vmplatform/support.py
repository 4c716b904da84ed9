"""Which platforms a host supports, and which one is its default.

A host supports a platform when every feature the platform guarantees is
``supported`` in the host report. One exception: a feature that can only be
used through an *optional* prerequisite the host does not have at all (e.g.
``vhost-net-ring-reset`` on a host without /dev/vhost-net) cannot be relied
on by any VM on that host, so it does not count against the platform.

The default ("latest") platform of a host is chosen by this rule:

1. only supported platforms are candidates, and of those only upstream ones
   and the ones of this host's own distribution (``vendor`` equals os-release
   ``ID``; ``ID_LIKE`` is used only when no platform has the ``ID``): an
   Ubuntu definition is not the default of a Debian host, nor a Debian one of
   an Ubuntu host, even when the host could run it;
2. keep the *maximal* candidates: those whose feature set is not a strict
   subset of another candidate's;
3. prefer platforms whose ``kernel`` is not newer than the running kernel
   (a 6.18 host runs ``linux-7.1`` when no catalog feature came after 6.18,
   but its own generation is ``linux-6.17``);
4. prefer the platform of this host's own distro release (os-release
   ``VERSION_ID`` in its name: ``linux-ubuntu-24.04`` on Ubuntu 24.04 rather
   than ``linux-ubuntu-22.04-hwe``, which has the same kernel);
5. then the newest ``released`` date; a tie is broken by name (lexically last).

If rule 1 leaves nothing, every supported platform is a candidate. So a host
gets the most capable platform it can run, named after its own generation.
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


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("-")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def host_vendor(report: HostReport, vendors: set[str]) -> str | None:
    """The distro vendor of this host: os-release ID, else the first ID_LIKE that has platforms."""
    osr = report.host.os_release
    for vid in [osr.get("ID", ""), *osr.get("ID_LIKE", "").split()]:
        if vid in vendors:
            return vid
    return None


def choose_default(supported: list[Platform], report: HostReport,
                   vendors: set[str] | None = None) -> Platform | None:
    """The host's default platform among ``supported`` (rule in the module docstring)."""
    vendor = host_vendor(report, vendors if vendors is not None else {p.vendor for p in supported})
    cands = [p for p in supported if p.vendor in ("upstream", vendor)] or supported
    maximal = [p for p in cands if not any(p.features < q.features for q in cands)]
    if not maximal:
        return None
    running = _version(report.host.kernel_release)
    release = report.host.os_release.get("VERSION_ID", "")

    def key(p: Platform) -> tuple[bool, bool, object, str]:
        own_generation = not running or not p.kernel or _version(p.kernel) <= running
        own_release = bool(release) and p.vendor == vendor and f"-{release}" in p.name
        return (own_generation, own_release, p.released, p.name)

    return max(maximal, key=key)


def evaluate(report: HostReport, platforms: PlatformSet) -> SupportReport:
    """Judge every platform against ``report`` and mark the default."""
    judged = [(p, missing_features(p, report, platforms.catalog)) for p in platforms.ordered()]
    default = choose_default([p for p, miss in judged if not miss], report, {p.vendor for p in platforms})
    out = [PlatformSupport(p, not miss, miss, p is default) for p, miss in judged]
    out.reverse()  # newest first
    return SupportReport(report, tuple(out))
