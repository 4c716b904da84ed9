"""The naive answers: every (VM, host) pair and every host judged on its own full report.

No equivalence classes, no store: the one-host functions over the report
files themselves. The fleet must give the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vmplatform.model.platforms import PlatformSet
from vmplatform.model.report import HostReport
from vmplatform.resolution.manifest import Manifest, check_manifest
from vmplatform.resolution.support import evaluate


def latest(reports: Iterable[HostReport]) -> dict[str, HostReport]:
    """Latest report per host, by probe time (ties: the later one given)."""
    out: dict[str, HostReport] = {}
    for r in reports:
        cur = out.get(r.name)
        if cur is None or r.probed_at >= cur.probed_at:
            out[r.name] = r
    return out


def place(hosts: Mapping[str, HostReport], m: Manifest, platforms: PlatformSet) -> list[str]:
    return sorted(n for n, r in hosts.items() if check_manifest(m, r, platforms).result.ok)


def platform_counts(hosts: Mapping[str, HostReport], platforms: PlatformSet) -> dict[str, int]:
    counts = {p.name: 0 for p in platforms}
    for r in hosts.values():
        for ps in evaluate(r, platforms):
            counts[ps.name] += ps.supported
    return counts


def domains(hosts: Mapping[str, HostReport], platforms: PlatformSet) -> set[frozenset[str]]:
    """The partition of host names by their exact set of supported platforms."""
    by: dict[frozenset[str], set[str]] = {}
    for n, r in hosts.items():
        key = frozenset(ps.name for ps in evaluate(r, platforms) if ps.supported)
        by.setdefault(key, set()).add(n)
    return {frozenset(v) for v in by.values()}
