"""The fleet as an HTML page: hosts x platforms, migration domains, the fleet default.

Rendered from Jinja2 templates (``templates/report.html.j2``, autoescaped).
It stays readable at any fleet size because its rows are migration domains
(hosts that support the same platforms), not hosts: at most ``max_rows``
of them, the rest summed in one row, and host names only as a few examples
per domain.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vmplatform.fleet.export_labels import domain_id
from vmplatform.fleet.export_view import Domain, FleetView
from vmplatform.model.platforms import Platform

TEMPLATES = Path(__file__).parent / "templates"
EXAMPLE_HOSTS = 3


@dataclass(frozen=True)
class DomainRow:
    ident: str
    size: int
    share: float                       # fraction of the fleet
    cells: tuple[bool, ...]            # per platform column: supported
    examples: tuple[str, ...]
    kernels: tuple[tuple[str, int], ...]   # most common kernel releases, with host counts
    platform_count: int
    newest: str                        # the newest platform the domain supports ("" if none)


@dataclass(frozen=True)
class Lack:
    """One feature a newer platform needs, and how many hosts lack it."""

    feature: str
    hosts: int


@dataclass(frozen=True)
class Column:
    """Consecutive platforms (oldest first) that every domain supports alike: one matrix column."""

    platforms: tuple[Platform, ...]

    @property
    def label(self) -> str:
        first, last = self.platforms[0].name, self.platforms[-1].name
        return first if len(self.platforms) == 1 else f"{first} \u2026 {last} ({len(self.platforms)})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.platforms)


@dataclass(frozen=True)
class HeldPlatform:
    """Newer platforms held back alike (same hosts, same missing features): one row, newest first."""

    platforms: tuple[Platform, ...]
    supporting: int                    # hosts that support it
    held_by: int                       # hosts that do not
    domains: int                       # migration domains those hosts are in
    lacks: tuple[Lack, ...]            # per missing feature, most hosts first
    not_in_default: tuple[str, ...]    # features of the default it does not guarantee (nobody holds it back)


@dataclass(frozen=True)
class ReportModel:
    title: str
    generated: str
    host_count: int
    class_count: int
    columns: tuple[Column, ...]        # oldest first
    column_hosts: tuple[int, ...]      # hosts supporting each column
    platform_count: int
    rows: tuple[DomainRow, ...]
    rest: DomainRow | None             # the domains beyond max_rows, summed
    domain_count: int
    default: Platform | None
    newer: tuple[HeldPlatform, ...]    # newest first
    chart: tuple[DomainRow, ...]       # the domains the chart draws (rest summed as the last bar)


def _kernels(view: FleetView, hosts: Sequence[str], top: int = 3) -> tuple[tuple[str, int], ...]:
    counts = Counter(view.kernels[h] for h in hosts if view.kernels.get(h))
    return tuple(counts.most_common(top))


def report_model(view: FleetView, title: str = "vmplatform fleet report", max_rows: int = 40,
                 now: datetime.datetime | None = None) -> ReportModel:
    total = view.host_count
    domains = view.domains()
    # Neighbouring platforms that every domain supports alike share a column: 112 platforms, a dozen columns.
    columns_l: list[list[Platform]] = []
    last_pattern: tuple[bool, ...] | None = None
    for p in view.platforms.ordered():
        pattern = tuple(p.name in d.platforms for d in domains)
        if pattern == last_pattern:
            columns_l[-1].append(p)
        else:
            columns_l.append([p])
        last_pattern = pattern
    columns = tuple(Column(tuple(c)) for c in columns_l)

    def row(d: Domain) -> DomainRow:
        hosts = d.hosts
        newest = max((view.platforms.get(p) for p in d.platforms), key=lambda p: (p.released, p.name),
                     default=None)
        return DomainRow(domain_id(d.platforms), d.size, d.size / total if total else 0.0,
                         tuple(c.platforms[0].name in d.platforms for c in columns), hosts[:EXAMPLE_HOSTS],
                         _kernels(view, hosts), len(d.platforms), newest.name if newest else "")

    rows = tuple(row(d) for d in domains[:max_rows])
    rest = None
    if len(domains) > max_rows:
        others = domains[max_rows:]
        size = sum(d.size for d in others)
        rest = DomainRow(f"{len(others)} more domains", size, size / total, tuple(
            False for _ in columns), (), (), 0, "")
    column_hosts = tuple(sum(d.size for d in domains if c.platforms[0].name in d.platforms) for c in columns)
    hosts_with = {p.name: n for c, n in zip(columns, column_hosts, strict=True) for p in c.platforms}

    base = view.baseline()
    newer: list[HeldPlatform] = []
    if base is not None:
        for n in base.newer:
            per_feature: Counter[str] = Counter()
            held, doms = 0, set()
            for hb in n.held_back_by:          # one representative per feature class
                fc = view.class_of(hb.host)
                held += len(fc.hosts)
                doms.add(fc.supported_platforms)
                for u in hb.lacks:
                    per_feature[u.feature] += len(fc.hosts)
            lacks = tuple(Lack(f, c) for f, c in sorted(per_feature.items(), key=lambda fc: (-fc[1], fc[0])))
            entry = HeldPlatform((n.platform,), hosts_with.get(n.platform.name, 0), held, len(doms), lacks,
                                 n.not_in_baseline)
            if newer and _same_hold(newer[-1], entry):
                entry = dataclasses.replace(newer[-1], platforms=newer[-1].platforms + (n.platform,))
                newer[-1] = entry
            else:
                newer.append(entry)
    chart = rows[:20] + ((DomainRow("other", sum(r.size for r in rows[20:]) + (rest.size if rest else 0), 0.0,
                                    (), (), (), 0, ""),) if len(rows) > 20 or rest else ())
    stamp = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return ReportModel(title, stamp, total, len(view.classes), columns, column_hosts, len(list(view.platforms)),
                       rows, rest,
                       len(domains), base.platform if base else None, tuple(newer), chart)


def _same_hold(a: HeldPlatform, b: HeldPlatform) -> bool:
    return (a.supporting, a.held_by, a.domains, a.lacks, a.not_in_default) == \
        (b.supporting, b.held_by, b.domains, b.lacks, b.not_in_default)


def render_html(model: ReportModel) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["percent"] = lambda x: f"{100 * x:.1f}%" if x >= 0.001 or x == 0 else "<0.1%"
    return env.get_template("report.html.j2").render(m=model)
