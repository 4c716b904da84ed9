"""Merging host reports: the feature set every one of several hosts has.

This is the 'merge' of the dump/merge/use design from the qemu-devel thread:
the result is a synthetic platform definition (TOML, same format as shipped
platforms) that ``resolve --platform FILE`` and ``vmplatform qemu -platform
FILE`` accept, so VMs started with it can move between all those hosts.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from vmplatform.errors import HostReportError, UsageError
from vmplatform.model.features import Catalog, Category
from vmplatform.model.platforms import PLATFORM_NAME, Platform, PlatformSet
from vmplatform.model.report import HostReport, loads


def _split_concatenated(text: str, source: str) -> list[HostReport]:
    """Several JSON reports back to back (like libvirt's baseline input on stdin)."""
    decoder = json.JSONDecoder()
    out: list[HostReport] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        try:
            _, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            out.append(loads(text[i:], f"{source} (report {len(out) + 1})"))  # raises with a precise error
            break
        out.append(loads(text[i:end], f"{source} (report {len(out) + 1})"))
        i = end
    return out


def load_reports(paths: Sequence[Path]) -> list[HostReport]:
    """Reports from files, directories (every *.json) or '-' (stdin, concatenated)."""
    reports: list[HostReport] = []
    for path in paths:
        if str(path) == "-":
            reports += _split_concatenated(sys.stdin.read(), "<stdin>")
            continue
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for f in files:
            try:
                text = f.read_text(encoding="utf-8")
            except OSError as err:
                raise HostReportError(str(f), "", f"cannot read host report: {err.strerror}",
                                      hint="pass files written by 'vmplatform probe --json'") from err
            reports += _split_concatenated(text, str(f))
    if not reports:
        raise UsageError("no host reports given", "pass REPORT.json files, directories of them, or - for stdin")
    names = [r.name for r in reports]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UsageError(f"the same host appears twice: {', '.join(dup)}", "pass one report per host")
    return reports


def common_features(reports: Iterable[HostReport], platforms: PlatformSet) -> frozenset[str]:
    """Catalog features every host supports, closed under the catalog's requirements.

    A feature whose required (non-optional) feature is not common is dropped:
    a platform may never promise ``tap-uso`` without ``tap-vnet-hdr``, even if
    a report (e.g. an unprivileged probe) shows the one and not the other.
    """
    sets = [frozenset(f for f in r.supported() if f in platforms.catalog) for r in reports]
    common = frozenset.intersection(*sets) if sets else frozenset()
    return _closed(common, platforms.catalog)


def _closed(features: frozenset[str], catalog: Catalog) -> frozenset[str]:
    out = set(features)
    changed = True
    while changed:
        changed = False
        for fid in sorted(out):
            for req in catalog.get(fid).requires:
                if req not in out and catalog.get(req).category is not Category.OPTIONAL:
                    out.discard(fid)
                    changed = True
    return frozenset(out)


def merged_platform(reports: Sequence[HostReport], platforms: PlatformSet, name: str | None = None) -> Platform:
    """The synthetic platform every host of ``reports`` supports (order of reports is irrelevant).

    Its default name, ``merge-`` and a digest of host names and features, is
    the same for the same hosts and features, so two merges agree by name.
    """
    if name is not None and not PLATFORM_NAME.match(name):
        raise UsageError(f"platform name '{name}' has characters outside [a-zA-Z0-9_.-]",
                         "pick a name like 'merge-rack12' (libvirt's machine-name charset)")
    feats = common_features(reports, platforms)
    hosts = sorted(r.name for r in reports)
    digest = hashlib.sha256("\n".join(hosts + sorted(feats)).encode()).hexdigest()[:8]
    dates = [r.probed_at[:10] for r in reports if len(r.probed_at) >= 10]
    try:
        released = max(datetime.date.fromisoformat(d) for d in dates) if dates else datetime.date(1970, 1, 1)
    except ValueError:
        released = datetime.date(1970, 1, 1)
    return Platform(
        name=name or f"merge-{digest}", description=f"features common to {len(hosts)} hosts: {', '.join(hosts)}",
        vendor="merge", released=released, kernel="", features=feats,
        feature_sources={f: f"supported on all of: {', '.join(hosts)}" for f in sorted(feats)},
        source="vmplatform merge", synthetic=True, origin="vmplatform merge")


def platform_toml(p: Platform) -> str:
    """A platform as a definition file (the format of data/platforms/*.toml)."""
    def q(s: str) -> str:
        return json.dumps(s)  # a JSON string is a valid TOML basic string

    lines = ["# Generated by 'vmplatform merge'; usable with --platform FILE / -platform FILE.",
             "[[platform]]", f"name = {q(p.name)}", f"description = {q(p.description)}",
             f"vendor = {q(p.vendor)}", f"released = {p.released.isoformat()}", f"kernel = {q(p.kernel)}",
             "add = [" + ", ".join(q(f) for f in sorted(p.features)) + "]", f"source = {q(p.source)}", "",
             "[platform.feature-sources]"]
    lines += [f"{f} = {q(src)}" for f, src in sorted(p.feature_sources.items())]
    return "\n".join(lines) + "\n"
